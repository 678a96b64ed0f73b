/**
 * Request validation done before a KV request is proposed (etcd 3.4's api/v3rpc/key.go:
 * checkRangeRequest, checkPutRequest, checkDeleteRequest, checkTxnRequest, checkIntervals).
 * Each check throws an `EtcdError` and changes nothing; a request that passes may still fail at
 * apply time (a missing lease, a compacted revision...), which `KvApplier` decides.
 *
 * Rules, each checked against etcd 3.4.23 (see validate.test.ts):
 * - an empty key (range, put, delete, compare) → EmptyKey;
 * - put: ignore_value with a value → ValueProvided; ignore_lease with a lease → LeaseProvided;
 * - range: a sort order or target outside the enums → InvalidSortOption (etcd 3.5's answer; 3.4.23
 *   crashes on an unknown sort target);
 * - txn: max(#compare, #success, #failure) > maxTxnOps → TooManyOps, where a nested txn gets the
 *   budget left by its parent (maxTxnOps − the parent's count), as etcd does;
 * - txn: a RequestOp with no request set → KeyNotFound (etcd's answer to an empty union);
 * - txn: two puts of one key, or a put inside a delete's range, within what can run together (one
 *   branch, nested txns included; a nested txn's then and else branches never run together)
 *   → DuplicateKey. Checked after every other rule, as etcd does.
 */
import type { etcdserverpb } from '../../proto';
import { EtcdError } from '../errors';

type RangeRequest = etcdserverpb.RangeRequest.$Properties;
type PutRequest = etcdserverpb.PutRequest.$Properties;
type DeleteRangeRequest = etcdserverpb.DeleteRangeRequest.$Properties;
type TxnRequest = etcdserverpb.TxnRequest.$Properties;
type RequestOp = etcdserverpb.RequestOp.$Properties;

/** etcd's default `--max-txn-ops`: operations per txn branch (and compares per txn). */
export const MAX_TXN_OPS_DEFAULT = 128;

function isEmpty(bytes: Uint8Array | null | undefined): boolean {
  return bytes === null || bytes === undefined || bytes.length === 0;
}

// The enum ranges of RangeRequest.SortOrder (NONE, ASCEND, DESCEND) and SortTarget (KEY..VALUE).
const SORT_ORDER_MAX = 2;
const SORT_TARGET_MAX = 4;

function isEnumInRange(v: number | null | undefined, max: number): boolean {
  return v === null || v === undefined || (Number.isInteger(v) && v >= 0 && v <= max);
}

/** @throws EtcdError EmptyKey, InvalidSortOption */
export function checkRangeRequest(req: RangeRequest): void {
  if (isEmpty(req.key)) throw new EtcdError('EmptyKey');
  if (!isEnumInRange(req.sortOrder, SORT_ORDER_MAX) || !isEnumInRange(req.sortTarget, SORT_TARGET_MAX)) {
    throw new EtcdError('InvalidSortOption');
  }
}

function isNonZeroLease(lease: PutRequest['lease']): boolean {
  if (lease === null || lease === undefined) return false;
  return typeof lease === 'number' ? lease !== 0 : !lease.isZero();
}

/** @throws EtcdError EmptyKey, ValueProvided, LeaseProvided */
export function checkPutRequest(req: PutRequest): void {
  if (isEmpty(req.key)) throw new EtcdError('EmptyKey');
  if (req.ignoreValue && !isEmpty(req.value)) throw new EtcdError('ValueProvided');
  if (req.ignoreLease && isNonZeroLease(req.lease)) throw new EtcdError('LeaseProvided');
}

/** @throws EtcdError EmptyKey */
export function checkDeleteRangeRequest(req: DeleteRangeRequest): void {
  if (isEmpty(req.key)) throw new EtcdError('EmptyKey');
}

/**
 * Checks a txn as etcd does before proposing it: op counts and the requests inside, then the
 * duplicate-key rule.
 * @param maxTxnOps etcd's `--max-txn-ops` (default 128).
 * @throws EtcdError TooManyOps, EmptyKey, KeyNotFound (empty op), ValueProvided, LeaseProvided,
 *   InvalidSortOption, DuplicateKey
 */
