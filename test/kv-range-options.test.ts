/**
 * Range options that etcdctl 3.4 cannot send (it has no --count-only and no min/max revision
 * flags), sent over gRPC with the etcd3 client's raw KV client to real etcd 3.4 and to Cairn, with
 * the responses compared field by field (etcdserverpb.RangeRequest, rpc.proto): count_only,
 * keys_only, min/max_mod_revision, min/max_create_revision (filters applied after the range, while
 * `count` stays the size of the whole range), limit with `more`, sort orders (order NONE with a
 * target other than KEY means ASCEND, as etcd 3.4's applier decides), serializable reads, ranges from a key and over all keys.
 */
import { Etcd3, IRangeRequest, IRangeResponse } from 'etcd3';
import { connect } from './harness/client';
import { Member, startMember } from './harness/member';

let etcd: Member;
let cairn: Member;
let etcdClient: Etcd3;
let cairnClient: Etcd3;

beforeAll(async () => {
  const [e, c] = await Promise.allSettled([startMember({ kind: 'etcd' }), startMember({ kind: 'cairn' })]);
  if (e.status === 'fulfilled') etcd = e.value;
  if (c.status === 'fulfilled') cairn = c.value;
  if (e.status === 'rejected') throw e.reason;
  if (c.status === 'rejected') throw c.reason;
  etcdClient = connect(etcd);
  cairnClient = connect(cairn);
}, 60_000);

afterAll(async () => {
  await Promise.all([etcd?.cleanup(), cairn?.cleanup()]);
});

type Outcome = { ok: unknown } | { error: { code: unknown; message: string } };

/** A response with IDs and terms replaced, revisions relative to `base`, bytes as text. */
function normalizeRange(res: IRangeResponse, base: number): unknown {
  const rel = (rev: string): string => (rev === '0' ? '0' : `R${Number(rev) - base >= 0 ? '+' : ''}${Number(rev) - base}`);
  return {
    header: { ...res.header, cluster_id: '<id>', member_id: '<id>', raft_term: '<term>', revision: rel(res.header.revision) },
    kvs: res.kvs.map((kv) => ({ ...kv, key: kv.key.toString(), value: kv.value.toString(), create_revision: rel(kv.create_revision), mod_revision: rel(kv.mod_revision) })),
    more: res.more,
    count: res.count,
  };
}

async function outcome(base: number, run: () => Promise<IRangeResponse>): Promise<Outcome> {
  try {
    return { ok: normalizeRange(await run(), base) };
  } catch (err) {
    const e = err as { code?: unknown; message?: string; constructor: { name: string } };
    return { error: { code: e.constructor.name, message: e.message ?? String(err) } };
  }
}

/**
 * Seeds the same keys on both servers (through the client), then sends each request to both.
 * Requests may use revisions relative to the base: `rev(k)` gives base + k on each side.
 */
async function compareRanges(
  seed: Array<[string, string]>,
  requests: (p: string, rev: (k: number) => number) => IRangeRequest[],
  p: string,
): Promise<{ etcd: Outcome[]; cairn: Outcome[] }> {
  const side = async (client: Etcd3): Promise<Outcome[]> => {
    const base = Number((await client.kv.range({ key: Buffer.from('__probe__') })).header.revision);
    for (const [k, v] of seed) await client.put(`${p}${k}`).value(v);
    const out: Outcome[] = [];
    for (const req of requests(p, (k) => base + k)) out.push(await outcome(base, () => client.kv.range(req)));
    return out;
  };
  const [e, c] = await Promise.all([side(etcdClient), side(cairnClient)]);
  return { etcd: e, cairn: c };
}

/** Keys created c, a, e, b, d, then a and c rewritten (see test/etcdctl/kv.test.ts). */
const SEED: Array<[string, string]> = [
  ['c', 'v3'],
  ['a', 'v5'],
  ['e', 'v1'],
  ['b', 'v4'],
  ['d', 'v2'],
  ['a', 'v6'],
  ['c', 'v0'],
  ['c', 'v7'],
];

