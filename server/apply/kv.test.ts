// etcd 3.4's KV semantics (server/apply/kv.ts) on the in-memory MvccStore: Range options, Put flags,
// DeleteRange, Txn compares/branches/nesting/atomicity, Compaction, and the header revision of each.
// `etcd 3.4.23:` comments record what the real server answered to the same requests (probed over
// gRPC on a fresh member); kv.etcd.test.ts replays a script against a live etcd when installed.
import { etcdserverpb, Long } from '../../proto';
import { EtcdError, type EtcdErrorKind } from '../errors';
import { CompactedError, FutureRevisionError } from '../mvcc/errors';
import { openMvccStore } from '../mvcc/store';
import type { MvccStore } from '../mvcc/types';
import { KvApplier, type KvApplierOptions, type KvRangeResult } from './kv';

type RangeRequest = etcdserverpb.RangeRequest.$Properties;
type RequestOp = etcdserverpb.RequestOp.$Properties;
type Compare = etcdserverpb.Compare.$Properties;

const b = (s: string) => Buffer.from(s, 'latin1');
const ALL = '\0';
const { SortOrder, SortTarget } = etcdserverpb.RangeRequest;
const { CompareTarget, CompareResult } = etcdserverpb.Compare;

/** Keys of a range result, in order. */
const keys = (r: KvRangeResult) => r.kvs.map((kv) => kv.key.toString('latin1'));

const putOp = (key: string, value = 'v', extra: Partial<etcdserverpb.PutRequest.$Properties> = {}): RequestOp => ({
  requestPut: { key: b(key), value: b(value), ...extra },
});
const getOp = (key: string, extra: Partial<RangeRequest> = {}): RequestOp => ({ requestRange: { key: b(key), ...extra } });
const delOp = (key: string, rangeEnd?: string, extra: Partial<etcdserverpb.DeleteRangeRequest.$Properties> = {}): RequestOp => ({
  requestDeleteRange: { key: b(key), ...(rangeEnd === undefined ? {} : { rangeEnd: b(rangeEnd) }), ...extra },
});
function cmp(key: string, target: etcdserverpb.Compare.CompareTarget, result: etcdserverpb.Compare.CompareResult, against?: number | string, rangeEnd?: string): Compare {
  const c: Compare = { key: b(key), target, result };
  if (rangeEnd !== undefined) c.rangeEnd = b(rangeEnd);
  if (against !== undefined) {
    if (target === CompareTarget.VALUE) c.value = b(String(against));
    else if (target === CompareTarget.VERSION) c.version = Number(against);
    else if (target === CompareTarget.CREATE) c.createRevision = Number(against);
    else if (target === CompareTarget.MOD) c.modRevision = Number(against);
    else c.lease = Number(against);
  }
  return c;
}

function kindOf(f: () => unknown): EtcdErrorKind | string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    if (err instanceof EtcdError) return err.kind;
    return (err as Error).constructor.name;
  }
}

let store: MvccStore;
let kv: KvApplier;
async function setup(opts: Omit<KvApplierOptions, 'store'> = {}): Promise<void> {
  store = await openMvccStore();
  kv = new KvApplier({ store, ...opts });
}
afterEach(async () => {
  await store?.close();
});

/** Revisions 2..8 as in the etcd probes: a b c d e created at 2..6, then c (7) and b (8) updated. */
function seedFiveKeys(): void {
  for (const k of ['a', 'b', 'c', 'd', 'e']) kv.put({ key: b(k), value: b('v' + k) });
  kv.put({ key: b('c'), value: b('zz') });
  kv.put({ key: b('b'), value: b('aa') });
  expect(store.currentRevision).toBe(8);
}

