/**
 * A 3-member Cairn cluster of real processes on loopback, bootstrapped with --initial-cluster:
 * writes through any member are read from every member; killing the leader with SIGKILL elects a
 * new one and loses no acknowledged write; a restarted member catches up from the log; without a
 * quorum writes fail while serializable reads still answer (the teaching scenario).
 */
import { etcdctl } from './harness/etcdctl';
import { startCluster as startHarnessCluster } from './harness/cluster';
import type { Member } from './harness/member';
import { RawKvClient } from './harness/raw-kv';

const TIMING = ['--heartbeat-interval=50', '--election-timeout=500'];

async function startCluster(): Promise<Member[]> {
  return (await startHarnessCluster({ kind: 'cairn', token: 'cluster-test', names: ['c1', 'c2', 'c3'], flags: TIMING })).members;
}

interface EndpointStatus {
  leader: string;
  raftTerm: string;
  memberId: string;
}

async function status(m: Member): Promise<EndpointStatus | undefined> {
  const r = await etcdctl(m.endpoint, ['endpoint', 'status', '-w', 'json'], { timeoutMs: 5000 });
  if (r.code !== 0) return undefined;
  const s = JSON.parse(r.stdout)[0].Status;
  return { leader: String(s.leader), raftTerm: String(s.raftTerm), memberId: String(s.header.member_id) };
}

/** Retries `fn` until it returns true (bounded). */
async function eventually(fn: () => Promise<boolean>, boundMs: number): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function get(m: Member, key: string, extra: string[] = []): Promise<string | undefined> {
  const r = await etcdctl(m.endpoint, ['get', key, '--print-value-only', ...extra], { timeoutMs: 5000 });
  return r.code === 0 ? r.stdout.replace(/\n$/, '') : undefined;
}

