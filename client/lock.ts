/**
 * Sessions and the mutex, after etcd's concurrency recipe: a session is a kept-alive lease; a
 * contender puts `<name>/<lease id in hex>` under its lease (if absent) and holds the lock when its
 * key has the smallest create revision under the prefix; otherwise it waits for the deletion of the
 * key created just before its own, then checks again. The create revision of its key is the
 * **fencing revision**: it grows with every new holder, so storage that remembers the largest one it
 * has seen (or a txn compare on it) rejects a holder that lost the lock without knowing.
 */
import type { KVView } from './client';
import { AbortedError, InvalidArgumentError, LeaseLostError, LockNotHeldError } from './errors';
import { Lease } from './lease';
import { Compare, compare, op } from './txn';
import { KeyValue } from './types';
import { CallOptions } from './connection';
import { Bytes, toBuffer } from './bytes';

/**
 * Options of a session.
 * @example client.session({ ttl: 10 })
 */
export interface SessionOptions {
  /** The lease TTL in seconds (default 60): how long locks and leadership outlive a crashed holder. */
  ttl?: number;
}

/**
 * A lease kept alive for as long as the session is open: locks and leadership taken in a session are
 * released when it closes, or when its holder dies and the lease expires.
 * @example
 * const session = client.session({ ttl: 10 });
 * const mutex = client.mutex('locks/job', { session });
 * session.on('lost', () => process.exit(1));
 */
export class Session {
  /** The session's lease. */
  readonly lease: Lease;

  /** @internal made by `client.session()`. */
  constructor(view: KVView, options: SessionOptions = {}) {
    this.lease = view.lease(options.ttl ?? 60);
  }

  /**
   * The lease ID (granting it on first use).
   * @example const id = await session.leaseId();
   */
  leaseId(): Promise<bigint> {
    return this.lease.grant();
  }

  /**
   * Listens for the loss of the session's lease.
   * @example session.on('lost', (err) => console.error(err));
   */
  on(event: 'lost', listener: (err: LeaseLostError) => void): this {
    this.lease.on(event, listener);
    return this;
  }

  /**
   * Ends the session: revokes the lease, which deletes every lock and leadership key it held.
   * @example await session.close();
   */
  close(): Promise<void> {
    return this.lease.revoke();
  }
}

/** Waits until every key under `prefix` created before `beforeRevision` is deleted. */
export async function waitForDeletes(view: KVView, prefix: Buffer, beforeRevision: bigint, signal?: AbortSignal): Promise<void> {
  for (;;) {
    if (signal?.aborted) throw new AbortedError(signal.reason);
    const r = await view
      .getAll()
      .prefix(prefix)
      .options({ maxCreateRevision: beforeRevision - 1n, sort: { target: 'createRevision', order: 'descend' }, limit: 1, keysOnly: true, ...(signal ? { signal } : {}) })
      .exec();
    const last = r.kvs[0];
    if (last === undefined) return;
    await waitForDelete(view, last.key, r.header.revision + 1n, signal);
  }
}

/** Waits for the deletion of `key` at or after `fromRevision`. */
async function waitForDelete(view: KVView, key: Buffer, fromRevision: bigint, signal?: AbortSignal): Promise<void> {
  const watcher = view.watch(key, { startRevision: fromRevision, filters: { noPut: true } });
  const onAbort = (): void => void watcher.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const ev of watcher) if (ev.type === 'delete') return;
    if (signal?.aborted) throw new AbortedError(signal.reason);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await watcher.cancel();
  }
}

/**
 * Options of a mutex.
 * @example client.mutex('locks/a', { session })
 */
export interface MutexOptions {
  /** The session to hold the lock in; default: a session of its own (60 s TTL), closed by `unlock()`. */
  session?: Session;
}

/**
 * A distributed mutex. Hold it between `lock()` and `unlock()`; guard writes with
 * {@link Mutex.isOwner} (or pass {@link Mutex.revision} to the storage you protect) so that a holder
 * whose session expired cannot write.
 * @example
 * const mutex = client.mutex('locks/report');
 * const { revision } = await mutex.lock();
 * try {
 *   await client.if(...mutex.ownerCompare()).then(op.put('report', data)).commit();
 * } finally {
 *   await mutex.unlock();
 * }
 */
export class Mutex {
  private readonly prefix: Buffer;
  private readonly session: Session;
  private readonly ownSession: boolean;
  private heldKey: Buffer | undefined;
  private heldRevision: bigint | undefined;

