/**
 * The space quota and the NOSPACE alarm, defragmentation and move-leader, through etcdctl 3.4 against
 * real etcd 3.4 and against Cairn, both started with `--quota-backend-bytes 1048576`.
 *
 * Each side is filled until a put fails with NoSpace. LevelDB's files grow differently from bbolt's,
 * so the number of puts that fit differs: the test asserts behaviour (the alarm, which requests
 * fail and which still work, restart, disarm after compaction + defrag), not the write count.
 */
import { etcdctl } from './harness/etcdctl';
import { errorLine, prefixSequence, runSequence, usePair, type StepLike, type Transcript } from './harness/compare';
import type { Member } from './harness/member';
import { connect, disconnect } from './harness/client';

const QUOTA = 1024 * 1024;
const pair = usePair({ flags: ['--quota-backend-bytes', String(QUOTA)] });
const nextPrefix = prefixSequence('quota');
const NOSPACE_ERROR = 'Error: etcdserver: mvcc: database space exceeded';
const VALUE = 'a'.repeat(20_000);

/** Puts 20 kB values under `prefix` until one fails; returns how many succeeded. */
async function fillUntilNoSpace(member: Member, prefix: string): Promise<number> {
  const client = connect(member);
  try {
    for (let i = 0; i < 400; i++) {
      try {
        await client.put(`${prefix}k${i}`).value(VALUE);
      } catch (err) {
        expect(String(err)).toContain('database space exceeded');
        return i;
      }
    }
    throw new Error(`${member.kind}: 400 puts of 20 kB fit in a quota of ${QUOTA} bytes`);
  } finally {
    disconnect(client);
  }
}

/** The transcript without etcdctl's retry warnings: exit code, stdout and the error line. */
function essence(t: Transcript): { cmd: string; code: number; stdout: string; error: string }[] {
  return t.map((e) => ({ cmd: e.cmd, code: e.code, stdout: e.stdout, error: e.code === 0 ? '' : errorLine(e) }));
}

async function both(steps: (m: Member) => readonly StepLike[]): Promise<{ etcd: ReturnType<typeof essence>; cairn: ReturnType<typeof essence> }> {
  const opts = { raftIndex: true, version: true, relativeRevisions: false } as const;
  const [etcd, cairn] = await Promise.all([runSequence(pair.etcd, steps(pair.etcd), opts), runSequence(pair.cairn, steps(pair.cairn), opts)]);
  return { etcd: essence(etcd), cairn: essence(cairn) };
}

async function health(member: Member): Promise<{ status: number; health: string }> {
  const res = await fetch(`${member.endpoint}/health`);
  return { status: res.status, health: ((await res.json()) as { health: string }).health };
}

async function revisionOf(member: Member): Promise<number> {
  const res = await etcdctl(member.endpoint, ['endpoint', 'status', '-w', 'json']);
  return Number(/"revision":(\d+)/.exec(res.stdout)![1]);
}

