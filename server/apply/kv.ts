/**
 * etcd 3.4's KV request semantics on top of the multi-version store (etcd's applierV3backend:
 * Range, Put, DeleteRange, Txn, Compaction in etcdserver/apply.go). Requests arrive validated
 * (./validate.ts); what can only be decided against the store's state is decided here: missing
 * leases, ignore_value/ignore_lease on a missing key, compacted and future revisions.
 *
 * Responses are plain objects in the shape of the generated `etcdserpb` messages (protobufjs
 * encodes them), zero fields left out as etcd leaves them out. Their header carries only
 * `revision`, set as etcd sets it; the host fills cluster_id, member_id and raft_term. For the hot
 * Range path, `rangeResult` + `encodeRangeResponse` (./range-codec.ts) skip the objects entirely.
 *
 * Header revisions, as etcd 3.4 sets them (checked against etcd 3.4.23):
 * - range: the store's current revision at read time, whatever revision was read;
 * - put: the revision of the write; delete: the revision of the write, or the current revision when
 *   nothing was deleted;
 * - txn: the revision after it (the current revision when it changed nothing); inside a txn each
 *   op's header has the revision as of that op, and a nested txn's header is empty.
 */
import { type etcdserverpb, type mvccpb, type Int64Value, Long, fromBigInt, toBigInt, toNumber } from '../../proto';
import { EtcdError } from '../errors';
import type { KeyValue, MvccStore, ReadTxn, StoredKeyValue, WriteTxn } from '../mvcc/types';

type RangeRequest = etcdserverpb.RangeRequest.$Properties;
type RangeResponse = etcdserverpb.RangeResponse.$Properties;
type PutRequest = etcdserverpb.PutRequest.$Properties;
type PutResponse = etcdserverpb.PutResponse.$Properties;
type DeleteRangeRequest = etcdserverpb.DeleteRangeRequest.$Properties;
type DeleteRangeResponse = etcdserverpb.DeleteRangeResponse.$Properties;
type TxnRequest = etcdserverpb.TxnRequest.$Properties;
type TxnResponse = etcdserverpb.TxnResponse.$Properties;
type RequestOp = etcdserverpb.RequestOp.$Properties;
type ResponseOp = etcdserverpb.ResponseOp.$Properties;
type Compare = etcdserverpb.Compare.$Properties;
type CompactionRequest = etcdserverpb.CompactionRequest.$Properties;
type CompactionResponse = etcdserverpb.CompactionResponse.$Properties;
type KeyValueMessage = mvccpb.KeyValue.$Properties;

// Enum values of rpc.proto (numbers, so that this hot path does not touch the generated module).
const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;
const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;
const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;

const EMPTY = Buffer.alloc(0);

/** A Range's outcome before encoding: what `encodeRangeResponse` writes. */
export interface KvRangeResult {
  /** The keys to return, in response order, at most `limit`. */
  readonly kvs: readonly StoredKeyValue[];
  /** Keys in the range at the read revision, ignoring limit and the mod/create revision filters (as etcd). */
  readonly count: number;
  /** More keys passed the filters than `limit` returned. */
  readonly more: boolean;
  /** keys_only: the kvs are returned without their values. */
  readonly keysOnly: boolean;
  /** header.revision: the store's current revision when the range was read. */
  readonly revision: number;
}

/** A compaction's response and the promise of its physical completion. */
export interface KvCompactionResult {
  readonly response: CompactionResponse;
  /** Resolves when the compacted revisions are gone from the backend; await it when `physical`. */
  readonly done: Promise<void>;
}

export interface KvApplierOptions {
  readonly store: MvccStore;
  /** Whether lease `id` (≠ 0) exists now. Default: no lease exists (only lease 0, "none"). */
  readonly leaseExists?: (id: bigint) => boolean;
  /** Called after a put gives `key` lease `id` (≠ 0) that it did not have. */
  readonly attachLease?: (id: bigint, key: Buffer) => void;
  /** Called after `key` loses lease `id` (≠ 0): put with another lease or none, or deleted. */
  readonly detachLease?: (id: bigint, key: Buffer) => void;
  /**
   * The lease a key is attached to now (0n: none), from memory (the lessor). With it, a put reads
   * the key's previous version only when the request needs it (prev_kv, ignore_value,
   * ignore_lease); without it every put reads it to learn the old lease.
   */
  readonly leaseOfKey?: (key: Buffer) => bigint;
}

