/**
 * 3-member mode against real etcd 3.4: the lab starts a cluster with etcd's cluster flags, a load
 * spreads its connections over the members, the members agree on a leader, and the failover
 * scenario kills the leader, measures the time to the next successful write, and restarts it.
 */
import { runFailoverScenario, findLeader } from './lib/failover';
import { Instance, Lab } from './lib/lab';
import { runLoad } from './lib/load';
import { ETCD, expectAllOk } from './testing';

describe('3-member etcd cluster', () => {
  let lab: Lab | undefined;
  let cluster: Instance | undefined;
  beforeAll(async () => {
    lab = Lab.create();
    cluster = await lab.start({ name: 'etcd', launch: { command: ETCD, args: [] } }, 'etcd', { members: 3, extraArgs: ['--heartbeat-interval', '50', '--election-timeout', '500'] });
  });
  afterAll(async () => {
    await lab?.stopAll();
    lab?.remove();
  });

  test('three members on their own ports and data directories, started with the cluster flags', () => {
    const c = cluster!;
    expect(c.members.map((m) => m.name)).toEqual(['etcd-m1', 'etcd-m2', 'etcd-m3']);
    expect(new Set(c.urls).size).toBe(3);
    expect(new Set(c.members.map((m) => m.options!.dataDir)).size).toBe(3);
    expect(c.members[0]!.options!.cluster!.initialCluster.split(',')).toHaveLength(3);
    expect(Lab.pids(c)).toHaveLength(3);
  });

  test('a load over the three members: 300 puts, no error; connections to every member', async () => {
    const result = await runLoad({ url: cluster!.urls, connections: 3, clients: 6, workers: 0, workload: { kind: 'put', keySize: 8, valueSize: 32, keySpace: 100, sequential: true }, stop: { totalRequests: 300 } });
    expectAllOk(result, 300);
  });

  test('failover: kill -9 the leader, a write succeeds again, a new leader is elected, the member comes back', async () => {
    const c = cluster!;
    const before = await findLeader(c);
    const lines: string[] = [];
    const result = await runFailoverScenario(lab!, [c], { repetitions: 1, putRate: 200, steadyMs: 500, recoveryTimeoutMs: 20_000, callTimeoutMs: 3000, heartbeatMs: 50, electionMs: 500, log: (l) => lines.push(l) });
    const sample = result.targets[0]!.samples[0]!;
    expect(sample.killedMember).toBe(c.members[before]!.name);
    expect(sample.recoveryMs).not.toBeNull();
    expect(sample.recoveryMs!).toBeGreaterThan(0);
    expect(sample.recoveryMs!).toBeLessThan(15_000);
    expect(sample.putsBeforeKill).toBeGreaterThan(0);
    expect(sample.newLeader).not.toBeNull();
    expect(sample.newLeader).not.toBe(sample.killedMember);
    expect(lines.join('\n')).toMatch(/\[failover\] 1\/1 etcd: killed leader etcd-m\d, next successful write after \d+ ms/);
    // The killed member was restarted on its data: three members running again.
    expect(c.members.every((m) => m.server!.running)).toBe(true);
    expect(Lab.pids(c)).toHaveLength(3);
  });
});