describe('NOSPACE alarm', () => {
  const p = nextPrefix();

  test('writes that grow the store fail once the quota is used up; the alarm is raised', async () => {
    const [etcdFit, cairnFit] = await Promise.all([fillUntilNoSpace(pair.etcd, p), fillUntilNoSpace(pair.cairn, p)]);
    expect(etcdFit).toBeGreaterThan(5);
    expect(cairnFit).toBeGreaterThan(5);
    const t = await both(() => [
      ['alarm', 'list'],
      ['put', `${p}x`, 'y'],
      ['lease', 'grant', '10'],
      { args: ['txn'], input: `\nput ${p}t v\n\n\n` },
      { args: ['txn'], input: `\nget ${p}k1 --keys-only\n\n\n` },
      ['get', `${p}k1`, '--keys-only'],
      ['del', `${p}k1`],
      ['endpoint', 'status'],
      ['move-leader', '1234'],
      ['defrag'],
    ]);
    expect(t.cairn).toEqual(t.etcd);
    expect(t.etcd[0]!.stdout).toBe('memberID:<member-id> alarm:NOSPACE \n');
    expect(t.etcd[1]!.error).toBe(NOSPACE_ERROR);
    expect(t.etcd[2]!.error).toBe('Error: failed to grant lease (etcdserver: mvcc: database space exceeded)');
    expect(t.etcd[3]!.error).toBe(NOSPACE_ERROR);
    expect(t.etcd[4]!.code).toBe(0);
    expect(t.etcd[6]!.stdout).toBe('1\n');
    expect(t.etcd[7]!.stdout).toMatch(/, memberID:<member-id> alarm:NOSPACE \n$/);
    expect(t.etcd[8]!.error).toBe('Error: etcdserver: bad leader transferee');
    expect(t.etcd[9]!.stdout).toBe('Finished defragmenting etcd member[<client-url>]\n');
    for (const m of [pair.etcd, pair.cairn]) expect((await health(m)).health).toBe('false');
    expect((await health(pair.cairn)).status).toBe(503);
  }, 40_000);

  test('the alarm survives a restart', async () => {
    await Promise.all([pair.etcd.restart(), pair.cairn.restart()]);
    const t = await both(() => [['alarm', 'list'], ['put', `${p}x`, 'y']]);
    expect(t.cairn).toEqual(t.etcd);
    expect(t.etcd[0]!.stdout).toBe('memberID:<member-id> alarm:NOSPACE \n');
    expect(t.etcd[1]!.error).toBe(NOSPACE_ERROR);
  }, 40_000);

  test('after delete, compaction and defrag, disarm clears the alarm and writes work again', async () => {
    await Promise.all(
      [pair.etcd, pair.cairn].map(async (m) => {
        expect((await etcdctl(m.endpoint, ['del', p, '--prefix'])).code).toBe(0);
        const rev = await revisionOf(m);
        expect((await etcdctl(m.endpoint, ['compaction', '--physical', String(rev)])).code).toBe(0);
      }),
    );
    const t = await both(() => [['defrag'], ['alarm', 'disarm'], ['alarm', 'list'], ['alarm', 'disarm'], ['put', `${p}x`, 'y'], ['endpoint', 'status']]);
    expect(t.cairn).toEqual(t.etcd);
    expect(t.etcd[1]!.stdout).toBe('memberID:<member-id> alarm:NOSPACE \n');
    expect(t.etcd[2]!.stdout).toBe('');
    expect(t.etcd[3]!.stdout).toBe('');
    expect(t.etcd[4]!.stdout).toBe('OK\n');
    expect(t.etcd[5]!.stdout).toMatch(/, true, false, <raft-term>, <raft-index>, <raft-applied-index>, \n$/);
    for (const m of [pair.etcd, pair.cairn]) expect(await health(m)).toEqual({ status: 200, health: 'true' });
  }, 40_000);
});

describe('defrag', () => {
  async function dbSize(member: Member): Promise<number> {
    const res = await etcdctl(member.endpoint, ['endpoint', 'status', '-w', 'json']);
    return Number(/"dbSize":(\d+)/.exec(res.stdout)![1]);
  }

  test('after deletes and a compaction, defrag shrinks the reported size; reads are served meanwhile', async () => {
    const p = nextPrefix();
    await Promise.all(
      [pair.etcd, pair.cairn].map(async (m) => {
        const client = connect(m);
        try {
          // Incompressible values, overwritten: 150 × 4 kB of history on 10 keys.
          for (let i = 0; i < 150; i++) await client.put(`${p}k${i % 10}`).value(require('node:crypto').randomBytes(3000).toString('base64'));
        } finally {
          disconnect(client);
        }
        expect((await etcdctl(m.endpoint, ['del', p, '--prefix'])).stdout).toBe('10\n');
        expect((await etcdctl(m.endpoint, ['put', `${p}live`, 'yes'])).code).toBe(0);
        expect((await etcdctl(m.endpoint, ['compaction', '--physical', String(await revisionOf(m))])).code).toBe(0);
        const before = await dbSize(m);
        const [defrag, read] = await Promise.all([etcdctl(m.endpoint, ['defrag']), etcdctl(m.endpoint, ['get', `${p}live`, '--print-value-only'])]);
        expect(defrag.stdout).toBe(`Finished defragmenting etcd member[${m.endpoint}]\n`);
        expect(read.stdout).toBe('yes\n');
        const after = await dbSize(m);
        expect(after).toBeLessThan(before / 2);
      }),
    );
  }, 30_000);
});

