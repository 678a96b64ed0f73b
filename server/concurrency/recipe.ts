/**
 * The clientv3 concurrency recipe that etcd's v3lock and v3election servers run, done inside the
 * member thread: writes are internal requests proposed through Raft (a TxnRequest, a DeleteRange,
 * a LeaseGrant), reads come from the store, and waiting for a deletion is a listener on the store's
 * commit hook (key-events.ts).
 *
 * A waiter's key is `<name>/<lease-id-hex>`, created with the caller's lease in a txn (create
 * revision 0 → put, else get, so that a session that already waits keeps its place). It holds the
 * lock (or leads the election) once every key under `<name>/` with a lower create revision is gone.
 *
 * Errors: etcd's servers call the KV service through an embedded client, which turns every status
 * into a plain error value; grpc-go then answers it as UNKNOWN with the original text. RecipeError
 * carries the recipe's own texts ("election: not leader", ...).
 */
import * as protobuf from 'protobufjs/minimal';
import { cairnpb, etcdserverpb as pb, fromBigInt, toBigInt, toNumber } from '../../proto';
import type { MvccStore, StoredKeyValue } from '../mvcc/types';
import { EtcdError, toGrpcStatus } from '../errors';
import type { Logger } from '../log';
import { LeaseExistsError } from '../lease/errors';
import { KeyEventHub } from './key-events';
import { MalformedRequestError } from '../api/request';
import { ResponseHeaders } from '../api/headers';

const GRPC_UNKNOWN = 2;
/** InternalRequest field numbers (proto/cairn.proto). */
const FIELD = { deleteRange: 5, txn: 6 } as const;
/** clientv3's concurrency.NewSession default TTL, used when a request names no lease. */
export const DEFAULT_SESSION_TTL_SEC = 60;
/** At most this many waiters (lock, campaign, observe) are registered at once. */
const MAX_WAITERS = 100_000;

const CompareTarget = pb.Compare.CompareTarget;
const CompareResult = pb.Compare.CompareResult;

/** What the recipe needs of the Raft member. */
export interface RecipeMember {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly term: number;
  newRequestId(): number;
  propose(requestId: number, data: Uint8Array): Promise<unknown>;
  linearizableRead(): Promise<void>;
}

export interface RecipeOptions {
  readonly member: RecipeMember;
  readonly store: MvccStore;
  readonly maxRequestBytes: number;
  readonly log: Logger;
  /** Uniform in [0, 1): the random part of lease IDs granted for requests without a lease. */
  readonly random?: () => number;
}

/** An error of the recipe itself, answered as etcd answers it: UNKNOWN with this text. */
export class RecipeError extends Error {}


export const ERR_SESSION_EXPIRED = 'session expired';
export const ERR_ELECTION_NOT_LEADER = 'election: not leader';
export const ERR_ELECTION_NO_LEADER = 'election: no leader';
export const ERR_MISSING_LEADER_KEY = '"leader" field must be provided';


/** A copy of a bytes field (request bytes are views into the bridge's batch: copy to keep). */
export function asBuffer(bytes: Uint8Array | null | undefined): Buffer {
  if (bytes === null || bytes === undefined) return Buffer.alloc(0);
  return Buffer.from(bytes);
}

/** Go's `%x` of an int64 lease ID. */
export function leaseHex(lease: bigint): string {
  return lease < 0n ? '-' + (-lease).toString(16) : lease.toString(16);
}

/** `<name>/`, the prefix every waiter key of `name` starts with, and the end of its range. */
export function waiterPrefix(name: Buffer): { start: Buffer; end: Buffer } {
  // '/' + 1 is '0': [name/, name0) is exactly the keys starting with name/.
  return { start: Buffer.concat([name, Buffer.from('/')]), end: Buffer.concat([name, Buffer.from('0')]) };
}

/** The outcome of creating (or finding) a waiter key. */
export interface WaiterKey {
  readonly key: Buffer;
  readonly lease: bigint;
  /** The key's create revision: its place in the queue. */
  readonly rev: number;
  /** Whether the txn created the key (false: it existed). */
  readonly created: boolean;
  /** The key's value when it existed. */
  readonly existingValue: Buffer;
  /** The txn's header revision. */
  readonly revision: number;
}

export class Recipe {
  readonly member: RecipeMember;
  readonly store: MvccStore;
  readonly hub: KeyEventHub;
  private readonly headers: ResponseHeaders;
  private readonly log: Logger;
  private readonly random: () => number;

  constructor(private readonly opts: RecipeOptions) {
    this.member = opts.member;
    this.store = opts.store;
    this.log = opts.log;
    this.random = opts.random ?? Math.random;
    this.hub = new KeyEventHub(opts.store, MAX_WAITERS);
    this.headers = new ResponseHeaders(opts.member);
  }

  header(revision: number = this.store.currentRevision): pb.IResponseHeader {
    return this.headers.header(revision);
  }

  /** The status a failed call answers with (see the file comment). */
  status(err: unknown): { status: number; message: string } {
    if (err instanceof MalformedRequestError) return { status: err.grpcStatus, message: err.message };
    if (err instanceof RecipeError) return { status: GRPC_UNKNOWN, message: err.message };
    const mapped = toGrpcStatus(err);
    if (mapped.kind === undefined) this.log.error({ err }, 'lock/election request failed with an unexpected error');
    return { status: GRPC_UNKNOWN, message: mapped.message };
  }

  private propose(field: number, request: Uint8Array): Promise<unknown> {
    const id = this.member.newRequestId();
    const data = protobuf.Writer.create().uint32(8).uint64(id).uint32((field << 3) | 2).bytes(request).finish();
    if (data.length > this.opts.maxRequestBytes) return Promise.reject(new EtcdError('RequestTooLarge'));
    return this.member.propose(id, data);
  }