describe('Range', () => {
  beforeEach(async () => {
    await setup();
    seedFiveKeys();
  });
  const range = (req: Omit<RangeRequest, 'key'> & { key?: string }) =>
    kv.rangeResult({ ...req, key: b(req.key ?? 'a'), rangeEnd: req.rangeEnd });
  const all = (req: Omit<RangeRequest, 'key' | 'rangeEnd'> = {}) => range({ ...req, rangeEnd: b(ALL) });

  test('a single key; a missing key gives no kvs, count 0; the header revision is the current revision', () => {
    const one = kv.range({ key: b('c') });
    expect(one).toEqual({
      header: { revision: 8 },
      kvs: [{ key: b('c'), createRevision: 4, modRevision: 7, version: 2, value: b('zz') }],
      count: 1,
    });
    // etcd 3.4.23: range of a missing key → {header:{revision:8}} only.
    expect(kv.range({ key: b('zz') })).toEqual({ header: { revision: 8 } });
  });

  test('range_end: [key, end) half-open, "\\0" means every key ≥ key, key "\\0" + end "\\0" means all', () => {
    expect(keys(range({ rangeEnd: b('c') }))).toEqual(['a', 'b']);
    expect(keys(range({ key: 'c', rangeEnd: b(ALL) }))).toEqual(['c', 'd', 'e']);
    expect(range({ key: ALL, rangeEnd: b(ALL) }).count).toBe(5); // etcd 3.4.23: count 5
    expect(range({ key: ALL }).count).toBe(0); // etcd 3.4.23: the single key "\0": nothing
    // etcd 3.4.23: range_end < key and range_end == key → empty.
    expect(range({ key: 'd', rangeEnd: b('b') })).toMatchObject({ kvs: [], count: 0 });
    expect(range({ key: 'd', rangeEnd: b('d') })).toMatchObject({ kvs: [], count: 0 });
  });

  test('a prefix is [prefix, prefix+1)', () => {
    kv.put({ key: b('pre/1'), value: b('1') });
    kv.put({ key: b('pre/2'), value: b('2') });
    kv.put({ key: b('pre0'), value: b('x') });
    expect(keys(range({ key: 'pre/', rangeEnd: b('pre0') }))).toEqual(['pre/1', 'pre/2']);
  });

  test('limit returns the first keys with more=true and count of the whole range', () => {
    // etcd 3.4.23: limit 2 → a, b, more, count 5; limit 5 → all, no more; limit -1 → no limit.
    expect(all({ limit: 2 })).toMatchObject({ more: true, count: 5 });
    expect(keys(all({ limit: 2 }))).toEqual(['a', 'b']);
    expect(all({ limit: 5 })).toMatchObject({ more: false, count: 5 });
    expect(all({ limit: 6 })).toMatchObject({ more: false, count: 5 });
    expect(keys(all({ limit: -1 }))).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(keys(all({ limit: Long.fromNumber(1) }))).toEqual(['a']);
  });

  test('revision reads the past; the header still carries the current revision', () => {
    // etcd 3.4.23: rev 4 → a(mod 2) b(mod 3) c(mod 4), count 3, header revision 8.
    const r = all({ revision: 4 });
    expect(keys(r)).toEqual(['a', 'b', 'c']);
    expect(r.kvs.map((x) => x.modRevision)).toEqual([2, 3, 4]);
    expect(r).toMatchObject({ count: 3, revision: 8 });
    // etcd 3.4.23: a negative revision reads the current revision.
    expect(all({ revision: -3, countOnly: true }).count).toBe(5);
  });

  test('a future revision fails with FutureRev; a compacted one with Compacted; the compact revision itself is readable', async () => {
    expect(kindOf(() => all({ revision: 9 }))).toBe('FutureRevisionError');
    const { done } = kv.compaction({ revision: 5 });
    await done;
    // etcd 3.4.23: after compact 5, rev 5 → count 4; rev 4 → "required revision has been compacted".
    expect(all({ revision: 5, countOnly: true }).count).toBe(4);
    expect(() => all({ revision: 4 })).toThrow(CompactedError);
  });

  test('keys_only leaves values out; count_only returns only the count, never `more`', () => {
    const r = kv.range({ key: b('a'), rangeEnd: b(ALL), keysOnly: true, limit: 1 });
    expect(r).toEqual({ header: { revision: 8 }, kvs: [{ key: b('a'), createRevision: 2, modRevision: 2, version: 1 }], more: true, count: 5 });
    // etcd 3.4.23: count_only + limit 2 → {count:5} without more; + keys_only → same.
    expect(kv.range({ key: b('a'), rangeEnd: b(ALL), countOnly: true, limit: 2 })).toEqual({ header: { revision: 8 }, count: 5 });
  });

  test('mod/create revision filters apply before the limit; count ignores them (etcd 3.4)', () => {
    // etcd 3.4.23: min_mod 7 → b, c with count 5; + limit 1 → b, more; max_mod 5 + min_create 3 → d;
    // max_mod 6 + limit 1 → a, more; max_create 3 + count_only → count 5.
    expect(all({ minModRevision: 7 })).toMatchObject({ count: 5, more: false });
    expect(keys(all({ minModRevision: 7 }))).toEqual(['b', 'c']);
    expect(keys(all({ minModRevision: 7, limit: 1 }))).toEqual(['b']);
    expect(all({ minModRevision: 7, limit: 1 }).more).toBe(true);
    expect(keys(all({ maxModRevision: 5, minCreateRevision: 3 }))).toEqual(['d']);
    expect(keys(all({ maxModRevision: 6, limit: 1 }))).toEqual(['a']);
    expect(all({ maxModRevision: 6, limit: 1 }).more).toBe(true);
    expect(all({ maxCreateRevision: 3, countOnly: true })).toMatchObject({ count: 5, kvs: [] });
    expect(keys(all({ maxCreateRevision: 3 }))).toEqual(['a', 'b']);
  });

  test('sort: DESCEND/ASCEND on each target, ties in key order', () => {
    // etcd 3.4.23 (mods a2 b8 c7 d5 e6, versions a1 b2 c2 d1 e1, values va aa zz vd ve):
    expect(keys(all({ sortOrder: SortOrder.DESCEND, sortTarget: SortTarget.VALUE }))).toEqual(['c', 'e', 'd', 'a', 'b']);
    expect(keys(all({ sortOrder: SortOrder.ASCEND, sortTarget: SortTarget.VERSION }))).toEqual(['a', 'd', 'e', 'b', 'c']);
    expect(keys(all({ sortOrder: SortOrder.DESCEND, sortTarget: SortTarget.VERSION }))).toEqual(['b', 'c', 'a', 'd', 'e']);
    expect(keys(all({ sortOrder: SortOrder.ASCEND, sortTarget: SortTarget.MOD }))).toEqual(['a', 'd', 'e', 'c', 'b']);
    expect(keys(all({ sortOrder: SortOrder.DESCEND, sortTarget: SortTarget.CREATE }))).toEqual(['e', 'd', 'c', 'b', 'a']);
    expect(keys(all({ sortOrder: SortOrder.ASCEND, sortTarget: SortTarget.KEY }))).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(keys(all({ sortOrder: SortOrder.DESCEND, sortTarget: SortTarget.KEY }))).toEqual(['e', 'd', 'c', 'b', 'a']);
  });

  test('sort with limit sorts the whole range first', () => {
    // etcd 3.4.23: ASCEND MOD limit 2 → a, d, more; DESCEND KEY limit 2 at rev 4 → c, b, more, count 3.
    expect(keys(all({ sortOrder: SortOrder.ASCEND, sortTarget: SortTarget.MOD, limit: 2 }))).toEqual(['a', 'd']);
    const r = all({ sortOrder: SortOrder.DESCEND, limit: 2, revision: 4 });
    expect(keys(r)).toEqual(['c', 'b']);
    expect(r).toMatchObject({ more: true, count: 3 });
  });

  test('sort order NONE with a target other than KEY sorts ascending, over the first limit+1 keys only (etcd 3.4 quirk)', () => {
    // etcd 3.4.23: NONE + MOD → ascending by mod; NONE + MOD + limit 2 → a, c (it reads a, b, c by
    // key, sorts those three by mod, cuts to two), more=true.
    expect(keys(all({ sortTarget: SortTarget.MOD }))).toEqual(['a', 'd', 'e', 'c', 'b']);
    const r = all({ sortTarget: SortTarget.MOD, limit: 2 });
    expect(keys(r)).toEqual(['a', 'c']);
    expect(r.more).toBe(true);
  });

  test('the store array is not reordered by sorting', () => {
    const before = keys(all());
    all({ sortOrder: SortOrder.DESCEND, sortTarget: SortTarget.VALUE });
    expect(keys(all())).toEqual(before);
  });
});

