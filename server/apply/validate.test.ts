// Request validation before proposing (server/apply/validate.ts), rule by rule as etcd 3.4's
// api/v3rpc/key.go applies them. Each `etcd 3.4.23:` comment records what the real server answered
// to the same request (probed over gRPC and etcdctl); a few are re-checked live through etcdctl.
import { spawnSync } from 'node:child_process';
import { Long, type etcdserverpb } from '../../proto';
import { EtcdError, type EtcdErrorKind } from '../errors';
import { etcdInstalled, startEtcd, type EtcdProcess } from './etcd-probe';
import { checkDeleteRangeRequest, checkPutRequest, checkRangeRequest, checkTxnRequest } from './validate';

type RequestOp = etcdserverpb.RequestOp.$Properties;
type TxnRequest = etcdserverpb.TxnRequest.$Properties;

const b = (s: string) => Buffer.from(s, 'latin1');
const put = (key: string): RequestOp => ({ requestPut: { key: b(key), value: b('v') } });
const del = (key: string, rangeEnd?: string): RequestOp => ({
  requestDeleteRange: rangeEnd === undefined ? { key: b(key) } : { key: b(key), rangeEnd: b(rangeEnd) },
});
const get = (key: string): RequestOp => ({ requestRange: { key: b(key) } });
const txn = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({ requestTxn: { success, failure } });
const puts = (n: number, prefix = 'k'): RequestOp[] => Array.from({ length: n }, (_, i) => put(prefix + i));

function errorKindOf(f: () => void): EtcdErrorKind | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    if (err instanceof EtcdError) return err.kind;
    throw err;
  }
}
const txnError = (req: TxnRequest, maxTxnOps?: number) => errorKindOf(() => checkTxnRequest(req, maxTxnOps));

describe('range, put and delete requests', () => {
  test('an empty or absent key is ErrEmptyKey for range, put and delete', () => {
    // etcd 3.4.23: `etcdctl put "" x` → InvalidArgument "etcdserver: key is not provided".
    expect(errorKindOf(() => checkRangeRequest({ key: b('') }))).toBe('EmptyKey');
    expect(errorKindOf(() => checkRangeRequest({}))).toBe('EmptyKey');
    expect(errorKindOf(() => checkPutRequest({ key: new Uint8Array(0), value: b('v') }))).toBe('EmptyKey');
    expect(errorKindOf(() => checkDeleteRangeRequest({ key: null }))).toBe('EmptyKey');
    expect(errorKindOf(() => checkRangeRequest({ key: b('\0') }))).toBeUndefined();
  });

  test('put with ignore_value and a value is ErrValueProvided; without a value it passes', () => {
    expect(errorKindOf(() => checkPutRequest({ key: b('k'), value: b('v'), ignoreValue: true }))).toBe('ValueProvided');
    expect(errorKindOf(() => checkPutRequest({ key: b('k'), ignoreValue: true }))).toBeUndefined();
  });

  test('put with ignore_lease and a lease is ErrLeaseProvided (number or Long lease)', () => {
    // etcd 3.4.23: `put --ignore-lease --lease=5 k v` → "etcdserver: lease is provided".
    expect(errorKindOf(() => checkPutRequest({ key: b('k'), lease: 5, ignoreLease: true }))).toBe('LeaseProvided');
    expect(errorKindOf(() => checkPutRequest({ key: b('k'), lease: Long.fromString('-1'), ignoreLease: true }))).toBe(
      'LeaseProvided',
    );
    expect(errorKindOf(() => checkPutRequest({ key: b('k'), lease: Long.ZERO, ignoreLease: true }))).toBeUndefined();
    expect(errorKindOf(() => checkPutRequest({ key: b('k'), lease: 5 }))).toBeUndefined();
  });

  test('a sort order or target outside the enums is ErrInvalidSortOption', () => {
    // etcd 3.4.23 has no such check: sort_target 9 crashed the server (nil sorter), sort_order 5 was
    // ignored. We answer as etcd 3.5 does rather than crash.
    expect(errorKindOf(() => checkRangeRequest({ key: b('k'), sortOrder: 5 as never }))).toBe('InvalidSortOption');
    expect(errorKindOf(() => checkRangeRequest({ key: b('k'), sortTarget: 9 as never }))).toBe('InvalidSortOption');
    expect(errorKindOf(() => checkRangeRequest({ key: b('k'), sortTarget: -1 as never }))).toBe('InvalidSortOption');
    expect(errorKindOf(() => checkRangeRequest({ key: b('k'), sortOrder: 2, sortTarget: 4 }))).toBeUndefined();
  });
});

