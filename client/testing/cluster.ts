/**
 * A 3-member cluster of real processes on loopback (Cairn or etcd 3.4, bootstrapped together with
 * `--initial-cluster`) for the SDK's failover tests, and the helpers those tests share: which member
 * leads, waiting for a leader, killing and restarting members.
 */
import { freePorts } from '../../test/harness/ports';
import { Member, MemberKind, startMember } from '../../test/harness/member';
import { Client } from '../index';

/**
 * Raft timing of test clusters: 100 ms heartbeats and a 1 s election timeout. Short enough that a
 * failover takes a second or two, long enough that a loaded 2-core machine does not cause spurious
 * elections (etcd's minimum lease TTL is then ceil(1.5 × 1 s) = 2 s).
 */
export const CLUSTER_TIMING = ['--heartbeat-interval=100', '--election-timeout=1000'];

/** A running cluster. */
export interface TestCluster {
  readonly kind: MemberKind;
  readonly members: readonly Member[];
  /** Every member's client endpoint, in member order. */
  endpoints(): string[];
  /**
   * The index of the member every running member agrees leads (bounded wait).
   * @throws Error when the running members do not agree on a running leader within `timeoutMs`.
   */
  leader(timeoutMs?: number): Promise<number>;
  /** Stops every member and removes the data directories. */
  cleanup(): Promise<void>;
}

/** Starts `size` members of `kind` bootstrapped as one cluster (plus `flags`) and waits until they agree on a leader. */
export async function startCluster(kind: MemberKind, token: string, size = 3, flags: readonly string[] = []): Promise<TestCluster> {
  const ports = await freePorts(size);
  const names = Array.from({ length: size }, (_, i) => `${token}-${i + 1}`);
  const peer = (i: number): string => `http://127.0.0.1:${ports[i]}`;
  const initialCluster = names.map((n, i) => `${n}=${peer(i)}`).join(',');
  const started = await Promise.allSettled(
    names.map((name, i) =>
      startMember({
        kind,
        name,
        flags: [
          `--listen-peer-urls=${peer(i)}`,
          `--initial-advertise-peer-urls=${peer(i)}`,
          `--initial-cluster=${initialCluster}`,
          `--initial-cluster-token=${token}`,
          '--initial-cluster-state=new',
          ...CLUSTER_TIMING,
          ...flags,
        ],
        readyTimeoutMs: 30_000,
      }),
    ),
  );
  const members = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    for (const m of members) await m.cleanup();
    throw failed.reason;
  }
  const cluster: TestCluster = {
    kind,
    members,
    endpoints: () => members.map((m) => m.endpoint),
    leader: (timeoutMs = 20_000) => findLeader(members, timeoutMs),
    cleanup: async () => {
      for (const m of members) await m.cleanup();
    },
  };
  await cluster.leader();
  // etcd serves clients only once a member's name and client URLs are published through Raft;
  // a Cairn member serves before that. Wait until every member lists every member's client URL,
  // so member lists read by tests are complete.
  const expected = JSON.stringify(members.map((m) => m.endpoint).sort());
  const deadline = Date.now() + 20_000;
  for (;;) {
    const lists = await Promise.all(members.map((m) => memberClientUrls(m)));
    if (lists.every((l) => JSON.stringify(l) === expected)) break;
    if (Date.now() > deadline) {
      await cluster.cleanup();
      throw new Error(`members did not all list each other's client URLs within 20 s (last: ${JSON.stringify(lists)})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return cluster;
}

/** Every client URL in one member's member list (sorted), or [] when it does not answer. */
async function memberClientUrls(m: Member): Promise<string[]> {
  const c = new Client({ endpoints: [m.endpoint], callTimeoutMs: 2_000, retry: { attemptsMax: 1 } });
  try {
    return (await c.cluster.memberList()).flatMap((x) => x.clientURLs).sort();
  } catch {
    return [];
  } finally {
    c.close();
  }
}

/** Status of one member through a client of its own (undefined when it does not answer). */
async function memberStatus(m: Member): Promise<{ id: bigint; leader: bigint } | undefined> {
  const c = new Client({ endpoints: [m.endpoint], callTimeoutMs: 2_000, retry: { attemptsMax: 1 } });
  try {
    const s = await c.maintenance.status();
    return { id: s.header.memberId, leader: s.leader };
  } catch {
    return undefined;
  } finally {
    c.close();
  }
}

async function findLeader(members: readonly Member[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const running = members.map((m, i) => ({ m, i })).filter(({ m }) => m.running());
    const statuses = await Promise.all(running.map(({ m }) => memberStatus(m)));
    const ids = statuses.map((s) => s?.id);
    const leaders = new Set(statuses.map((s) => s?.leader));
    if (statuses.every((s) => s !== undefined) && leaders.size === 1) {
      const leaderId = statuses[0]!.leader;
      const at = ids.indexOf(leaderId);
      if (leaderId !== 0n && at >= 0) return running[at]!.i;
    }
    last = JSON.stringify(statuses.map((s) => (s === undefined ? 'no answer' : `${s.id.toString(16)}→${s.leader.toString(16)}`)));
    if (Date.now() > deadline) throw new Error(`no agreed leader among the running members within ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