describe('Put', () => {
  beforeEach(async () => {
    await setup();
  });

  test('each put is one new revision; header revision is that revision; versions count puts', () => {
    expect(kv.put({ key: b('k'), value: b('1') })).toEqual({ header: { revision: 2 } });
    expect(kv.put({ key: b('k'), value: b('2') })).toEqual({ header: { revision: 3 } });
    expect(kv.range({ key: b('k') }).kvs).toEqual([{ key: b('k'), createRevision: 2, modRevision: 3, version: 2, value: b('2') }]);
  });

  test('prev_kv returns the key as it was; none for a new key', () => {
    // etcd 3.4.23: put prevKv new key → {header} only.
    expect(kv.put({ key: b('k'), value: b('1'), prevKv: true })).toEqual({ header: { revision: 2 } });
    expect(kv.put({ key: b('k'), value: b('2'), prevKv: true })).toEqual({
      header: { revision: 3 },
      prevKv: { key: b('k'), createRevision: 2, modRevision: 2, version: 1, value: b('1') },
    });
  });

  test('an empty value is stored and read back as no value field', () => {
    kv.put({ key: b('k') });
    expect(kv.range({ key: b('k') }).kvs).toEqual([{ key: b('k'), createRevision: 2, modRevision: 2, version: 1 }]);
  });

  test('ignore_value keeps the current value; on a missing key it is KeyNotFound and writes nothing', () => {
    kv.put({ key: b('k'), value: b('keep') });
    // etcd 3.4.23: put --ignore-value on d → new revision, value kept, version+1, prevKv when asked.
    expect(kv.put({ key: b('k'), ignoreValue: true, prevKv: true })).toMatchObject({ header: { revision: 3 }, prevKv: { value: b('keep') } });
    expect(kv.rangeResult({ key: b('k') }).kvs[0]).toMatchObject({ value: b('keep'), version: 2, modRevision: 3 });
    expect(kindOf(() => kv.put({ key: b('missing'), ignoreValue: true }))).toBe('KeyNotFound');
    expect(store.currentRevision).toBe(3);
  });

  test('a lease that does not exist is LeaseNotFound, checked before ignore_* (standalone put)', () => {
    // etcd 3.4.23: put --lease=123 k v → NotFound "requested lease not found"; the default: no lease exists.
    expect(kindOf(() => kv.put({ key: b('k'), value: b('v'), lease: 123 }))).toBe('LeaseNotFound');
    expect(kindOf(() => kv.put({ key: b('missing'), ignoreValue: true, lease: 123 }))).toBe('LeaseNotFound');
    expect(store.currentRevision).toBe(1);
  });

  test('ignore_lease keeps the current lease; on a missing key it is KeyNotFound', async () => {
    await setup({ leaseExists: (id) => id === 7n || id === 0x7fff_ffff_ffff_fff0n });
    kv.put({ key: b('k'), value: b('1'), lease: 7 });
    kv.put({ key: b('k'), value: b('2'), ignoreLease: true });
    expect(store.read().range(b('k'), undefined).kvs[0]).toMatchObject({ lease: 7n, value: b('2') });
    expect(kv.range({ key: b('k') }).kvs?.[0]?.lease).toEqual(Long.fromNumber(7, false));
    expect(kindOf(() => kv.put({ key: b('missing'), ignoreLease: true }))).toBe('KeyNotFound');
    // A lease ID beyond 2^53 keeps all its bits.
    kv.put({ key: b('big'), value: b('x'), lease: Long.fromString('9223372036854775792') });
    expect(store.read().range(b('big'), undefined).kvs[0].lease).toBe(0x7fff_ffff_ffff_fff0n);
  });

  test('lease hooks: attach when a key gets a lease, detach when it loses or changes it', async () => {
    const calls: string[] = [];
    await setup({
      leaseExists: () => true,
      attachLease: (id, key) => calls.push(`attach ${id} ${key}`),
      detachLease: (id, key) => calls.push(`detach ${id} ${key}`),
    });
    kv.put({ key: b('k'), value: b('1'), lease: 5 });
    kv.put({ key: b('k'), value: b('2'), lease: 5 });
    kv.put({ key: b('k'), value: b('3'), ignoreLease: true });
    kv.put({ key: b('k'), value: b('4'), lease: 6 });
    kv.put({ key: b('k'), value: b('5') });
    kv.put({ key: b('j'), value: b('1'), lease: 6 });
    kv.deleteRange({ key: b('a'), rangeEnd: b('z') });
    expect(calls).toEqual(['attach 5 k', 'detach 5 k', 'attach 6 k', 'detach 6 k', 'attach 6 j', 'detach 6 j']);
  });
});

