/**
 * The v3lockpb.Lock (Lock, Unlock) and v3electionpb.Election (Campaign, Proclaim, Leader, Observe,
 * Resign) services as etcd 3.4's v3lock and v3election servers have them, over the recipe in
 * recipe.ts.
 *
 * Lock and Campaign can wait for as long as another holder keeps its key. The bridge's unary calls
 * carry no cancellation, so the member serves these two as server-stream calls (one request, one
 * answer, on the wire the same as a unary call): a client that cancels, passes its deadline or goes
 * away cancels the wait, and its waiter key is deleted, as etcd deletes it when the call's context
 * ends. Waiting also ends when the waiter key itself is deleted (its lease expired or was revoked):
 * the call fails with "session expired", as clientv3's Mutex does.
 */
import { etcdserverpb as pb, mvccpb, toBigInt, toNumber, v3electionpb, v3lockpb, fromBigInt } from '../../proto';
import type { CallHandler, MemberStream, Reply, StreamHandler } from '../api/bridge';
import type { MvccEvent } from '../mvcc/types';
import { checkDeleteRangeRequest } from '../apply/validate';
import {
  asBuffer,
  ERR_ELECTION_NO_LEADER,
  ERR_ELECTION_NOT_LEADER,
  ERR_MISSING_LEADER_KEY,
  Recipe,
  RecipeError,
  waiterPrefix,
  type RecipeOptions,
  type WaiterKey,
} from './recipe';
import { decodeRequest } from '../api/request';

const STATUS_OK = 0;

/** A streaming method for buildServices' second argument. */
export interface ConcurrencyStreamingMethod {
  readonly path: string;
  readonly kind: 'server-stream';
  readonly handler: StreamHandler;
}

export class ConcurrencyService {
  private readonly recipe: Recipe;
  /** Unlock, Proclaim, Leader, Resign: for buildServices' table. */
  readonly unaryMethods: readonly (readonly [string, CallHandler])[];
  /** Lock, Campaign (see the file comment) and Observe. */
  readonly streamingMethods: readonly ConcurrencyStreamingMethod[];

  constructor(opts: RecipeOptions) {
    this.recipe = new Recipe(opts);
    this.unaryMethods = [
      ['/v3lockpb.Lock/Unlock', this.unlock],
      ['/v3electionpb.Election/Proclaim', this.proclaim],
      ['/v3electionpb.Election/Leader', this.leader],
      ['/v3electionpb.Election/Resign', this.resign],
    ];
    this.streamingMethods = [
      { path: '/v3lockpb.Lock/Lock', kind: 'server-stream', handler: this.lock },
      { path: '/v3electionpb.Election/Campaign', kind: 'server-stream', handler: this.campaign },
      { path: '/v3electionpb.Election/Observe', kind: 'server-stream', handler: this.observe },
    ];
  }

  /** Waiters registered now (lock, campaign and observe calls waiting for a change). */
  get waiting(): number {
    return this.recipe.hub.size;
  }

  private fail(reply: Reply, err: unknown): void {
    const e = this.recipe.status(err);
    reply(e.status, undefined, e.message);
  }

  /** Runs `body`; a throw or a rejection becomes the call's status. */
  private unary(reply: Reply, body: () => Promise<Uint8Array>): void {
    let promise: Promise<Uint8Array>;
    try {
      promise = body();
    } catch (err) {
      this.fail(reply, err);
      return;
    }
    promise.then(
      (bytes) => reply(STATUS_OK, bytes),
      (err) => this.fail(reply, err),
    );
  }

  private endWith(stream: MemberStream, err: unknown): void {
    const e = this.recipe.status(err);
    stream.end(e.status, e.message);
  }

  /** The lease a request names, or a new one with the session TTL when it names none. */
  private async leaseFor(requested: bigint): Promise<bigint> {
    return requested === 0n ? this.recipe.grantLease() : requested;
  }

  /** Deletes an abandoned waiter key (the call was cancelled or failed); errors are only logged. */
  private abandon(w: WaiterKey): void {
    this.recipe.deleteIfCreatedAt(w.key, w.rev).catch(() => undefined);
  }

