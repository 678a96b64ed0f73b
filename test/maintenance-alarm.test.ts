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