describe('DeleteRange', () => {
  beforeEach(async () => {
    await setup();
    seedFiveKeys();
  });

  test('deletes every key in the range in one revision, with the count and prev_kvs', () => {
    // etcd 3.4.23: del [a,c) prevKv → deleted 2, prevKvs a, b, header revision = the new revision.
    const r = kv.deleteRange({ key: b('a'), rangeEnd: b('c'), prevKv: true });
    expect(r).toEqual({
      header: { revision: 9 },
      deleted: 2,
      prevKvs: [
        { key: b('a'), createRevision: 2, modRevision: 2, version: 1, value: b('va') },
        { key: b('b'), createRevision: 3, modRevision: 8, version: 2, value: b('aa') },
      ],
    });
    expect(keys(kv.rangeResult({ key: b('a'), rangeEnd: b(ALL) }))).toEqual(['c', 'd', 'e']);
    expect(kv.deleteRange({ key: b('c'), rangeEnd: b(ALL) })).toEqual({ header: { revision: 10 }, deleted: 3 });
  });

  test('deleting nothing does not advance the revision; the header has the current one', () => {
    // etcd 3.4.23: del zzz (prevKv or not) → {header:{revision:11}} at revision 11, no new revision.
    expect(kv.deleteRange({ key: b('zzz'), prevKv: true })).toEqual({ header: { revision: 8 } });
    expect(store.currentRevision).toBe(8);
  });

  test('a re-created key starts a new generation (version 1, new create revision)', () => {
    kv.deleteRange({ key: b('a') });
    kv.put({ key: b('a'), value: b('again') });
    expect(kv.range({ key: b('a') }).kvs).toEqual([{ key: b('a'), createRevision: 10, modRevision: 10, version: 1, value: b('again') }]);
  });
});