  /**
   * Shared by Lock and Campaign: one request, then create the waiter key, wait for its turn, answer
   * once. `prepare` runs after the key exists (Campaign proclaims there).
   */
  private queue(
    stream: MemberStream,
    parse: (bytes: Uint8Array) => { name: Buffer; lease: bigint; value: Buffer },
    prepare: (w: WaiterKey) => Promise<void>,
    answer: (w: WaiterKey, name: Buffer, waited: boolean) => Uint8Array,
  ): void {
    let started = false;
    let stopWait: (() => void) | undefined;
    let pending: WaiterKey | undefined;
    stream.onCancel(() => {
      stopWait?.();
      if (pending !== undefined) this.abandon(pending);
      pending = undefined;
    });
    stream.onHalfClose(() => undefined);
    stream.onMessage((bytes) => {
      if (started) return;
      started = true;
      let req: { name: Buffer; lease: bigint; value: Buffer };
      try {
        req = parse(bytes);
      } catch (err) {
        this.endWith(stream, err);
        return;
      }
      const run = async (): Promise<void> => {
        const lease = await this.leaseFor(req.lease);
        if (stream.ended) return;
        const w = await this.recipe.createWaiterKey(req.name, lease, req.value);
        if (stream.ended) {
          this.abandon(w);
          return;
        }
        pending = w;
        await prepare(w);
        if (stream.ended) return;
        stopWait = this.recipe.waitTurn(req.name, w.key, w.rev, (err, waited) => {
          stopWait = undefined;
          if (stream.ended) return;
          pending = undefined;
          if (err !== undefined) {
            if (!(err instanceof RecipeError)) this.abandon(w);
            this.endWith(stream, err);
            return;
          }
          try {
            stream.send(answer(w, req.name, waited));
            stream.end();
          } catch (e) {
            this.abandon(w);
            this.endWith(stream, e);
          }
        });
      };
      run().catch((err) => {
        if (!stream.ended) this.endWith(stream, err);
      });
    });
  }

  readonly lock: StreamHandler = (stream) =>
    this.queue(
      stream,
      (bytes) => {
        const req = decodeRequest(v3lockpb.LockRequest, bytes);
        return { name: asBuffer(req.name), lease: toBigInt(req.lease ?? 0), value: Buffer.alloc(0) };
      },
      async () => undefined,
      // Held at once: the txn's header; after waiting: the header of the read that saw the turn come.
      (w, _name, waited) => v3lockpb.LockResponse.encode({ header: this.recipe.header(waited ? undefined : w.revision), key: w.key }).finish(),
    );

  readonly unlock: CallHandler = (bytes, reply) =>
    this.unary(reply, async () => {
      const req = decodeRequest(v3lockpb.UnlockRequest, bytes);
      const key = asBuffer(req.key);
      checkDeleteRangeRequest({ key });
      const resp = await this.recipe.deleteKey(key);
      return v3lockpb.UnlockResponse.encode({ header: this.recipe.header(toNumber(resp.header?.revision ?? this.recipe.store.currentRevision)) }).finish();
    });

  readonly campaign: StreamHandler = (stream) => {
    let value: Buffer = Buffer.alloc(0);
    this.queue(
      stream,
      (bytes) => {
        const req = decodeRequest(v3electionpb.CampaignRequest, bytes);
        value = asBuffer(req.value);
        return { name: asBuffer(req.name), lease: toBigInt(req.lease ?? 0), value };
      },
      async (w) => {
        // A session campaigning again with another value proclaims it (clientv3's Campaign).
        if (w.created || w.existingValue.equals(value)) return;
        const proclaimed = await this.recipe.txn(proclaimTxn(w.key, w.rev, value, w.lease));
        if (proclaimed.succeeded !== true) {
          this.abandon(w);
          throw new RecipeError(ERR_ELECTION_NOT_LEADER);
        }
      },
      (w, name) =>
        v3electionpb.CampaignResponse.encode({
          header: this.recipe.header(w.revision),
          leader: { name, key: w.key, rev: w.rev, lease: fromBigInt(w.lease, false) },
        }).finish(),
    );
  };

  readonly proclaim: CallHandler = (bytes, reply) =>
    this.unary(reply, async () => {
      const req = decodeRequest(v3electionpb.ProclaimRequest, bytes);
      const leader = req.leader;
      if (leader == null) throw new RecipeError(ERR_MISSING_LEADER_KEY);
      const resp = await this.recipe.txn(proclaimTxn(asBuffer(leader.key), toNumber(leader.rev ?? 0), asBuffer(req.value), toBigInt(leader.lease ?? 0)));
      if (resp.succeeded !== true) throw new RecipeError(ERR_ELECTION_NOT_LEADER);
      return v3electionpb.ProclaimResponse.encode({ header: this.recipe.header(toNumber(resp.header?.revision ?? 0)) }).finish();
    });

