/**
 * Leader election after etcd's concurrency recipe: each candidate puts `<name>/<lease id in hex>`
 * with its value under its session's lease; the leader is the key with the smallest create
 * revision; a candidate waits for the deletion of the keys created before its own. The leader's
 * create revision is its fencing revision (term).
 */
import type { KVView } from './client';
import { Bytes, toBuffer } from './bytes';
import { CallOptions } from './connection';
import { InvalidArgumentError, LockNotHeldError } from './errors';
import { Session, waitForDeletes } from './lock';
import { Compare, compare, op } from './txn';
import { KeyValue } from './types';

/**
 * Options of an election.
 * @example client.election('service/leader', { session })
 */
export interface ElectionOptions {
  /** The session campaigns run in; default: a session of its own (60 s TTL), closed by `resign()`. */
  session?: Session;
}

/**
 * One candidate's handle on an election.
 * @example
 * const election = client.election('scheduler');
 * await election.campaign('node-a');           // resolves once leader
 * console.log('leader since revision', election.revision);
 * await election.proclaim('node-a v2');        // update the leader's value
 * await election.resign();
 */
export class Election {
  private readonly prefix: Buffer;
  private readonly session: Session;
  private readonly ownSession: boolean;
  private leaderKey: Buffer | undefined;
  private leaderRevision: bigint | undefined;

  /** @internal made by `client.election()`. */
  constructor(
    private readonly view: KVView,
    name: Bytes,
    options: ElectionOptions = {},
  ) {
    const n = toBuffer(name);
    if (n.length === 0) throw new InvalidArgumentError('election name must not be empty');
    this.prefix = Buffer.concat([n, Buffer.from('/')]);
    this.ownSession = options.session === undefined;
    this.session = options.session ?? new Session(view);
  }

  /** This candidate's key while leader. @example election.key?.toString() */
  get key(): Buffer | undefined {
    return this.leaderKey;
  }

  /** The fencing revision (create revision of the leader key) while leader. @example election.revision */
  get revision(): bigint | undefined {
    return this.leaderRevision;
  }

  /**
   * A compare that holds only while this candidate is the leader.
   * @example await client.txn().where(election.isLeader()).then(op.put('k', 'v')).commit();
   */
  isLeader(): Compare {
    if (this.leaderKey === undefined || this.leaderRevision === undefined) throw new LockNotHeldError('not the leader');
    return compare(this.leaderKey, 'createRevision', '==', this.leaderRevision);
  }

  /**
   * Campaigns with `value` and resolves once this candidate is the leader.
   * @throws AbortedError when `signal` fires first (the candidacy is withdrawn).
   * @example await election.campaign('node-a', { signal: AbortSignal.timeout(10_000) });
   */
  async campaign(value: Bytes, options: CallOptions = {}): Promise<void> {
    const leaseId = await this.session.leaseId();
    const key = Buffer.concat([this.prefix, Buffer.from(leaseId.toString(16))]);
    const t = await this.view
      .if(key, 'createRevision', '==', 0)
      .then(op.put(key, value, { lease: leaseId }))
      .else(op.get(key))
      .options(options)
      .commit();
    let revision = t.revision;
    if (!t.succeeded) {
      const mine = t.responses[0]!;
      const kv = mine.type === 'range' ? mine.kvs[0] : undefined;
      if (kv !== undefined) {
        revision = kv.createRevision;
        if (!kv.value.equals(toBuffer(value))) await this.view.put(key, value, { lease: leaseId });
      }
    }
    try {
      await waitForDeletes(this.view, this.prefix, revision, options.signal);
    } catch (e) {
      await this.view.delete(key).catch(() => undefined);
      throw e;
    }
    this.leaderKey = key;
    this.leaderRevision = revision;
  }

  /**
   * Changes the leader's value, only while still the leader.
   * @throws LockNotHeldError when this candidate is not (or no longer) the leader.
   * @example await election.proclaim('node-a, now serving on :8081');
   */
  async proclaim(value: Bytes, options: CallOptions = {}): Promise<void> {
    const leaseId = await this.session.leaseId();
    const t = await this.view.txn().where(this.isLeader()).then(op.put(this.leaderKey!, value, { lease: leaseId })).options(options).commit();
    if (!t.succeeded) {
      this.leaderKey = undefined;
      this.leaderRevision = undefined;
      throw new LockNotHeldError('no longer the leader');
    }
  }

  /**
   * Gives up leadership (deletes the leader key; closes the session if the election made it).
   * @example await election.resign();
   */
  async resign(options: CallOptions = {}): Promise<void> {
    if (this.leaderKey !== undefined) {
      await this.view.txn().where(this.isLeader()).then(op.delete(this.leaderKey)).options(options).commit();
      this.leaderKey = undefined;
      this.leaderRevision = undefined;
    }
    if (this.ownSession) await this.session.close();
  }

  /**
   * The current leader's key-value, or null when there is none.
   * @example const leader = await election.leader(); console.log(leader?.value.toString());
   */
  async leader(options: CallOptions = {}): Promise<KeyValue | null> {
    const kvs = await this.view
      .getAll()
      .prefix(this.prefix)
      .options({ sort: { target: 'createRevision', order: 'ascend' }, limit: 1, ...options })
      .kvs();
    return kvs[0] ?? null;
  }

  /**
   * Yields the leader's key-value each time it changes (and the current one first, if any).
   * @example for await (const leader of election.observe()) console.log('leader is', leader.value.toString());
   */
  async *observe(options: { signal?: AbortSignal } = {}): AsyncGenerator<KeyValue> {
    // The leader is the candidate with the lowest create revision. Like etcd's observe, this follows
    // the leader key's own events (every proclaimed value is seen), and when that key goes, reads
    // the next leader as of that very revision, so nothing between the two is skipped.
    const leaderAt = async (revision: bigint | undefined): Promise<KeyValue | undefined> => {
      const q = this.view.getAll().prefix(this.prefix).options({ sort: { target: 'createRevision', order: 'ascend' }, limit: 1 });
      if (revision !== undefined) q.revision(revision);
      return (await q.exec()).kvs[0];
    };
    const first = await this.view
      .getAll()
      .prefix(this.prefix)
      .options({ sort: { target: 'createRevision', order: 'ascend' }, limit: 1 })
      .exec();
    let current: KeyValue | undefined = first.kvs[0];
    if (current !== undefined) yield current;
    const watcher = this.view.watch({ prefix: this.prefix }, { startRevision: first.header.revision + 1n });
    const onAbort = (): void => void watcher.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const ev of watcher) {
        if (current !== undefined && ev.kv.key.equals(current.key)) {
          if (ev.type === 'put') {
            current = ev.kv;
            yield ev.kv;
            continue;
          }
          current = undefined; // the leader resigned or its lease expired
        }
        if (current === undefined) {
          const leader = await leaderAt(ev.revision);
          if (leader !== undefined) {
            current = leader;
            yield leader;
          }
        }
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      await watcher.cancel();
    }
  }

}
