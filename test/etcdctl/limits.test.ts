/**
 * Request limits through etcdctl, with etcd and Cairn both started with a small --max-request-bytes
 * (1024) and --max-txn-ops (4). etcd refuses a request whose encoded size exceeds the limit with
 * "etcdserver: request is too large"; a gRPC message beyond limit + 512 KiB is refused by the gRPC
 * layer with ResourceExhausted; a txn with more operations in a branch than allowed fails with
 * "etcdserver: too many operations in txn request". Nothing refused may change the store.
 */
import { errorLine, prefixSequence, Step, Transcripts, usePair } from '../harness/compare';

const pair = usePair({ flags: ['--max-request-bytes=1024', '--max-txn-ops=4'] });
const nextPrefix = prefixSequence('lim');

function expectSame(t: Transcripts): void {
  expect(t.cairn).toEqual(t.etcd);
}

function txn(success: string[], failure: string[] = []): Step {
  return { args: ['txn'], input: `\n${success.map((l) => `${l}\n`).join('')}\n${failure.map((l) => `${l}\n`).join('')}\n` };
}

test('a put well under --max-request-bytes succeeds; one well over it fails with "request is too large"', async () => {
  const p = nextPrefix();
  const t = await pair.compare([
    ['put', `${p}small`, 'x'.repeat(500)],
    ['put', `${p}big`, 'x'.repeat(2000)],
    { args: ['put', `${p}big-stdin`], input: 'y'.repeat(4000) },
    ['get', `${p}`, '--prefix', '--keys-only'],
  ]);
  expectSame(t);
  expect(t.etcd[0]!.stdout).toBe('OK\n');
  for (const entry of t.etcd.slice(1, 3)) {
    expect([entry.code, errorLine(entry)]).toEqual([1, 'Error: etcdserver: request is too large']);
    expect(entry.stderr).toContain('code = InvalidArgument');
  }
  expect(t.etcd[3]!.stdout).toBe(`${p}small\n\n`);
});

test('a message over --max-request-bytes + 512 KiB is refused by the gRPC layer (ResourceExhausted)', async () => {
  const p = nextPrefix();
  const t = await pair.compare([
    { args: ['put', `${p}huge`], input: 'z'.repeat(600_000) },
    ['get', `${p}`, '--prefix', '--keys-only'],
  ]);
  expectSame(t);
  expect(t.etcd[0]!.code).toBe(1);
  // The PutRequest's size: key field (tag, 1-byte length, key) + value field (tag, 3-byte length, value).
  expect(errorLine(t.etcd[0])).toBe(
    `Error: rpc error: code = ResourceExhausted desc = grpc: received message larger than max (${600_000 + 4 + 2 + p.length + 4} vs. ${1024 + 512 * 1024})`,
  );
  expect(t.etcd[1]!.stdout).toBe('');
});

test('a txn of --max-txn-ops operations succeeds; one more fails with "too many operations in txn request"', async () => {
  const p = nextPrefix();
  const four = ['a', 'b', 'c', 'd'].map((k) => `put ${p}${k} 1`);
  const t = await pair.compare([
    txn(four),
    txn([...four, `put ${p}e 1`]),
    txn([`get ${p}a`], [...four, `put ${p}e 1`]),
    txn([`get ${p}a`, `get ${p}b`, `get ${p}c`, `get ${p}d`, `get ${p}e`]),
    ['get', `${p}`, '--prefix', '--keys-only'],
  ]);
  expectSame(t);
  expect(t.etcd[0]!.stdout).toBe('SUCCESS\n\nOK\n\nOK\n\nOK\n\nOK\n');
  for (const entry of t.etcd.slice(1, 4)) {
    expect([entry.code, errorLine(entry)]).toEqual([1, 'Error: etcdserver: too many operations in txn request']);
    expect(entry.stderr).toContain('code = InvalidArgument');
  }
  expect(t.etcd[4]!.stdout).toBe(`${p}a\n\n${p}b\n\n${p}c\n\n${p}d\n\n`);
});

test('a txn whose operations together exceed --max-request-bytes fails with "request is too large"', async () => {
  const p = nextPrefix();
  const v = 'w'.repeat(400);
  const t = await pair.compare([txn([`put ${p}a ${v}`, `put ${p}b ${v}`, `put ${p}c ${v}`]), ['get', `${p}`, '--prefix', '--keys-only']]);
  expectSame(t);
  expect([t.etcd[0]!.code, errorLine(t.etcd[0])]).toEqual([1, 'Error: etcdserver: request is too large']);
  expect(t.etcd[1]!.stdout).toBe('');
});
