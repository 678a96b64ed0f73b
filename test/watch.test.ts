/**
 * `etcdctl watch` against real etcd 3.4 and against Cairn: each case starts the same watch on both
 * (from an explicit revision, so that no event can race the watch's creation), makes the same
 * writes, waits for the output it expects (bounded), and compares the normalized transcripts.
 * Covers: key, --prefix, range, --rev in the past, after a compaction, --prev-kv, -w json, interactive
 * watch (several watches on one stream, ended by closing stdin), an empty range; and the `etcd3` npm
 * client's watch API against Cairn. The etcd v3 API under test: etcdserverpb.Watch/Watch (rpc.proto).
 */
import { spawn } from 'node:child_process';
import { connect, disconnect } from './harness/client';
import { ETCDCTL_BIN } from './harness/binaries';
import { etcdctl } from './harness/etcdctl';
import { normalizeOutput } from './harness/normalize';
import { prefixSequence, probe, usePair } from './harness/compare';
import type { Member } from './harness/member';

const pair = usePair();
const nextPrefix = prefixSequence('w');

interface WatchCase {
  /** etcdctl arguments after `watch`, given the revision the case starts at. */
  args: (base: number) => string[];
  /** Commands written to stdin (interactive mode); stdin is closed after `done`. */
  input?: (base: number) => string;
  /** etcdctl commands run once the watch is started. */
  writes: (base: number) => string[][];
  /** The watch has printed all it should. */
  done: (stdout: string) => boolean;
}