describe('txn: operation counts', () => {
  test('128 ops pass and 129 are ErrTooManyOps, for success, failure and compare', () => {
    // etcd 3.4.23: 128 puts → OK; 129 puts → "too many operations in txn request"; 129 compares too.
    expect(txnError({ success: puts(128) })).toBeUndefined();
    expect(txnError({ success: puts(129) })).toBe('TooManyOps');
    expect(txnError({ failure: puts(129) })).toBe('TooManyOps');
    expect(txnError({ compare: Array.from({ length: 129 }, () => ({ key: b('x') })) })).toBe('TooManyOps');
    expect(txnError({ success: puts(128), failure: puts(128, 'f'), compare: [{ key: b('x') }] })).toBeUndefined();
  });

  test('maxTxnOps is configurable', () => {
    expect(txnError({ success: puts(3) }, 2)).toBe('TooManyOps');
    expect(txnError({ success: puts(2) }, 2)).toBeUndefined();
  });

  test("a nested txn gets the budget its parent leaves: maxTxnOps minus the parent's op count", () => {
    // etcd 3.4.23: 99 puts + a nested txn of 28 puts → OK (budget 128 − 100 = 28);
    // 100 puts + nested 28 → too many (budget 27); a lone nested txn of 127 → OK, of 128 → too many.
    expect(txnError({ success: [...puts(99), txn(puts(28, 'n'))] })).toBeUndefined();
    expect(txnError({ success: [...puts(100), txn(puts(28, 'n'))] })).toBe('TooManyOps');
    expect(txnError({ success: [txn(puts(127))] })).toBeUndefined();
    expect(txnError({ success: [txn(puts(128))] })).toBe('TooManyOps');
  });

  test('an empty key in a compare or an op is ErrEmptyKey; an op with no request is ErrKeyNotFound', () => {
    // etcd 3.4.23: compare with empty key → "key is not provided"; RequestOp{} → "etcdserver: key not found".
    expect(txnError({ compare: [{ key: b('') }] })).toBe('EmptyKey');
    expect(txnError({ success: [put('')] })).toBe('EmptyKey');
    expect(txnError({ failure: [txn([get('')])] })).toBe('EmptyKey');
    expect(txnError({ success: [{}] })).toBe('KeyNotFound');
    expect(txnError({ success: [{ requestPut: { key: b('k'), value: b('v'), ignoreValue: true } }] })).toBe(
      'ValueProvided',
    );
  });

  test('the op and key checks come before the duplicate-key check', () => {
    // etcd 3.4.23: [put a, put a, put ""] → key is not provided; 129 puts incl. a duplicate → too many ops.
    expect(txnError({ success: [put('a'), put('a'), put('')] })).toBe('EmptyKey');
    expect(txnError({ success: [...puts(129), put('k1')] })).toBe('TooManyOps');
  });
});