function asBuffer(bytes: Uint8Array | null | undefined): Buffer {
  if (bytes === null || bytes === undefined || bytes.length === 0) return EMPTY;
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `range_end` as the store takes it: absent/empty → the key alone; "\0" → every key ≥ key. */
function rangeEndOf(end: Uint8Array | null | undefined): Buffer | undefined {
  return end === null || end === undefined || end.length === 0 ? undefined : asBuffer(end);
}

/** An int64 request field as a number; values beyond 2^53 saturate (never a valid revision anyway). */
function int64AsNumber(v: Int64Value): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** A lease ID field as a bigint; the common "no lease" (absent, 0, Long zero) without bigint work. */
function leaseIdOf(v: Int64Value): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return v === 0 ? 0n : toBigInt(v);
  return v.low === 0 && v.high === 0 ? 0n : toBigInt(v);
}

/** A lease ID as protobufjs encodes it; undefined for no lease (field left out). */
function leaseField(lease: bigint): Long | undefined {
  return lease === 0n ? undefined : fromBigInt(lease, false);
}

/** The KeyValue message of a stored record; zero fields are left out, as etcd does. */
export function toKeyValueMessage(kv: KeyValue, keysOnly = false): KeyValueMessage {
  const m: KeyValueMessage = { key: kv.key, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version };
  if (!keysOnly && kv.value.length > 0) m.value = kv.value;
  const lease = leaseField(kv.lease);
  if (lease !== undefined) m.lease = lease;
  return m;
}

// --- sorting -------------------------------------------------------------------------------------

type KvComparator = (a: StoredKeyValue, b: StoredKeyValue) => number;
const byVersion: KvComparator = (a, b) => a.version - b.version;
const byCreate: KvComparator = (a, b) => a.createRevision - b.createRevision;
const byMod: KvComparator = (a, b) => a.modRevision - b.modRevision;
const byValue: KvComparator = (a, b) => Buffer.compare(a.value, b.value);
const COMPARATORS: Record<number, readonly [ascending: KvComparator, descending: KvComparator]> = {
  [SortTarget.VERSION]: [byVersion, (a, b) => b.version - a.version],
  [SortTarget.CREATE]: [byCreate, (a, b) => b.createRevision - a.createRevision],
  [SortTarget.MOD]: [byMod, (a, b) => b.modRevision - a.modRevision],
  [SortTarget.VALUE]: [byValue, (a, b) => Buffer.compare(b.value, a.value)],
};

/**
 * Sorts as etcd 3.4 does: order NONE with a target other than KEY means ASCEND; keys come from the
 * store in ascending key order, so ASCEND on KEY is a no-op and DESCEND on KEY reverses. The sort
 * is stable: keys with equal sort values stay in key order (etcd's sort did the same on the small
 * slices we compared against; on larger ones etcd leaves ties in no fixed order). Returns `kvs`
 * itself when nothing moves, else a sorted copy (the store's array is never reordered).
 */
function sortKvs(kvs: readonly StoredKeyValue[], order: number, target: number): readonly StoredKeyValue[] {
  if (order === SortOrder.NONE && target !== SortTarget.KEY) order = SortOrder.ASCEND;
  if (order === SortOrder.NONE || kvs.length < 2) return kvs;
  if (target === SortTarget.KEY) return order === SortOrder.DESCEND ? kvs.slice().reverse() : kvs;
  const comparators = COMPARATORS[target];
  if (comparators === undefined) throw new EtcdError('InvalidSortOption'); // validate.ts rejects these first
  return kvs.slice().sort(order === SortOrder.DESCEND ? comparators[1] : comparators[0]);
}

// --- compares ------------------------------------------------------------------------------------