  /** @internal made by `client.mutex()`. */
  constructor(
    private readonly view: KVView,
    name: Bytes,
    options: MutexOptions = {},
  ) {
    const n = toBuffer(name);
    if (n.length === 0) throw new InvalidArgumentError('mutex name must not be empty');
    this.prefix = Buffer.concat([n, Buffer.from('/')]);
    this.ownSession = options.session === undefined;
    this.session = options.session ?? new Session(view);
  }

  /** The key that holds the lock while held (relative to the view). @example mutex.key?.toString() */
  get key(): Buffer | undefined {
    return this.heldKey;
  }

  /** The fencing revision: the create revision of the holder's key, while held. @example await storage.write(data, mutex.revision) */
  get revision(): bigint | undefined {
    return this.heldRevision;
  }

  /**
   * A compare that holds only while this mutex is held (its key still has the fencing revision).
   * @throws LockNotHeldError when not held.
   * @example await client.txn().where(mutex.isOwner()).then(op.put('k', 'v')).commit();
   */
  isOwner(): Compare {
    if (this.heldKey === undefined || this.heldRevision === undefined) throw new LockNotHeldError('mutex is not held');
    return compare(this.heldKey, 'createRevision', '==', this.heldRevision);
  }

  /**
   * The same as {@link isOwner}, as arguments for `client.if(...)`.
   * @example await client.if(...mutex.ownerCompare()).then(op.put('k', 'v')).commit();
   */
  ownerCompare(): [Buffer, 'createRevision', '==', bigint] {
    if (this.heldKey === undefined || this.heldRevision === undefined) throw new LockNotHeldError('mutex is not held');
    return [this.heldKey, 'createRevision', '==', this.heldRevision];
  }

  /**
   * Acquires the lock, waiting for the holders before this one (in create-revision order).
   * @returns the holder's key and the fencing revision.
   * @throws AbortedError when `signal` fires first (the contender's key is removed).
   * @example const { revision } = await mutex.lock({ signal: AbortSignal.timeout(5000) });
   */
  async lock(options: CallOptions = {}): Promise<{ key: Buffer; revision: bigint }> {
    const { key, revision, ownerRevision } = await this.enqueue(options);
    if (ownerRevision !== revision) {
      try {
        await waitForDeletes(this.view, this.prefix, revision, options.signal);
      } catch (e) {
        await this.view.delete(key).catch(() => undefined);
        throw e;
      }
      if (this.session.lease.lost) throw new LockNotHeldError('mutex: the session was lost while waiting');
    }
    this.heldKey = key;
    this.heldRevision = revision;
    return { key, revision };
  }

  /**
   * Acquires the lock only if nobody holds it.
   * @returns true when acquired.
   * @example if (await mutex.tryLock()) { try { work(); } finally { await mutex.unlock(); } }
   */
  async tryLock(options: CallOptions = {}): Promise<boolean> {
    const { key, revision, ownerRevision } = await this.enqueue(options);
    if (ownerRevision !== revision) {
      await this.view.delete(key, options);
      return false;
    }
    this.heldKey = key;
    this.heldRevision = revision;
    return true;
  }

  /**
   * Releases the lock (deletes the holder's key; closes the session if the mutex made it).
   * @throws LockNotHeldError when not held.
   * @example await mutex.unlock();
   */
  async unlock(options: CallOptions = {}): Promise<void> {
    if (this.heldKey === undefined) throw new LockNotHeldError('mutex is not held');
    const key = this.heldKey;
    this.heldKey = undefined;
    this.heldRevision = undefined;
    await this.view.delete(key, options);
    if (this.ownSession) await this.session.close();
  }

  /** Puts this contender's key (if absent) and reads its create revision and the first holder's. */
  private async enqueue(options: CallOptions): Promise<{ key: Buffer; revision: bigint; ownerRevision: bigint | undefined }> {
    const leaseId = await this.session.leaseId();
    const key = Buffer.concat([this.prefix, Buffer.from(leaseId.toString(16))]);
    const owner = op.range({ prefix: this.prefix }, { sort: { target: 'createRevision', order: 'ascend' }, limit: 1 });
    const t = await this.view
      .if(key, 'createRevision', '==', 0)
      .then(op.put(key, '', { lease: leaseId }), owner)
      .else(op.get(key), owner)
      .options(options)
      .commit();
    let revision = t.revision;
    if (!t.succeeded) {
      const mine = t.responses[0]!;
      revision = (mine.type === 'range' && (mine.kvs[0] as KeyValue | undefined)?.createRevision) || t.revision;
    }
    const first = t.responses[1]!;
    const ownerRevision = first.type === 'range' ? first.kvs[0]?.createRevision : undefined;
    return { key, revision, ownerRevision };
  }
}