describe('txn: duplicate keys (etcd checkIntervals)', () => {
  test('two puts of one key in a branch are ErrDuplicateKey', () => {
    expect(txnError({ success: [put('a'), put('a')] })).toBe('DuplicateKey'); // etcd 3.4.23: duplicate
    expect(txnError({ failure: [put('a'), put('a')] })).toBe('DuplicateKey');
  });

  test('the same key in success and failure is fine: they never both run', () => {
    expect(txnError({ success: [put('a')], failure: [put('a')] })).toBeUndefined(); // etcd 3.4.23: OK
  });

  test('a put inside a delete of the same branch is ErrDuplicateKey; [key, range_end) is half-open', () => {
    // etcd 3.4.23: [del a, put a] → duplicate; [del [a,c), put b] → duplicate; [del [a,c), put c] → OK.
    expect(txnError({ success: [del('a'), put('a')] })).toBe('DuplicateKey');
    expect(txnError({ success: [put('a'), del('a')] })).toBe('DuplicateKey');
    expect(txnError({ success: [del('a', 'c'), put('b')] })).toBe('DuplicateKey');
    expect(txnError({ success: [del('a', 'c'), put('c')] })).toBeUndefined();
    expect(txnError({ success: [del('b', 'c'), put('a')] })).toBeUndefined();
  });

  test('a from-key delete (range_end "\\0") or an inverted range conflicts with no put, as in etcd 3.4', () => {
    // etcd 3.4.23: [del a --from-key, put a] → OK; [del [c,a), put b] → OK (etcd takes range_end literally).
    expect(txnError({ success: [del('a', '\0'), put('a')] })).toBeUndefined();
    expect(txnError({ success: [del('a', '\0'), put('b')] })).toBeUndefined();
    expect(txnError({ success: [del('c', 'a'), put('b')] })).toBeUndefined();
  });

  test('deletes alone, ranges and deletes of one key never conflict', () => {
    expect(txnError({ success: [del('a'), del('a'), get('a'), del('a', 'z')] })).toBeUndefined();
    expect(txnError({ success: [put('a'), get('a')] })).toBeUndefined();
  });

  test('nested txns: puts conflict with the parent branch and with sibling txns', () => {
    // etcd 3.4.23, each → duplicate: [txn{then put a}, put a]; [txn{then del a}, put a];
    // [del a, txn{then put a}]; [txn{then put a}, txn{then put a}]; [txn{then put a}, txn{else put a}];
    // [txn{else put a}, txn{then put a}].
    expect(txnError({ success: [txn([put('a')]), put('a')] })).toBe('DuplicateKey');
    expect(txnError({ success: [txn([del('a')]), put('a')] })).toBe('DuplicateKey');
    expect(txnError({ success: [del('a'), txn([put('a')])] })).toBe('DuplicateKey');
    expect(txnError({ success: [txn([put('a')]), txn([put('a')])] })).toBe('DuplicateKey');
    expect(txnError({ success: [txn([put('a')]), txn([], [put('a')])] })).toBe('DuplicateKey');
    expect(txnError({ success: [txn([], [put('a')]), txn([put('a')])] })).toBe('DuplicateKey');
    expect(txnError({ failure: [txn([txn([del('a', 'c')])]), put('b')] })).toBe('DuplicateKey');
  });

  test("a nested txn's then and else branches may put the same key", () => {
    // etcd 3.4.23: [txn{then put a, else put a}] → OK.
    expect(txnError({ success: [txn([put('a')], [put('a')])] })).toBeUndefined();
    expect(txnError({ success: [txn([put('a')], [put('b')]), put('c')] })).toBeUndefined();
  });
});

const describeWithEtcd = etcdInstalled() ? describe : describe.skip;

describeWithEtcd('duplicate-key rule against a real etcd 3.4 (etcdctl txn)', () => {
  let etcd: EtcdProcess;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  // etcdctl txn reads: compares, blank line, success ops, blank line, failure ops, blank line.
  const runTxn = (successLines: string[]) => {
    const r = spawnSync('/usr/bin/etcdctl', ['--endpoints', etcd.endpoint, 'txn'], {
      input: `\n${successLines.join('\n')}\n\n\n`,
      env: { ...process.env, ETCDCTL_API: '3' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    return r.status === 0 ? undefined : /Error: (.*)/.exec(r.stderr)?.[1];
  };
  const cases: ReadonlyArray<readonly [string[], TxnRequest]> = [
    [['put a 1', 'put a 2'], { success: [put('a'), put('a')] }],
    [['del a c', 'put b 2'], { success: [del('a', 'c'), put('b')] }],
    [['del a c', 'put c 2'], { success: [del('a', 'c'), put('c')] }],
    [['del a --from-key', 'put a 2'], { success: [del('a', '\0'), put('a')] }],
    [['del a', 'put a 1'], { success: [del('a'), put('a')] }],
  ];
  test.each(cases)('etcdctl txn %j: same verdict as checkTxnRequest', (lines, req) => {
    const kind = txnError(req);
    expect(runTxn(lines)).toBe(kind === undefined ? undefined : new EtcdError(kind).message);
  });
});