/** Three-way comparison of a stored int with an int64 field (Long beyond 2^53 compares correctly by sign). */
function compareInt(a: number, b: Int64Value): number {
  const n = int64AsNumber(b);
  return a < n ? -1 : a > n ? 1 : 0;
}

function compareLease(a: bigint, b: Int64Value): number {
  const n = leaseIdOf(b);
  return a < n ? -1 : a > n ? 1 : 0;
}

/** One compare against one key-value (a missing key is the zero KeyValue). */
function compareKv(c: Compare, kv: KeyValue | undefined): boolean {
  let result: number;
  switch (c.target ?? CompareTarget.VERSION) {
    case CompareTarget.VERSION:
      result = compareInt(kv?.version ?? 0, c.version);
      break;
    case CompareTarget.CREATE:
      result = compareInt(kv?.createRevision ?? 0, c.createRevision);
      break;
    case CompareTarget.MOD:
      result = compareInt(kv?.modRevision ?? 0, c.modRevision);
      break;
    case CompareTarget.VALUE:
      result = Buffer.compare(kv?.value ?? EMPTY, asBuffer(c.value));
      break;
    case CompareTarget.LEASE:
      result = compareLease(kv?.lease ?? 0n, c.lease);
      break;
    default:
      result = 0; // an unknown target: etcd compares nothing and judges the result 0
  }
  switch (c.result ?? CompareResult.EQUAL) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
    default:
      return true; // etcd: an unknown result holds
  }
}

/**
 * A compare holds when it holds for every key in [key, range_end) (or the key alone). With no key
 * there, VERSION/CREATE/MOD/LEASE compare against 0 and VALUE fails: a missing value is not "".
 */
function applyCompare(rv: ReadTxn, c: Compare): boolean {
  const { kvs } = rv.range(asBuffer(c.key), rangeEndOf(c.rangeEnd));
  if (kvs.length === 0) return (c.target ?? CompareTarget.VERSION) === CompareTarget.VALUE ? false : compareKv(c, undefined);
  for (const kv of kvs) if (!compareKv(c, kv)) return false;
  return true;
}

// --- txn helpers ---------------------------------------------------------------------------------

function branchOf(req: TxnRequest, succeeded: boolean): readonly RequestOp[] {
  return (succeeded ? req.success : req.failure) ?? [];
}

/** True when some op, in either branch at any depth, is a put or a delete. */
function txnHasWrites(req: TxnRequest): boolean {
  for (const ops of [req.success, req.failure]) {
    for (const op of ops ?? []) {
      if (op.requestPut || op.requestDeleteRange) return true;
      if (op.requestTxn && txnHasWrites(op.requestTxn)) return true;
    }
  }
  return false;
}

/** Cursor over the compare outcomes of a txn and its nested txns, in depth-first order. */
interface TxnPath {
  readonly succeeded: boolean[];
  next: number;
}

/** Applies etcd 3.4's KV semantics to an MvccStore. One instance per store; not re-entrant. */
export class KvApplier {
  private readonly store: MvccStore;
  private readonly leaseExists: (id: bigint) => boolean;
  private readonly attachLease: ((id: bigint, key: Buffer) => void) | undefined;
  private readonly detachLease: ((id: bigint, key: Buffer) => void) | undefined;
  private readonly leaseOfKey: ((key: Buffer) => bigint) | undefined;

  constructor(opts: KvApplierOptions) {
    this.store = opts.store;
    this.leaseExists = opts.leaseExists ?? (() => false);
    this.attachLease = opts.attachLease;
    this.detachLease = opts.detachLease;
    this.leaseOfKey = opts.leaseOfKey;
  }

  // --- Range ---

  /**
   * Reads a range as etcd's applierV3backend.Range: [key, range_end) at `revision` (0: current);
   * mod/create revision filters, then sort, then `limit` (with `more`); `count` counts the whole
   * range at that revision, before filters and limit. Serializable vs linearizable is the caller's.
   * @throws CompactedError (mvcc) when revision was compacted; FutureRevisionError when > current.
   */
  rangeResult(req: RangeRequest): KvRangeResult {
    return this.rangeIn(this.store.read(), req, undefined);
  }