describe('Txn: compares', () => {
  beforeEach(async () => {
    await setup({ leaseExists: (id) => id === 9n });
    kv.put({ key: b('a'), value: b('va') }); // 2
    kv.put({ key: b('b'), value: b('vb') }); // 3
    kv.put({ key: b('c'), value: b('vc'), lease: 9 }); // 4
    kv.put({ key: b('b'), value: b('w') }); // 5: b version 2
  });
  const holds = (...compare: Compare[]) => kv.txn({ compare }).succeeded === true;
  const { EQUAL, GREATER, LESS, NOT_EQUAL } = CompareResult;
  const { VERSION, CREATE, MOD, VALUE, LEASE } = CompareTarget;

  test('each target against an existing key, each result', () => {
    expect(holds(cmp('b', VERSION, EQUAL, 2))).toBe(true);
    expect(holds(cmp('b', VERSION, GREATER, 1))).toBe(true);
    expect(holds(cmp('b', VERSION, LESS, 2))).toBe(false);
    expect(holds(cmp('b', VERSION, NOT_EQUAL, 3))).toBe(true);
    expect(holds(cmp('b', CREATE, EQUAL, 3))).toBe(true);
    expect(holds(cmp('b', MOD, EQUAL, 5))).toBe(true);
    expect(holds(cmp('b', MOD, LESS, 5))).toBe(false);
    expect(holds(cmp('a', VALUE, EQUAL, 'va'))).toBe(true);
    expect(holds(cmp('a', VALUE, GREATER, 'u'))).toBe(true); // etcd 3.4.23: "va" > "u" holds
    expect(holds(cmp('a', VALUE, LESS, 'vb'))).toBe(true);
    expect(holds(cmp('a', VALUE, NOT_EQUAL, 'va'))).toBe(false);
    expect(holds(cmp('c', LEASE, EQUAL, 9))).toBe(true);
    expect(holds(cmp('a', LEASE, EQUAL, 0))).toBe(true); // etcd 3.4.23: holds
    expect(holds(cmp('c', LEASE, GREATER, 8))).toBe(true);
    expect(holds({ key: b('c'), target: LEASE, result: EQUAL, lease: Long.fromNumber(9) })).toBe(true);
  });

  test('a missing key compares as version/create/mod/lease 0; a VALUE compare on it always fails', () => {
    // etcd 3.4.23: zz VERSION = 0 holds, MOD < 1 holds, LEASE = 0 holds; VALUE != "x" and VALUE = "" fail.
    expect(holds(cmp('zz', VERSION, EQUAL, 0))).toBe(true);
    expect(holds(cmp('zz', CREATE, EQUAL, 0))).toBe(true);
    expect(holds(cmp('zz', MOD, LESS, 1))).toBe(true);
    expect(holds(cmp('zz', LEASE, EQUAL, 0))).toBe(true);
    expect(holds(cmp('zz', VALUE, NOT_EQUAL, 'x'))).toBe(false);
    expect(holds(cmp('zz', VALUE, EQUAL, ''))).toBe(false);
  });

  test('a compare with range_end must hold for every key in the range', () => {
    // etcd 3.4.23: [a,d) VERSION = 1 fails (b is 2); VERSION > 0 holds; [a,\0) CREATE < 5 holds;
    // the empty range [x,z): VERSION = 0 holds, VALUE = "" fails.
    expect(holds(cmp('a', VERSION, EQUAL, 1, 'd'))).toBe(false);
    expect(holds(cmp('a', VERSION, GREATER, 0, 'd'))).toBe(true);
    expect(holds(cmp('a', CREATE, LESS, 5, ALL))).toBe(true);
    expect(holds(cmp('x', VERSION, EQUAL, 0, 'z'))).toBe(true);
    expect(holds(cmp('x', VALUE, EQUAL, '', 'z'))).toBe(false);
  });

  test('a compare with no target value compares against 0 / empty', () => {
    // etcd 3.4.23: target VERSION without a value, EQUAL → fails (a has version 1);
    // target VALUE without a value, GREATER → holds ("va" > "").
    expect(holds({ key: b('a'), target: VERSION, result: EQUAL })).toBe(false);
    expect(holds({ key: b('a'), target: VALUE, result: GREATER })).toBe(true);
    expect(holds({ key: b('a'), target: VERSION, result: EQUAL, modRevision: 2 })).toBe(false);
  });

  test('all compares must hold; an empty compare list holds', () => {
    expect(holds()).toBe(true); // etcd 3.4.23: empty txn → succeeded, header revision current
    expect(holds(cmp('a', VERSION, EQUAL, 1), cmp('b', VERSION, EQUAL, 2))).toBe(true);
    expect(holds(cmp('a', VERSION, EQUAL, 1), cmp('b', VERSION, EQUAL, 1))).toBe(false);
  });
});