  readonly leader: CallHandler = (bytes, reply) =>
    this.unary(reply, async () => {
      const req = decodeRequest(v3electionpb.LeaderRequest, bytes);
      await this.recipe.member.linearizableRead();
      const kv = this.recipe.first(asBuffer(req.name));
      if (kv === undefined) throw new RecipeError(ERR_ELECTION_NO_LEADER);
      return v3electionpb.LeaderResponse.encode({ header: this.recipe.header(), kv: mvccpb.KeyValue.decode(kv.encoded) }).finish();
    });

  readonly resign: CallHandler = (bytes, reply) =>
    this.unary(reply, async () => {
      const req = decodeRequest(v3electionpb.ResignRequest, bytes);
      const leader = req.leader;
      if (leader == null) throw new RecipeError(ERR_MISSING_LEADER_KEY);
      // As clientv3's Resign: a key that is no longer the one named is left alone, without error.
      const resp = await this.recipe.deleteIfCreatedAt(asBuffer(leader.key), toNumber(leader.rev ?? 0));
      return v3electionpb.ResignResponse.encode({ header: this.recipe.header(toNumber(resp.header?.revision ?? 0)) }).finish();
    });

  /**
   * Observe, as clientv3's Election.observe: the current leader (or, with none, the first key put
   * under the prefix), then every put of the leader key; when it is deleted, the leader at that
   * revision, and so on. Reads happen inside the commit hook, at the revision of the change, so
   * nothing between two leaders is missed. While the client is not reading, only the newest answer
   * is kept and sent when it reads again.
   */
  readonly observe: StreamHandler = (stream) => {
    let started = false;
    let stop: (() => void) | undefined;
    let held: Uint8Array | undefined;
    const recipe = this.recipe;
    const close = (): void => {
      stop?.();
      stop = undefined;
    };
    stream.onCancel(close);
    stream.onHalfClose(() => undefined);
    stream.onWritableChange((writable) => {
      if (writable && held !== undefined) {
        const bytes = held;
        held = undefined;
        stream.send(bytes);
      }
    });
    const send = (revision: number, kv: mvccpb.IKeyValue): void => {
      const bytes = v3electionpb.LeaderResponse.encode({ header: recipe.header(revision), kv }).finish();
      if (stream.writable) stream.send(bytes);
      else held = bytes;
    };
    const fail = (err: unknown): void => {
      close();
      if (!stream.ended) this.endWith(stream, err);
    };
    const follow = (key: string, revision: number, kv: mvccpb.IKeyValue, name: Buffer): void => {
      send(revision, kv);
      stop = recipe.hub.onKey(key, (ev: MvccEvent) => {
        if (stream.ended) return close();
        if (ev.type === 'put') {
          send(ev.modRevision, mvccpb.KeyValue.decode(ev.kv));
          return;
        }
        close();
        find(name);
      });
    };
    const find = (name: Buffer): void => {
      try {
        const first = recipe.first(name);
        if (first !== undefined) {
          follow(first.key.toString('latin1'), recipe.store.currentRevision, mvccpb.KeyValue.decode(first.encoded), name);
          return;
        }
        // No leader: wait for the first put under the prefix (a delete there changes nothing).
        stop = recipe.hub.onPrefix(waiterPrefix(name).start.toString('latin1'), (ev: MvccEvent) => {
          if (stream.ended) return close();
          if (ev.type !== 'put') return;
          close();
          try {
            follow(ev.key, ev.modRevision, mvccpb.KeyValue.decode(ev.kv), name);
          } catch (err) {
            fail(err);
          }
        });
      } catch (err) {
        fail(err);
      }
    };
    stream.onMessage((bytes) => {
      if (started) return;
      started = true;
      let name: Buffer;
      try {
        name = asBuffer(decodeRequest(v3electionpb.LeaderRequest, bytes).name);
      } catch (err) {
        fail(err);
        return;
      }
      recipe.member.linearizableRead().then(
        () => {
          if (!stream.ended) find(name);
        },
        (err) => fail(err),
      );
    });
  };
}

/** Election.Proclaim's txn: put the value if the leader key still has create revision `rev`. */
function proclaimTxn(key: Buffer, rev: number, value: Buffer, lease: bigint): pb.ITxnRequest {
  return {
    compare: [{ target: pb.Compare.CompareTarget.CREATE, result: pb.Compare.CompareResult.EQUAL, key, createRevision: rev }],
    success: [{ requestPut: { key, value, lease: fromBigInt(lease, false) } }],
  };
}