interface WatchTranscript {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function runWatch(member: Member, c: WatchCase): Promise<WatchTranscript> {
  const probed = await probe(member);
  if (probed.result === undefined) throw new Error(`probe failed: ${probed.entry.stderr}`);
  const base = probed.result.revision;
  const child = spawn(ETCDCTL_BIN, [`--endpoints=${member.endpoint}`, 'watch', ...c.args(base)], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  if (c.input !== undefined) child.stdin.write(c.input(base));
  for (const w of c.writes(base)) {
    const r = await etcdctl(member.endpoint, w);
    if (r.code !== 0) throw new Error(`etcdctl ${w.join(' ')} failed: ${r.stderr}`);
  }
  const deadline = Date.now() + 10_000;
  while (!c.done(stdout) && exitCode === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  // Let anything that should not come (a duplicate, a late event) show itself.
  await new Promise((r) => setTimeout(r, 300));
  if (exitCode === undefined) {
    if (c.input !== undefined) child.stdin.end();
    else child.kill('SIGTERM');
  }
  let killTimer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<null>((r) => (killTimer = setTimeout(() => (child.kill('SIGKILL'), r(null)), 5_000)))]);
  clearTimeout(killTimer);
  const ctx = { endpoint: member.endpoint, peerUrl: member.peerUrl, identity: probed.result, revisionBase: base };
  return { code: c.input !== undefined || exitCode !== undefined ? code : null, stdout: normalizeOutput(stdout, ctx), stderr: normalizeOutput(stderr, ctx) };
}

async function compareWatch(c: WatchCase): Promise<{ etcd: WatchTranscript; cairn: WatchTranscript }> {
  const [etcd, cairn] = await Promise.all([runWatch(pair.etcd, c), runWatch(pair.cairn, c)]);
  return { etcd, cairn };
}

/** Simple-format watch output with its events stably sorted by key (records start at PUT/DELETE). */
function groupByKey(stdout: string): string {
  const records: string[][] = [];
  for (const line of stdout.split('\n').slice(0, -1)) {
    if (line === 'PUT' || line === 'DELETE' || records.length === 0) records.push([]);
    records[records.length - 1]!.push(line);
  }
  const keyOf = (r: string[]): string => r[1] ?? '';
  return records
    .map((r, i) => ({ r, i }))
    .sort((x, y) => (keyOf(x.r) < keyOf(y.r) ? -1 : keyOf(x.r) > keyOf(y.r) ? 1 : x.i - y.i))
    .map(({ r }) => r.join('\n') + '\n')
    .join('');
}

const lines = (n: number) => (out: string) => out.split('\n').length - 1 >= n;

describe('etcdctl watch, etcd vs Cairn', () => {
  test('watch a key from a revision: puts and a delete on it, none on other keys', async () => {
    const p = nextPrefix();
    const t = await compareWatch({
      args: (base) => [`${p}k`, `--rev=${base + 1}`],
      writes: () => [['put', `${p}k`, 'v1'], ['put', `${p}other`, 'x'], ['put', `${p}k`, 'v2'], ['del', `${p}k`]],
      done: lines(8),
    });
    expect(t.cairn).toEqual(t.etcd);
    expect(t.etcd.stdout).toBe(`PUT\n${p}k\nv1\nPUT\n${p}k\nv2\nDELETE\n${p}k\n\n`);
  }, 30_000);

  test('watch --prefix and a [key, range_end) range', async () => {
    const p = nextPrefix();
    const writes = (): string[][] => [['put', `${p}a`, '1'], ['put', `${p}b`, '2'], ['put', `${p}c`, '3'], ['del', `${p}`, '--prefix']];
    const prefix = await compareWatch({ args: (base) => [p, '--prefix', `--rev=${base + 1}`], writes, done: lines(18) });
    expect(prefix.cairn).toEqual(prefix.etcd);
    const range = await compareWatch({ args: (base) => [`${p}a`, `${p}c`, `--rev=${base + 1}`], writes, done: lines(12) });
    expect(range.cairn).toEqual(range.etcd);
    expect(range.etcd.stdout).not.toContain(`${p}c\n3`);
  }, 30_000);

  test('watch --rev in the past replays history, with --prev-kv, as JSON', async () => {
    const p = nextPrefix();
    const t = await compareWatch({
      args: (base) => [`${p}k`, `--rev=${base - 2}`, '--prev-kv', '-w', 'json'],
      writes: () => [['put', `${p}k`, 'v3']],
      done: (out) => out.includes('v3') || out.includes('"dj'),
    });
    expect(t.cairn).toEqual(t.etcd);
  }, 30_000);

  test('watch --prev-kv shows the previous value of puts and deletes', async () => {
    const p = nextPrefix();
    const t = await compareWatch({
      args: (base) => [`${p}k`, '--prev-kv', `--rev=${base + 1}`],
      writes: () => [['put', `${p}k`, 'v1'], ['put', `${p}k`, 'v2'], ['del', `${p}k`]],
      done: lines(12),
    });
    expect(t.cairn).toEqual(t.etcd);
    expect(t.etcd.stdout).toContain(`PUT\n${p}k\nv1\n${p}k\nv2\n`);
  }, 30_000);

  test('watch from a compacted revision is cancelled with the compaction error', async () => {
    const p = nextPrefix();
    const prep = async (m: Member): Promise<number> => {
      for (let i = 0; i < 3; i++) await etcdctl(m.endpoint, ['put', `${p}k`, String(i)]);
      const probed = await probe(m);
      await etcdctl(m.endpoint, ['compact', String(probed.result!.revision)]);
      return probed.result!.revision;
    };
    await Promise.all([prep(pair.etcd), prep(pair.cairn)]);
    const t = await compareWatch({ args: (base) => [`${p}k`, `--rev=${base - 2}`], writes: () => [], done: () => false });
    expect(t.cairn).toEqual(t.etcd);
    expect(t.etcd.stdout + t.etcd.stderr).toContain('watch was canceled (etcdserver: mvcc: required revision has been compacted)');
  }, 30_000);

  test('an empty range (range_end before key) is refused', async () => {
    const p = nextPrefix();
    const t = await compareWatch({ args: () => [`${p}b`, `${p}a`], writes: () => [], done: () => false });
    expect(t.cairn).toEqual(t.etcd);
    expect(t.etcd.stdout + t.etcd.stderr).toContain('watcher range is empty');
  }, 30_000);

  test('interactive watch: two watches on one stream, ended (cancelled) by closing stdin', async () => {
    const p = nextPrefix();
    const t = await compareWatch({
      args: () => ['-i'],
      input: (base) => `watch ${p}a --rev=${base + 1}\nwatch ${p}b --rev=${base + 1} --prev-kv\n`,
      writes: () => [['put', `${p}a`, '1'], ['put', `${p}b`, '2'], ['put', `${p}b`, '3']],
      done: lines(11),
    });
    // etcdctl prints each interactive watch from its own goroutine: the order between the two
    // watches is not defined (it varies on etcd too), the order within each is.
    const perKey = (w: WatchTranscript): WatchTranscript => ({ ...w, stdout: groupByKey(w.stdout) });
    expect(perKey(t.cairn)).toEqual(perKey(t.etcd));
    expect(groupByKey(t.etcd.stdout)).toBe(`PUT\n${p}a\n1\nPUT\n${p}b\n2\nPUT\n${p}b\n3\n`.replace(`PUT\n${p}b\n3\n`, `PUT\n${p}b\n2\n${p}b\n3\n`));
  }, 30_000);
});

describe('etcd3 npm client watch API against Cairn', () => {
  test('a key watcher gets put and delete events in order; cancel stops them', async () => {
    const client = connect(pair.cairn);
    try {
      const p = nextPrefix();
      const watcher = await client.watch().key(`${p}k`).create();
      const seen: string[] = [];
      watcher.on('put', (kv) => seen.push(`put ${kv.value.toString()}`));
      watcher.on('delete', (kv) => seen.push(`delete ${kv.key.toString()}`));
      await client.put(`${p}k`).value('1');
      await client.put(`${p}k`).value('2');
      await client.delete().key(`${p}k`);
      const deadline = Date.now() + 5_000;
      while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(seen).toEqual(['put 1', 'put 2', `delete ${p}k`]);
      await watcher.cancel();
      await client.put(`${p}k`).value('3');
      await new Promise((r) => setTimeout(r, 200));
      expect(seen.length).toBe(3);
    } finally {
      disconnect(client);
    }
  }, 30_000);

  test('a prefix watcher from a past revision with prev_kv replays then follows a burst without loss or reordering', async () => {
    const client = connect(pair.cairn);
    try {
      const p = nextPrefix();
      const first = await client.put(`${p}0`).value('0').exec();
      for (let i = 1; i < 50; i++) await client.put(`${p}${i % 5}`).value(String(i));
      const from = Number(first.header.revision);
      const watcher = await client.watch().prefix(p).startRevision(String(from)).withPreviousKV().create();
      const revisions: number[] = [];
      watcher.on('put', (kv) => revisions.push(Number(kv.mod_revision)));
      await Promise.all(Array.from({ length: 200 }, (_, i) => client.put(`${p}${i % 7}`).value(`b${i}`)));
      const deadline = Date.now() + 10_000;
      while (revisions.length < 250 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(revisions).toEqual(Array.from({ length: 250 }, (_, i) => from + i));
      await watcher.cancel();
    } finally {
      disconnect(client);
    }
  }, 30_000);
});