let prefixCount = 0;
const nextPrefix = (): string => `ro${String(++prefixCount).padStart(3, '0')}/`;
const prefixEnd = (p: string): Buffer => {
  const b = Buffer.from(p);
  b[b.length - 1]!++;
  return b;
};
const range = (p: string, extra: IRangeRequest = {}): IRangeRequest => ({ key: Buffer.from(p), range_end: prefixEnd(p), ...extra });

function keysOf(o: Outcome | undefined, p: string): string[] {
  if (o === undefined || !('ok' in o)) throw new Error(`expected a response, got ${JSON.stringify(o)}`);
  return (o.ok as { kvs: Array<{ key: string }> }).kvs.map((kv) => kv.key.slice(p.length));
}

function field(o: Outcome | undefined, name: 'count' | 'more'): unknown {
  if (o === undefined || !('ok' in o)) throw new Error(`expected a response, got ${JSON.stringify(o)}`);
  return (o.ok as Record<string, unknown>)[name];
}

test('count_only returns no kvs and the number of keys in the range', async () => {
  const p = nextPrefix();
  const t = await compareRanges(SEED, (p) => [range(p, { count_only: true }), range(p, { count_only: true, limit: 2 }), { key: Buffer.from(`${p}a`), count_only: true }], p);
  expect(t.cairn).toEqual(t.etcd);
  expect([keysOf(t.etcd[0], p), field(t.etcd[0], 'count')]).toEqual([[], '5']);
  expect(field(t.etcd[2], 'count')).toBe('1');
});

test('keys_only returns keys with revisions and versions but no values', async () => {
  const p = nextPrefix();
  const t = await compareRanges(SEED, (p) => [range(p, { keys_only: true }), range(p, { keys_only: true, limit: 1 })], p);
  expect(t.cairn).toEqual(t.etcd);
  const first = (t.etcd[0] as { ok: { kvs: Array<{ value: string; version: string }> } }).ok.kvs[0]!;
  expect([first.value, first.version]).toEqual(['', '2']);
  expect([field(t.etcd[1], 'more'), field(t.etcd[1], 'count')]).toEqual([true, '5']);
});

test('min/max mod and create revision filters; count stays the size of the whole range', async () => {
  const p = nextPrefix();
  const t = await compareRanges(
    SEED,
    (p, rev) => [
      range(p, { min_mod_revision: rev(5) }),
      range(p, { max_mod_revision: rev(4) }),
      range(p, { min_create_revision: rev(3) }),
      range(p, { max_create_revision: rev(2) }),
      range(p, { min_mod_revision: rev(4), max_mod_revision: rev(6) }),
      range(p, { min_create_revision: rev(2), max_create_revision: rev(4), min_mod_revision: rev(4) }),
      range(p, { min_mod_revision: rev(4), limit: 1 }),
      range(p, { min_mod_revision: rev(4), count_only: true }),
      range(p, { min_mod_revision: rev(4), revision: rev(6) }),
      range(p, { max_create_revision: rev(3), sort_target: 'Mod', sort_order: 'Descend' }),
    ],
    p,
  );
  expect(t.cairn).toEqual(t.etcd);
  expect(keysOf(t.etcd[0], p)).toEqual(['a', 'c', 'd']);
  expect(field(t.etcd[0], 'count')).toBe('5');
  expect(keysOf(t.etcd[1], p)).toEqual(['b', 'e']);
  expect(keysOf(t.etcd[2], p)).toEqual(['b', 'd', 'e']);
  expect(keysOf(t.etcd[3], p)).toEqual(['a', 'c']);
  expect(keysOf(t.etcd[4], p)).toEqual(['a', 'b', 'd']);
  expect(keysOf(t.etcd[5], p)).toEqual(['a', 'b']);
  expect([keysOf(t.etcd[6], p), field(t.etcd[6], 'more'), field(t.etcd[6], 'count')]).toEqual([['a'], true, '5']);
  expect(field(t.etcd[7], 'count')).toBe('5');
  expect(keysOf(t.etcd[8], p)).toEqual(['a', 'b', 'd']);
  expect(keysOf(t.etcd[9], p)).toEqual(['c', 'a', 'e']);
});