  /** Proposes a txn and resolves with its response (header revision filled by the applier). */
  async txn(req: pb.ITxnRequest): Promise<pb.ITxnResponse> {
    return (await this.propose(FIELD.txn, pb.TxnRequest.encode(req).finish())) as pb.ITxnResponse;
  }

  async deleteKey(key: Buffer): Promise<pb.IDeleteRangeResponse> {
    return (await this.propose(FIELD.deleteRange, pb.DeleteRangeRequest.encode({ key }).finish())) as pb.IDeleteRangeResponse;
  }

  /**
   * A new lease for a request that names none (etcd's servers open a session, which grants one
   * with the default TTL). IDs: this member's low 16 bits, then 47 random bits; retried on a clash.
   */
  async grantLease(): Promise<bigint> {
    for (let attempt = 0; ; attempt++) {
      const suffix = (BigInt(Math.floor(this.random() * 2 ** 24)) << 23n) | BigInt(Math.floor(this.random() * 2 ** 23));
      const id = (((this.member.memberId & 0xffffn) << 48n) | suffix) & ((1n << 63n) - 1n);
      if (id === 0n) continue;
      const requestId = this.member.newRequestId();
      const data = cairnpb.InternalRequest.encode({ id: requestId, leaseGrant: { TTL: DEFAULT_SESSION_TTL_SEC, ID: fromBigInt(id, false) } }).finish();
      try {
        const resp = (await this.member.propose(requestId, data)) as pb.ILeaseGrantResponse;
        return toBigInt(resp.ID ?? fromBigInt(id, false));
      } catch (err) {
        if (attempt < 3 && err instanceof LeaseExistsError) continue;
        throw err;
      }
    }
  }

  /**
   * Creates `<name>/<lease-hex>` with `value` and the lease unless it exists (then reads it), in one
   * txn, as clientv3's Mutex.Lock and Election.Campaign do.
   */
  async createWaiterKey(name: Buffer, lease: bigint, value: Buffer): Promise<WaiterKey> {
    const key = Buffer.concat([waiterPrefix(name).start, Buffer.from(leaseHex(lease))]);
    const resp = await this.txn({
      compare: [{ target: CompareTarget.CREATE, result: CompareResult.EQUAL, key, createRevision: 0 }],
      success: [{ requestPut: { key, value, lease: fromBigInt(lease, false) } }],
      failure: [{ requestRange: { key } }],
    });
    const revision = toNumber(resp.header?.revision ?? 0);
    if (resp.succeeded === true) return { key, lease, rev: revision, created: true, existingValue: Buffer.alloc(0), revision };
    const kv = resp.responses?.[0]?.responseRange?.kvs?.[0];
    // The compare saw the key; the get in the same txn sees it too.
    if (kv == null) throw new Error('waiter key vanished inside its own txn');
    return { key, lease, rev: toNumber(kv.createRevision ?? 0), created: false, existingValue: asBuffer(kv.value), revision };
  }

  /** Deletes `key` if its create revision is still `rev` (Election.Resign); resolves with the txn. */
  deleteIfCreatedAt(key: Buffer, rev: number): Promise<pb.ITxnResponse> {
    return this.txn({
      compare: [{ target: CompareTarget.CREATE, result: CompareResult.EQUAL, key, createRevision: rev }],
      success: [{ requestDeleteRange: { key } }],
    });
  }

  /** Every key under `<name>/` at the current revision (or at `revision`). */
  waiters(name: Buffer, revision?: number): StoredKeyValue[] {
    const { start, end } = waiterPrefix(name);
    return this.store.read().range(start, end, revision === undefined ? undefined : { revision }).kvs;
  }

  /** The waiter with the lowest create revision: the holder / leader. */
  first(name: Buffer, revision?: number): StoredKeyValue | undefined {
    let first: StoredKeyValue | undefined;
    for (const kv of this.waiters(name, revision)) if (first === undefined || kv.createRevision < first.createRevision) first = kv;
    return first;
  }

  /**
   * Waits until `key` (created at `rev`) is first in line under `name`: every key with a lower
   * create revision is deleted. Fails with "session expired" when `key` itself goes (its lease
   * expired or was revoked, or someone deleted it). Returns a function that stops waiting.
   */
  waitTurn(name: Buffer, key: Buffer, rev: number, done: (err: Error | undefined, waited: boolean) => void): () => void {
    let stops: (() => void)[] = [];
    let finished = false;
    let scheduled = false;
    let waited = false;
    const unsubscribe = (): void => {
      for (const s of stops) s();
      stops = [];
    };
    const finish = (err: Error | undefined): void => {
      if (finished) return;
      finished = true;
      unsubscribe();
      done(err, waited);
    };
    const schedule = (): void => {
      if (scheduled || finished) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        check();
      });
    };
    const onDelete = (ev: { type: 'put' | 'delete' }): void => {
      if (ev.type === 'delete') schedule();
    };
    const check = (): void => {
      if (finished) return;
      unsubscribe();
      try {
        let own = false;
        let ahead: StoredKeyValue | undefined;
        for (const kv of this.waiters(name)) {
          if (kv.key.equals(key)) own = kv.createRevision === rev;
          else if (kv.createRevision < rev && (ahead === undefined || kv.createRevision > ahead.createRevision)) ahead = kv;
        }
        if (!own) return finish(new RecipeError(ERR_SESSION_EXPIRED));
        if (ahead === undefined) return finish(undefined);
        waited = true;
        stops.push(this.hub.onKey(ahead.key.toString('latin1'), onDelete));
        stops.push(this.hub.onKey(key.toString('latin1'), onDelete));
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    };
    check();
    return () => {
      finished = true;
      unsubscribe();
    };
  }
}