  /** Range as a RangeResponse message (see `rangeResult`; the host may prefer `encodeRangeResponse`). */
  range(req: RangeRequest): RangeResponse {
    return toRangeResponse(this.rangeResult(req));
  }

  /** `headerRevision` given: the read is inside a write txn, whose own revision etcd reports. */
  private rangeIn(view: ReadTxn, req: RangeRequest, headerRevision: number | undefined): KvRangeResult {
    const limit = Math.max(0, int64AsNumber(req.limit));
    const revision = Math.max(0, int64AsNumber(req.revision));
    const sortOrder = req.sortOrder ?? SortOrder.NONE;
    const sortTarget = req.sortTarget ?? SortTarget.KEY;
    const minMod = int64AsNumber(req.minModRevision);
    const maxMod = int64AsNumber(req.maxModRevision);
    const minCreate = int64AsNumber(req.minCreateRevision);
    const maxCreate = int64AsNumber(req.maxCreateRevision);
    const filtered = minMod !== 0 || maxMod !== 0 || minCreate !== 0 || maxCreate !== 0;
    const countOnly = req.countOnly === true;
    // Ascending by key is the store's own order: no need to read past the limit for it.
    const sorted = sortOrder === SortOrder.DESCEND || (sortOrder === SortOrder.ASCEND && sortTarget !== SortTarget.KEY);
    // etcd 3.4 reads everything when sorting (by the order as requested) or filtering, else limit+1
    // to learn `more`. With order NONE and a target other than KEY it reads limit+1 keys by key
    // order, sorts those, and cuts to limit: reproduced as is.
    const readLimit = limit > 0 && !sorted && !filtered ? limit + 1 : 0;

    const rr = view.range(asBuffer(req.key), rangeEndOf(req.rangeEnd), { revision, limit: readLimit, countOnly });
    let kvs: readonly StoredKeyValue[] = rr.kvs;
    if (filtered && kvs.length > 0) {
      kvs = kvs.filter(
        (kv) =>
          (maxMod === 0 || kv.modRevision <= maxMod) &&
          (minMod === 0 || kv.modRevision >= minMod) &&
          (maxCreate === 0 || kv.createRevision <= maxCreate) &&
          (minCreate === 0 || kv.createRevision >= minCreate),
      );
    }
    kvs = sortKvs(kvs, sortOrder, sortTarget);
    let more = false;
    if (limit > 0 && kvs.length > limit) {
      kvs = kvs.slice(0, limit);
      more = true;
    }
    return {
      kvs,
      count: rr.count,
      more,
      keysOnly: req.keysOnly === true,
      revision: headerRevision ?? view.revision,
    };
  }

  // --- Put ---

  /**
   * Puts one key in its own write transaction, as etcd's Put: a lease that does not exist fails
   * first (LeaseNotFound); ignore_value/ignore_lease keep the key's current value/lease and need the
   * key to exist (KeyNotFound); prev_kv returns the key as it was.
   * @throws EtcdError LeaseNotFound, KeyNotFound — nothing is written then.
   */
  put(req: PutRequest): PutResponse {
    const lease = leaseIdOf(req.lease);
    if (lease !== 0n && !this.leaseExists(lease)) throw new EtcdError('LeaseNotFound');
    const beginRevision = this.store.currentRevision;
    const txn = this.store.write();
    try {
      return this.putIn(txn, req, beginRevision, true);
    } finally {
      txn.end();
    }
  }