test('a sort target other than KEY with order NONE sorts ascending; limit applies after sorting', async () => {
  const p = nextPrefix();
  const t = await compareRanges(
    SEED,
    (p) => [
      range(p, { sort_target: 'Value', sort_order: 'None' }),
      range(p, { sort_target: 'Value', sort_order: 'Ascend', limit: 2 }),
      range(p, { sort_target: 'Create', sort_order: 'Descend', limit: 3 }),
      range(p, { sort_target: 'Key', sort_order: 'Descend', limit: 1 }),
      range(p, { sort_target: 'Version', sort_order: 'Ascend' }),
    ],
    p,
  );
  expect(t.cairn).toEqual(t.etcd);
  expect(keysOf(t.etcd[0], p)).toEqual(['e', 'd', 'b', 'a', 'c']);
  expect([keysOf(t.etcd[1], p), field(t.etcd[1], 'more')]).toEqual([['e', 'd'], true]);
  expect(keysOf(t.etcd[2], p)).toEqual(['d', 'b', 'e']);
  expect(keysOf(t.etcd[3], p)).toEqual(['e']);
  expect(keysOf(t.etcd[4], p)).toEqual(['b', 'd', 'e', 'a', 'c']);
});

test('serializable, past revision, from-key and all-keys ranges; an empty range end < key', async () => {
  const p = nextPrefix();
  const t = await compareRanges(
    SEED,
    (p, rev) => [
      range(p, { serializable: true }),
      range(p, { revision: rev(4) }),
      { key: Buffer.from(`${p}c`), range_end: Buffer.from([0]) },
      { key: Buffer.from(`${p}d`), range_end: Buffer.from(`${p}b`) },
      { key: Buffer.from([0]), range_end: Buffer.from([0]), keys_only: true },
    ],
    p,
  );
  expect(t.cairn).toEqual(t.etcd);
  expect(keysOf(t.etcd[0], p)).toEqual(['a', 'b', 'c', 'd', 'e']);
  expect(keysOf(t.etcd[1], p)).toEqual(['a', 'b', 'c', 'e']);
  expect(keysOf(t.etcd[2], p)).toEqual(['c', 'd', 'e']);
  expect(keysOf(t.etcd[3], p)).toEqual([]);
  expect(Number(field(t.etcd[4], 'count'))).toBeGreaterThanOrEqual(5);
});

test('a future revision and a compacted revision fail with etcd\'s errors', async () => {
  const p = nextPrefix();
  const [e, c] = await Promise.all(
    [etcdClient, cairnClient].map(async (client) => {
      const base = Number((await client.kv.range({ key: Buffer.from('__probe__') })).header.revision);
      for (const [k, v] of SEED) await client.put(`${p}${k}`).value(v);
      await client.kv.compact({ revision: base + 4, physical: true });
      return [
        await outcome(base, () => client.kv.range(range(p, { revision: base + 100 }))),
        await outcome(base, () => client.kv.range(range(p, { revision: base + 3 }))),
        await outcome(base, () => client.kv.range(range(p, { revision: base + 4 }))),
      ];
    }),
  );
  expect(c).toEqual(e);
  expect(e![0]).toEqual({ error: { code: 'GRPCOutOfRangeError', message: expect.stringContaining('etcdserver: mvcc: required revision is a future revision') } });
  expect(e![1]).toEqual({ error: { code: 'GRPCOutOfRangeError', message: expect.stringContaining('etcdserver: mvcc: required revision has been compacted') } });
  expect(keysOf(e![2], p)).toEqual(['a', 'b', 'c', 'e']);
});