export function checkTxnRequest(req: TxnRequest, maxTxnOps: number = MAX_TXN_OPS_DEFAULT): void {
  checkTxnOps(req, maxTxnOps);
  // After the cheaper checks, as etcd does, so that a huge bad txn fails before the quadratic part.
  checkIntervals(req.success);
  checkIntervals(req.failure);
}

function checkTxnOps(req: TxnRequest, maxTxnOps: number): void {
  const compare = req.compare ?? [];
  const success = req.success ?? [];
  const failure = req.failure ?? [];
  const opCount = Math.max(compare.length, success.length, failure.length);
  if (opCount > maxTxnOps) throw new EtcdError('TooManyOps');
  for (const c of compare) {
    if (isEmpty(c.key)) throw new EtcdError('EmptyKey');
  }
  for (const op of success) checkRequestOp(op, maxTxnOps - opCount);
  for (const op of failure) checkRequestOp(op, maxTxnOps - opCount);
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  if (op.requestRange) return checkRangeRequest(op.requestRange);
  if (op.requestPut) return checkPutRequest(op.requestPut);
  if (op.requestDeleteRange) return checkDeleteRangeRequest(op.requestDeleteRange);
  if (op.requestTxn) return checkTxnOps(op.requestTxn, maxTxnOps);
  throw new EtcdError('KeyNotFound');
}

// --- duplicate keys -------------------------------------------------------------------------------

/** A delete's key range [begin, end) as latin1 strings (byte order = string order). */
interface KeyInterval {
  readonly begin: string;
  readonly end: string;
}

const latin1 = (bytes: Uint8Array): string =>
  Buffer.isBuffer(bytes) ? bytes.toString('latin1') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

/**
 * The interval a delete covers for the duplicate check, as etcd 3.4 builds it: [key, range_end), or
 * the key alone. etcd takes range_end literally here, so a from-key delete (range_end "\0") and an
 * inverted range cover no key: etcd 3.4.23 accepts `txn [delete a.. from-key, put a]` (observed).
 */
function deleteInterval(req: DeleteRangeRequest): KeyInterval {
  const begin = latin1(req.key as Uint8Array);
  const end = isEmpty(req.rangeEnd) ? begin + '\0' : latin1(req.rangeEnd as Uint8Array);
  return { begin, end };
}

function coveredByAny(key: string, dels: readonly KeyInterval[]): boolean {
  for (const d of dels) {
    if (d.begin <= key && key < d.end) return true;
  }
  return false;
}

/**
 * etcd's checkIntervals over one branch: returns the keys it puts and the intervals it deletes
 * (nested txns included) so that the parent can check them against its own.
 */
function checkIntervals(ops: readonly RequestOp[] | null | undefined): { puts: Set<string>; dels: KeyInterval[] } {
  const puts = new Set<string>();
  const dels: KeyInterval[] = [];
  if (!ops) return { puts, dels };

  // This level's deletes first: they cover the puts of nested txns too.
  for (const op of ops) {
    if (op.requestDeleteRange) dels.push(deleteInterval(op.requestDeleteRange));
  }

  // Nested txns: either branch of one may run with anything at this level, but not with each other.
  for (const op of ops) {
    const txn = op.requestTxn;
    if (!txn) continue;
    const then = checkIntervals(txn.success);
    const otherwise = checkIntervals(txn.failure);
    for (const key of then.puts) {
      if (puts.has(key) || coveredByAny(key, dels)) throw new EtcdError('DuplicateKey');
      puts.add(key);
    }
    for (const key of otherwise.puts) {
      if (puts.has(key) && !then.puts.has(key)) throw new EtcdError('DuplicateKey');
      if (coveredByAny(key, dels)) throw new EtcdError('DuplicateKey');
      puts.add(key);
    }
    for (const d of then.dels) dels.push(d);
    for (const d of otherwise.dels) dels.push(d);
  }

  // This level's puts.
  for (const op of ops) {
    const put = op.requestPut;
    if (!put) continue;
    const key = latin1(put.key as Uint8Array);
    if (puts.has(key) || coveredByAny(key, dels)) throw new EtcdError('DuplicateKey');
    puts.add(key);
  }
  return { puts, dels };
}