describe('Txn: branches, revisions and responses', () => {
  beforeEach(async () => {
    await setup({ leaseExists: (id) => id === 9n });
    kv.put({ key: b('a'), value: b('va') }); // 2
    kv.put({ key: b('b'), value: b('vb') }); // 3
  });

  test('success runs when compares hold, failure otherwise; responses answer the branch taken, in order', () => {
    const ok = kv.txn({ compare: [cmp('a', CompareTarget.VALUE, CompareResult.EQUAL, 'va')], success: [putOp('x')], failure: [getOp('a')] });
    expect(ok).toEqual({ header: { revision: 4 }, succeeded: true, responses: [{ responsePut: { header: { revision: 4 } } }] });
    const notOk = kv.txn({ compare: [cmp('a', CompareTarget.VALUE, CompareResult.EQUAL, 'no')], success: [putOp('y')], failure: [getOp('a')] });
    expect(notOk).toEqual({
      header: { revision: 4 },
      responses: [{ responseRange: { header: { revision: 4 }, kvs: [{ key: b('a'), createRevision: 2, modRevision: 2, version: 1, value: b('va') }], count: 1 } }],
    });
  });

  test('a write txn is ONE revision; each op header has the revision as of that op', () => {
    // etcd 3.4.23: [range a, put a, range a keys_only, put b prevKv, del c prevKv, range c]: first
    // range header = old revision, every later op = the new one; the txn header = the new one.
    kv.put({ key: b('c'), value: b('vc') }); // 4
    const r = kv.txn({
      success: [getOp('a'), putOp('a', 'n1'), getOp('a', { keysOnly: true }), putOp('b', 'n2', { prevKv: true }), delOp('c', undefined, { prevKv: true }), getOp('c')],
    });
    expect(r).toEqual({
      header: { revision: 5 },
      succeeded: true,
      responses: [
        { responseRange: { header: { revision: 4 }, kvs: [{ key: b('a'), createRevision: 2, modRevision: 2, version: 1, value: b('va') }], count: 1 } },
        { responsePut: { header: { revision: 5 } } },
        { responseRange: { header: { revision: 5 }, kvs: [{ key: b('a'), createRevision: 2, modRevision: 5, version: 2 }], count: 1 } },
        { responsePut: { header: { revision: 5 }, prevKv: { key: b('b'), createRevision: 3, modRevision: 3, version: 1, value: b('vb') } } },
        { responseDeleteRange: { header: { revision: 5 }, deleted: 1, prevKvs: [{ key: b('c'), createRevision: 4, modRevision: 4, version: 1, value: b('vc') }] } },
        { responseRange: { header: { revision: 5 } } },
      ],
    });
    expect(store.currentRevision).toBe(5);
    expect(kv.rangeResult({ key: b('a'), rangeEnd: b('c') }).kvs.map((x) => x.modRevision)).toEqual([5, 5]);
  });

  test('a delete that removes nothing before any write reports the old revision', () => {
    // etcd 3.4.23: [del [c,a) (nothing), put b] → delete header = old revision, put header = new.
    const r = kv.txn({ success: [delOp('c', 'a'), putOp('b')] });
    expect(r.responses).toEqual([{ responseDeleteRange: { header: { revision: 3 } } }, { responsePut: { header: { revision: 4 } } }]);
    expect(r.header).toEqual({ revision: 4 });
  });

  test('a txn that changes nothing does not advance the revision', () => {
    // etcd 3.4.23: a txn whose only op deletes nothing → header = current revision, no new revision.
    expect(kv.txn({ success: [delOp('nothing')] })).toEqual({ header: { revision: 3 }, succeeded: true, responses: [{ responseDeleteRange: { header: { revision: 3 } } }] });
    expect(kv.txn({ success: [getOp('a', { countOnly: true })] })).toEqual({
      header: { revision: 3 },
      succeeded: true,
      responses: [{ responseRange: { header: { revision: 3 }, count: 1 } }],
    });
    expect(kv.txn({})).toEqual({ header: { revision: 3 }, succeeded: true });
    expect(store.currentRevision).toBe(3);
  });

  test('nested txns: their compares see the state before the txn; their header is empty', () => {
    // etcd 3.4.23: nested txn responses carry `header: {}`.
    const r = kv.txn({
      success: [
        putOp('a', 'new'),
        { requestTxn: { compare: [cmp('a', CompareTarget.VALUE, CompareResult.EQUAL, 'va')], success: [getOp('a')], failure: [putOp('x')] } },
        { requestTxn: { compare: [cmp('a', CompareTarget.VALUE, CompareResult.EQUAL, 'new')], success: [putOp('y')], failure: [getOp('b', { keysOnly: true })] } },
      ],
    });
    expect(r).toEqual({
      header: { revision: 4 },
      succeeded: true,
      responses: [
        { responsePut: { header: { revision: 4 } } },
        { responseTxn: { header: {}, succeeded: true, responses: [{ responseRange: { header: { revision: 4 }, kvs: [{ key: b('a'), createRevision: 2, modRevision: 4, version: 2, value: b('new') }], count: 1 } }] } },
        { responseTxn: { header: {}, responses: [{ responseRange: { header: { revision: 4 }, kvs: [{ key: b('b'), createRevision: 3, modRevision: 3, version: 1 }], count: 1 } }] } },
      ],
    });
  });

  test('deeply nested branches follow their own compares', () => {
    const inner = (v: string): RequestOp => ({
      requestTxn: { compare: [cmp('a', CompareTarget.VALUE, CompareResult.EQUAL, v)], success: [putOp(`yes-${v}`)], failure: [putOp(`no-${v}`)] },
    });
    kv.txn({ compare: [cmp('b', CompareTarget.VERSION, CompareResult.EQUAL, 1)], success: [{ requestTxn: { success: [inner('va'), inner('zz')] } }], failure: [putOp('never')] });
    expect(keys(kv.rangeResult({ key: b('n'), rangeEnd: b('z') }))).toEqual(['no-zz', 'yes-va']);
    expect(store.currentRevision).toBe(4);
  });

  test('errors leave the store untouched: a missing lease, ignore_value on a missing key, a future or compacted revision', async () => {
    // etcd 3.4.23: each of these fails the whole txn, and the put before it is not applied.
    expect(kindOf(() => kv.txn({ success: [putOp('a', 'x'), putOp('q', 'v', { lease: 77 })] }))).toBe('LeaseNotFound');
    expect(kindOf(() => kv.txn({ success: [putOp('a', 'x'), putOp('nokey', '', { ignoreValue: true })] }))).toBe('KeyNotFound');
    expect(kindOf(() => kv.txn({ success: [putOp('a', 'x'), getOp('a', { revision: 4 })] }))).toBe('FutureRevisionError');
    // etcd 3.4.23: ignore_value on a missing key with a missing lease → key not found (checked first in a txn).
    expect(kindOf(() => kv.txn({ success: [putOp('nokey', '', { ignoreValue: true, lease: 77 })] }))).toBe('KeyNotFound');
    expect(store.currentRevision).toBe(3);
    expect(kv.range({ key: b('a') }).kvs?.[0]).toMatchObject({ value: b('va') });
    kv.put({ key: b('a'), value: b('2') }); // 4
    await kv.compaction({ revision: 4 }).done;
    expect(() => kv.txn({ success: [putOp('z'), getOp('a', { revision: 3 })] })).toThrow(CompactedError);
    expect(store.currentRevision).toBe(4);
  });

  test("a branch not taken is not checked: a missing lease there is not an error", () => {
    // etcd 3.4.23: success [put q], failure [put q lease 77] with compares holding → OK.
    expect(kv.txn({ success: [putOp('q')], failure: [putOp('q', 'v', { lease: 77 })] }).succeeded).toBe(true);
    expect(kv.txn({ success: [putOp('q', 'v', { lease: 9 })] }).succeeded).toBe(true);
  });

  test('ignore_value after a from-key delete of the same key in one txn writes an empty value instead of failing half-way', () => {
    // The duplicate-key rule lets [delete a.. from-key, put a ignore_value] through (as etcd 3.4 does);
    // etcd 3.4 then panics applying it. Cairn keeps going: the put finds no value to keep.
    const r = kv.txn({ success: [delOp('a', ALL), putOp('a', '', { ignoreValue: true })] });
    expect(r.header).toEqual({ revision: 4 });
    expect(kv.rangeResult({ key: b('a') }).kvs[0]).toMatchObject({ value: b(''), version: 1, createRevision: 4 });
  });

  test('a range at the revision the txn is about to write is a future revision (checked before writing)', () => {
    expect(() => kv.txn({ success: [putOp('a', 'x'), getOp('a', { revision: 4 })] })).toThrow(FutureRevisionError);
  });

  test('every response encodes and decodes with the generated codec', () => {
    const r = kv.txn({
      success: [putOp('a', 'n', { prevKv: true }), getOp('a', { keysOnly: true }), delOp('b', undefined, { prevKv: true }), { requestTxn: { success: [getOp('a')] } }],
    });
    const decoded = etcdserverpb.TxnResponse.decode(etcdserverpb.TxnResponse.encode(r).finish());
    const obj = etcdserverpb.TxnResponse.toObject(decoded, { longs: Number });
    expect(obj.header).toEqual({ revision: 4 });
    expect(obj.succeeded).toBe(true);
    expect(obj.responses.map((x: Record<string, unknown>) => Object.keys(x)[0])).toEqual(['responsePut', 'responseRange', 'responseDeleteRange', 'responseTxn']);
    expect(obj.responses[3].responseTxn.header).toEqual({});
    expect(obj.responses[2].responseDeleteRange).toMatchObject({ deleted: 1, prevKvs: [{ value: b('vb') }] });
  });
});