  private putIn(txn: WriteTxn, req: PutRequest, beginRevision: number, strict: boolean): PutResponse {
    const key = asBuffer(req.key);
    let value = asBuffer(req.value);
    let lease = leaseIdOf(req.lease);
    const tracksLeases = this.attachLease !== undefined || this.detachLease !== undefined;
    const needPrevious = req.prevKv || req.ignoreValue || req.ignoreLease || (tracksLeases && this.leaseOfKey === undefined);
    const previous = needPrevious ? txn.range(key, undefined).kvs[0] : undefined;
    if (req.ignoreValue || req.ignoreLease) {
      if (previous === undefined) {
        // Checked against the txn's starting state before any write (etcd's checkRequestPut); only
        // a from-key delete earlier in the same txn can remove the key since, which etcd 3.4 answers
        // with a panic. We keep the empty value / no lease instead of failing half-way.
        if (strict) throw new EtcdError('KeyNotFound');
      } else {
        if (req.ignoreValue) value = previous.value;
        if (req.ignoreLease) lease = previous.lease;
      }
    }
    txn.put(key, value, lease);
    const previousLease = previous !== undefined ? previous.lease : tracksLeases && this.leaseOfKey !== undefined ? this.leaseOfKey(key) : 0n;
    if (previousLease !== lease) {
      if (previousLease !== 0n) this.detachLease?.(previousLease, key);
      if (lease !== 0n) this.attachLease?.(lease, key);
    }
    const response: PutResponse = { header: { revision: beginRevision + 1 } };
    if (req.prevKv && previous !== undefined) response.prevKv = toKeyValueMessage(previous);
    return response;
  }

  // --- DeleteRange ---

  /** Deletes every key in [key, range_end) in its own write transaction; prev_kv returns them. */
  deleteRange(req: DeleteRangeRequest): DeleteRangeResponse {
    const beginRevision = this.store.currentRevision;
    const txn = this.store.write();
    try {
      return this.deleteRangeIn(txn, req, beginRevision);
    } finally {
      txn.end();
    }
  }

  private deleteRangeIn(txn: WriteTxn, req: DeleteRangeRequest, beginRevision: number): DeleteRangeResponse {
    const key = asBuffer(req.key);
    const end = rangeEndOf(req.rangeEnd);
    const previous = req.prevKv || this.detachLease ? txn.range(key, end).kvs : undefined;
    const deleted = txn.deleteRange(key, end);
    if (this.detachLease && previous) {
      for (const kv of previous) if (kv.lease !== 0n) this.detachLease(kv.lease, kv.key);
    }
    const response: DeleteRangeResponse = { header: { revision: beginRevision + (txn.changes > 0 ? 1 : 0) } };
    if (deleted > 0) response.deleted = deleted;
    if (req.prevKv && previous && previous.length > 0) response.prevKvs = previous.map((kv) => toKeyValueMessage(kv));
    return response;
  }

  // --- Txn ---

  /**
   * Runs a txn as etcd 3.4 does: every compare (nested txns' too, along the branches taken) is
   * evaluated against the state before the txn; then the ops of the taken branches are checked
   * (puts: leases exist, keys exist for ignore_*; ranges: revision neither compacted nor future),
   * and only then applied, in order, as ONE write transaction (one revision). A txn with no put or
   * delete in either branch reads only.
   * @throws EtcdError LeaseNotFound, KeyNotFound; mvcc's CompactedError, FutureRevisionError —
   *   nothing is written then.
   */
  txn(req: TxnRequest): TxnResponse {
    const rv = this.store.read();
    const beginRevision = this.store.currentRevision;
    const path: TxnPath = { succeeded: [], next: 0 };
    this.evaluateCompares(rv, req, path.succeeded);
    const isWrite = txnHasWrites(req);
    this.checkOps(rv, req, path, isWrite);
    path.next = 0;
    if (!isWrite) {
      const response = this.applyTxn(rv, undefined, req, path, beginRevision);
      response.header = { revision: beginRevision };
      return response;
    }
    const txn = this.store.write();
    try {
      const response = this.applyTxn(txn, txn, req, path, beginRevision);
      response.header = { revision: beginRevision + (txn.changes > 0 ? 1 : 0) };
      return response;
    } finally {
      txn.end();
    }
  }

  private evaluateCompares(rv: ReadTxn, req: TxnRequest, out: boolean[]): void {
    let succeeded = true;
    for (const c of req.compare ?? []) {
      if (!applyCompare(rv, c)) {
        succeeded = false;
        break;
      }
    }
    out.push(succeeded);
    for (const op of branchOf(req, succeeded)) if (op.requestTxn) this.evaluateCompares(rv, op.requestTxn, out);
  }