describe('move-leader on one member', () => {
  test('to itself succeeds at once; to an unknown member fails', async () => {
    const idOf = async (m: Member): Promise<string> => (await etcdctl(m.endpoint, ['endpoint', 'status'])).stdout.split(', ')[1]!;
    const [etcdId, cairnId] = await Promise.all([idOf(pair.etcd), idOf(pair.cairn)]);
    const t = await both((m) => [['move-leader', m === pair.etcd ? etcdId : cairnId], ['move-leader', 'zz']]);
    const withoutCmd = (x: typeof t.etcd): unknown => x.map(({ cmd: _cmd, ...rest }) => rest);
    expect(withoutCmd(t.cairn)).toEqual(withoutCmd(t.etcd));
    expect(t.etcd[0]!.stdout).toBe('Leadership transferred from <member-id-hex> to <member-id-hex>\n');
  }, 20_000);
});

describe('auto-compaction', () => {
  /** The compact revision hashkv reports, polled until it is at least `atLeast` (bounded). */
  async function compactRevisionReaches(member: Member, atLeast: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    while (Date.now() < deadline) {
      const res = await etcdctl(member.endpoint, ['endpoint', 'hashkv', '-w', 'json']);
      seen = Number(/"compact_revision":(\d+)/.exec(res.stdout)?.[1] ?? 0);
      if (seen >= atLeast) return seen;
      await new Promise((r) => setTimeout(r, 200));
    }
    return seen;
  }

  async function putMany(member: Member, prefix: string, n: number): Promise<void> {
    const client = connect(member);
    try {
      for (let i = 0; i < n; i++) await client.put(`${prefix}k`).value(String(i));
    } finally {
      disconnect(client);
    }
  }

  test('revision mode keeps the last N revisions (check interval from CAIRN_AUTO_COMPACTION_INTERVAL_MS)', async () => {
    const { startMember } = await import('./harness/member');
    const m = await startMember({ kind: 'cairn', flags: ['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '5'], env: { CAIRN_AUTO_COMPACTION_INTERVAL_MS: '200' } });
    try {
      if (m.binaryKind === 'etcd') return; // etcd checks every 5 minutes: nothing to see in a test
      await putMany(m, 'ac1/', 20);
      const rev = await revisionOf(m);
      expect(await compactRevisionReaches(m, rev - 5, 5_000)).toBe(rev - 5);
      const below = await etcdctl(m.endpoint, ['get', 'ac1/k', `--rev=${rev - 6}`]);
      expect(errorLine({ cmd: '', code: below.code, stdout: below.stdout, stderr: below.stderr })).toBe('Error: etcdserver: mvcc: required revision has been compacted');
      expect((await etcdctl(m.endpoint, ['get', 'ac1/k', `--rev=${rev - 5}`, '--print-value-only'])).stdout).toBe('14\n');
    } finally {
      await m.cleanup();
    }
  }, 20_000);

  test('periodic mode with a 2s retention compacts, as etcd does', async () => {
    const { startMember } = await import('./harness/member');
    const flags = ['--auto-compaction-mode', 'periodic', '--auto-compaction-retention', '2s'];
    const members = await Promise.all([startMember({ kind: 'etcd', flags }), startMember({ kind: 'cairn', flags })]);
    try {
      await Promise.all(members.map((m) => putMany(m, 'ac2/', 10)));
      // The first compaction comes one period after start, at the revision recorded then.
      const compacted = await Promise.all(members.map((m) => compactRevisionReaches(m, 2, 8_000)));
      for (const c of compacted) expect(c).toBeGreaterThanOrEqual(2);
    } finally {
      await Promise.all(members.map((m) => m.cleanup()));
    }
  }, 30_000);
});