describe('Compaction', () => {
  beforeEach(async () => {
    await setup();
    kv.put({ key: b('k'), value: b('1') }); // 2
    kv.put({ key: b('k'), value: b('2') }); // 3
    kv.put({ key: b('k'), value: b('3') }); // 4
  });

  test('compacts at a revision; header revision is the current revision; done resolves', async () => {
    const { response, done } = kv.compaction({ revision: 3, physical: true });
    expect(response).toEqual({ header: { revision: 4 } }); // etcd 3.4.23: compact 6 at rev 8 → {header:{revision:8}}
    await expect(done).resolves.toBeUndefined();
    expect(store.compactRevision).toBe(3);
    expect(kv.rangeResult({ key: b('k'), revision: 3 }).kvs[0].value).toEqual(b('2'));
    expect(() => kv.rangeResult({ key: b('k'), revision: 2 })).toThrow(CompactedError);
  });

  test('compacting at or below the compacted revision is Compacted; beyond the current one FutureRev', async () => {
    await kv.compaction({ revision: 3 }).done;
    // etcd 3.4.23: compact 5 twice → "required revision has been compacted"; compact 4 (< 5) too;
    // compact 100 → "required revision is a future revision".
    expect(() => kv.compaction({ revision: 3 })).toThrow(CompactedError);
    expect(() => kv.compaction({ revision: 2 })).toThrow(CompactedError);
    expect(() => kv.compaction({ revision: 5 })).toThrow(FutureRevisionError);
    expect(() => kv.compaction({ revision: Long.fromNumber(4) })).not.toThrow();
  });
});