  /** etcd's checkRequests: puts first (when the txn writes), then ranges, over the taken branches. */
  private checkOps(rv: ReadTxn, req: TxnRequest, path: TxnPath, isWrite: boolean): void {
    if (isWrite) {
      path.next = 0;
      this.forEachTakenOp(req, path, (op) => {
        const put = op.requestPut;
        if (!put) return;
        if ((put.ignoreValue || put.ignoreLease) && rv.range(asBuffer(put.key), undefined, { limit: 1 }).kvs.length === 0) {
          throw new EtcdError('KeyNotFound');
        }
        const lease = leaseIdOf(put.lease);
        if (lease !== 0n && !this.leaseExists(lease)) throw new EtcdError('LeaseNotFound');
      });
    }
    path.next = 0;
    this.forEachTakenOp(req, path, (op) => {
      const range = op.requestRange;
      if (!range) return;
      const revision = int64AsNumber(range.revision);
      // Let the store judge the revision on the starting view (compacted or future), before any write.
      if (revision > 0) rv.range(asBuffer(range.key), undefined, { revision, limit: 1 });
    });
  }

  private forEachTakenOp(req: TxnRequest, path: TxnPath, f: (op: RequestOp) => void): void {
    const succeeded = path.succeeded[path.next++];
    for (const op of branchOf(req, succeeded)) {
      if (op.requestTxn) this.forEachTakenOp(op.requestTxn, path, f);
      else f(op);
    }
  }

  /** Applies the taken branch of `req`; `txn` undefined: a read-only txn reading `view`. */
  private applyTxn(
    view: ReadTxn,
    txn: WriteTxn | undefined,
    req: TxnRequest,
    path: TxnPath,
    beginRevision: number,
  ): TxnResponse {
    const succeeded = path.succeeded[path.next++];
    const ops = branchOf(req, succeeded);
    const responses: ResponseOp[] = new Array(ops.length);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (op.requestRange) {
        const headerRevision = txn ? beginRevision + (txn.changes > 0 ? 1 : 0) : beginRevision;
        responses[i] = { responseRange: toRangeResponse(this.rangeIn(view, op.requestRange, headerRevision)) };
      } else if (op.requestPut) {
        responses[i] = { responsePut: this.putIn(mustWrite(txn), op.requestPut, beginRevision, false) };
      } else if (op.requestDeleteRange) {
        responses[i] = { responseDeleteRange: this.deleteRangeIn(mustWrite(txn), op.requestDeleteRange, beginRevision) };
      } else if (op.requestTxn) {
        const nested = this.applyTxn(view, txn, op.requestTxn, path, beginRevision);
        nested.header = {}; // etcd 3.4.23 sends a nested txn's header empty
        responses[i] = { responseTxn: nested };
      } else {
        responses[i] = {}; // an empty op: validate.ts rejects it before it gets here
      }
    }
    const response: TxnResponse = {};
    if (succeeded) response.succeeded = true;
    if (responses.length > 0) response.responses = responses;
    return response;
  }

  // --- Compaction ---

  /**
   * Compacts the store at `revision`. The response's header revision is the current revision. When
   * `physical` is set, the caller answers only after `done` resolves (etcd waits the same way).
   * @throws mvcc's CompactedError (revision ≤ compacted) or FutureRevisionError (> current).
   */
  compaction(req: CompactionRequest): KvCompactionResult {
    const { done } = this.store.compact(toNumber(req.revision));
    return { response: { header: { revision: this.store.currentRevision } }, done };
  }
}

function mustWrite(txn: WriteTxn | undefined): WriteTxn {
  if (txn === undefined) throw new Error('assertion failed: a write op in a txn judged read-only');
  return txn;
}

/** A range result as a RangeResponse message (zero fields left out, as etcd does). */
export function toRangeResponse(result: KvRangeResult): RangeResponse {
  const response: RangeResponse = { header: { revision: result.revision } };
  if (result.kvs.length > 0) response.kvs = result.kvs.map((kv) => toKeyValueMessage(kv, result.keysOnly));
  if (result.more) response.more = true;
  if (result.count > 0) response.count = result.count;
  return response;
}