describe('a 3-member cluster', () => {
  let members: Member[] = [];
  afterAll(async () => {
    for (const m of members) await m.cleanup();
  });

  test('elects one leader, replicates writes made through any member, and survives losing its leader', async () => {
    members = await startCluster();

    // One leader, the same on every member.
    expect(await eventually(async () => {
      const all = await Promise.all(members.map(status));
      return all.every((s) => s !== undefined && s.leader !== '0' && s.leader === all[0]!.leader);
    }, 10_000)).toBe(true);
    // Every member publishes its name and client URLs through Raft; any member lists them all.
    const listed = async (m: Member): Promise<string[]> => {
      const r = await etcdctl(m.endpoint, ['member', 'list']);
      return r.stdout.split('\n').filter((l) => l !== '').map((l) => { const f = l.split(', '); return `${f[2]} ${f[4]}`; }).sort();
    };
    const expected = JSON.stringify(members.map((m) => `${m.name} ${m.endpoint}`).sort());
    // Each member applies the publications in its own time: wait until every one lists all three.
    expect(await eventually(async () => (await Promise.all(members.map(listed))).every((l) => JSON.stringify(l) === expected), 10_000)).toBe(true);
    // So etcdctl can find the whole cluster from one endpoint.
    const cluster = await etcdctl(members[0]!.endpoint, ['endpoint', 'status', '--cluster', '-w', 'json']);
    expect(cluster.code).toBe(0);
    const leaders = (JSON.parse(cluster.stdout) as { Status: { leader: number } }[]).map((e) => String(e.Status.leader));
    expect(leaders).toHaveLength(3);
    expect(new Set(leaders).size).toBe(1);

    // Writes through each member are read back (linearizable) from every member.
    for (const [i, m] of members.entries()) expect((await etcdctl(m.endpoint, ['put', `k${i}`, `v${i}`])).stdout).toBe('OK\n');
    for (const m of members) {
      for (let i = 0; i < 3; i++) expect(await get(m, `k${i}`)).toBe(`v${i}`);
    }

    // Kill the leader: the others elect a new one, and every acknowledged write is still there.
    const statuses = await Promise.all(members.map(status));
    const leaderIndex = statuses.findIndex((s) => s !== undefined && s.memberId === s.leader);
    expect(leaderIndex).toBeGreaterThanOrEqual(0);
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await etcdctl(members[(leaderIndex + 1) % 3]!.endpoint, ['put', `before-${i}`, `${i}`]);
      if (r.code === 0) acked.push(`before-${i}`);
    }
    expect(acked).toHaveLength(20);
    await members[leaderIndex]!.kill('SIGKILL');
    const survivors = members.filter((_, i) => i !== leaderIndex);
    const killedAt = Date.now();
    expect(await eventually(async () => (await etcdctl(survivors[0]!.endpoint, ['put', 'after-kill', 'yes'], { timeoutMs: 3000 })).code === 0, 15_000)).toBe(true);
    const failoverMs = Date.now() - killedAt;
    expect(failoverMs).toBeLessThan(15_000);
    for (const key of acked) expect(await get(survivors[1]!, key)).toBe(key.slice('before-'.length));
    const newStatus = (await status(survivors[0]!))!;
    expect(newStatus.leader).not.toBe(statuses[leaderIndex]!.memberId);
    expect(Number(newStatus.raftTerm)).toBeGreaterThan(Number(statuses[leaderIndex]!.raftTerm));

    // The killed member restarts on its data dir and catches up from the log.
    await members[leaderIndex]!.restart();
    expect(await eventually(async () => (await get(members[leaderIndex]!, 'after-kill')) === 'yes', 15_000)).toBe(true);
    for (const key of acked) expect(await get(members[leaderIndex]!, key, ['--consistency=s'])).toBe(key.slice('before-'.length));
  }, 120_000);

  test('killing the leader under a write load loses no acknowledged write', async () => {
    // Runs on the cluster of the previous test (all three members up).
    expect(members).toHaveLength(3);
    const statuses = await Promise.all(members.map(status));
    const leaderIndex = statuses.findIndex((st) => st !== undefined && st.memberId === st.leader);
    expect(leaderIndex).toBeGreaterThanOrEqual(0);
    const followers = members.filter((_, i) => i !== leaderIndex);
    const clients = followers.map((m) => new RawKvClient(m.endpoint, 2000));
    const acked = new Map<string, string>();
    let failed = 0;
    let stop = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const key = `load-${w}-${i}`;
        try {
          await clients[w % clients.length]!.put(key, `v${w}.${i}`);
          acked.set(key, `v${w}.${i}`);
        } catch {
          failed++;
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    await new Promise((r) => setTimeout(r, 600));
    const ackedBeforeKill = acked.size;
    await members[leaderIndex]!.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 3000));
    stop = true;
    await Promise.all(writers);
    for (const c of clients) c.close();
    expect(ackedBeforeKill).toBeGreaterThan(0);
    // Writes went on after a new leader was elected.
    expect(acked.size).toBeGreaterThan(ackedBeforeKill);
    // Every acknowledged write is on the survivors and, after a restart, on the killed member too.
    const all = await etcdctl(followers[0]!.endpoint, ['get', 'load-', '--prefix', '-w', 'json'], { timeoutMs: 10_000 });
    const stored = new Map<string, string>(
      ((JSON.parse(all.stdout).kvs ?? []) as { key: string; value: string }[]).map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64').toString()]),
    );
    const missing = [...acked].filter(([k, v]) => stored.get(k) !== v).map(([k]) => k);
    expect({ acked: acked.size, failed, missing }).toEqual({ acked: acked.size, failed, missing: [] });
    await members[leaderIndex]!.restart();
    const last = [...acked.keys()].pop()!;
    expect(await eventually(async () => (await get(members[leaderIndex]!, last, ['--consistency=s'])) === acked.get(last), 15_000)).toBe(true);
  }, 120_000);

  test('without a quorum, writes fail with a clear error and serializable reads still answer', async () => {
    // Runs on the cluster of the previous test (all three members up again).
    expect(members).toHaveLength(3);
    expect((await etcdctl(members[0]!.endpoint, ['put', 'teaching', '1'])).code).toBe(0);
    expect(await eventually(async () => (await get(members[2]!, 'teaching', ['--consistency=s'])) === '1', 10_000)).toBe(true);
    await members[0]!.stop();
    // One member down: the other two still write and read.
    expect(await eventually(async () => (await etcdctl(members[1]!.endpoint, ['put', 'teaching', '2'], { timeoutMs: 3000 })).code === 0, 15_000)).toBe(true);
    expect(await get(members[2]!, 'teaching')).toBe('2');
    await members[1]!.stop();
    // Quorum lost: a write fails with an error, a serializable read answers from the survivor.
    const put = await etcdctl(members[2]!.endpoint, ['put', 'teaching', '3', '--command-timeout=3s'], { timeoutMs: 20_000 });
    expect(put.code).not.toBe(0);
    expect(put.stderr).toMatch(/etcdserver: (request timed out|no leader)|context deadline exceeded/);
    expect(await get(members[2]!, 'teaching', ['--consistency=s'])).toBe('2');
  }, 120_000);
});
