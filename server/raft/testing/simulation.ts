/**
 * A seeded whole-cluster simulation: random ticks, deliveries, proposals, reads, partitions,
 * crashes and restarts, snapshots with compaction, leader transfers, and membership changes, with
 * the Cluster's safety checks after every action; then the network heals and the cluster must
 * elect a leader and commit a new proposal on every member. The same seed replays exactly.
 */
import { randomInt, seededRandom } from '../random';
import { ConfChangeType, MemberId, StateType } from '../types';
import { Cluster } from './cluster';
import { ProgressState } from '../tracker/progress';

export interface SimulationOptions {
  readonly seed: number;
  readonly size: number;
  /** Actions in the fault phase. */
  readonly steps: number;
  /** Include membership changes (default true). */
  readonly membership?: boolean;
  /** Include crashes (default true). */
  readonly crashes?: boolean;
  /** Include snapshots (default true). */
  readonly snapshots?: boolean;
  /** Collects the cluster's event trace (debugging). */
  readonly trace?: string[];
}

export interface SimulationResult {
  readonly seed: number;
  readonly committed: number;
  readonly values: number;
  readonly leaders: number;
  readonly stats: { sent: number; dropped: number; duplicated: number; delivered: number };
}

/** Runs one seed; throws (with the seed in the message) when an invariant or liveness fails. */
export function runSimulation(options: SimulationOptions): SimulationResult {
  try {
    return simulate(options);
  } catch (err) {
    const e = err as Error;
    e.message = `seed ${options.seed} (size ${options.size}, steps ${options.steps}): ${e.message}\n` +
      `replay: RAFT_SIM_SEED=${options.seed} RAFT_SIM_SIZE=${options.size} npx jest server/raft/simulation`;
    throw e;
  }
}

function simulate(options: SimulationOptions): SimulationResult {
  const { seed, size } = options;
  const ids: MemberId[] = [];
  for (let i = 1; i <= size; i++) ids.push(BigInt(i));
  // Every seed draws its own configuration, so the seeds cover all combinations.
  const pick = seededRandom(seed ^ 0x2545f491);
  const preVote = pick() < 0.5;
  const checkQuorum = pick() < 0.5;
  const cluster = new Cluster({
    seed,
    ids,
    preVote,
    checkQuorum,
    electionTicks: 10,
    heartbeatTicks: 1 + randomInt(pick, 3),
    maxInflightMsgs: 1 + randomInt(pick, 8),
    // 0: one entry per append message, so logs repair in many small steps.
    maxSizePerMsgBytes: [0, 100, 1024, 1 << 20][randomInt(pick, 4)],
    faults: { dropRate: pick() * 0.2, duplicateRate: pick() * 0.1, reorderWindow: 1 + randomInt(pick, 8) },
  });
  if (options.trace !== undefined) cluster.trace = options.trace;
  // Half the seeds persist asynchronously: members keep stepping while their fsync runs.
  cluster.asyncPersist = pick() < 0.5;
  const rnd = cluster.random;
  const all = (): MemberId[] => cluster.ids();
  const any = (): MemberId => {
    const xs = all();
    return xs[randomInt(rnd, xs.length)];
  };
  // Spare member ids for membership changes.
  let nextId = BigInt(size + 1);
  let leaders = 0;
  let lastLeader: MemberId | undefined;

  for (let step = 0; step < options.steps; step++) {
    if (cluster.asyncPersist && rnd() < 0.3) {
      const pending = cluster.live().filter((m) => m.pending !== undefined);
      if (pending.length > 0) cluster.completeReady(pending[randomInt(rnd, pending.length)].id);
    }
    const r = rnd();
    if (r < 0.3) {
      cluster.tickAll();
    } else if (r < 0.72) {
      const n = 1 + randomInt(rnd, 6);
      for (let k = 0; k < n; k++) cluster.deliverOne();
    } else if (r < 0.8) {
      cluster.propose(any());
    } else if (r < 0.83) {
      cluster.readIndex(any());
    } else if (r < 0.86) {
      cluster.tick(any());
    } else if (r < 0.89) {
      changePartition(cluster, all(), rnd);
    } else if (r < 0.905) {
      if (options.crashes !== false) crashOrRestart(cluster, size);
    } else if (r < 0.91) {
      // A crash while handling a message, or right after a proposal: the Ready is lost.
      if (options.crashes !== false && cluster.live().length * 2 > size + 1) {
        const lead = cluster.leader();
        if (lead !== undefined && rnd() < 0.5) {
          try {
            cluster.member(lead).node.propose(new TextEncoder().encode(`lost.${seed}.${step}`));
          } catch {
            // dropped: fine
          }
          cluster.crashDuringReady(lead);
        } else {
          cluster.deliverOne({ crashReceiver: true });
        }
      }
    } else if (r < 0.93) {
      if (options.snapshots !== false) cluster.snapshotAndCompact(any());
    } else if (r < 0.94) {
      const lead = cluster.leader();
      if (lead !== undefined) cluster.member(lead).node.transferLeader(any());
      cluster.processReadies();
    } else if (r < 0.945) {
      if (options.membership !== false) nextId = changeMembership(cluster, rnd, nextId);
    } else {
      cluster.deliverOne();
    }
    const lead = cluster.leader();
    if (lead !== undefined && lead !== lastLeader) leaders++;
    lastLeader = lead;
  }

  heal(cluster);
  return { seed, committed: cluster.committedLength(), values: cluster.values().length, leaders, stats: { ...cluster.network.stats } };
}

function changePartition(cluster: Cluster, ids: MemberId[], rnd: () => number): void {
  const r = rnd();
  if (r < 0.4) {
    cluster.network.heal();
  } else if (r < 0.7) {
    cluster.network.heal();
    cluster.network.isolate(ids[randomInt(rnd, ids.length)], ids);
  } else {
    const a: MemberId[] = [];
    const b: MemberId[] = [];
    for (const id of ids) (rnd() < 0.5 ? a : b).push(id);
    cluster.network.partition([a, b]);
  }
}

function crashOrRestart(cluster: Cluster, size: number): void {
  const crashed = [...cluster.members.values()].filter((m) => m.crashed);
  if (crashed.length > 0 && (crashed.length * 2 >= size || cluster.random() < 0.5)) {
    cluster.restart(crashed[randomInt(cluster.random, crashed.length)].id);
    return;
  }
  const live = cluster.live();
  cluster.crash(live[randomInt(cluster.random, live.length)].id);
}

/**
 * One membership change through the leader: add a new learner, promote a learner, or remove a
 * member (never below 3 voters). Refused proposals (one change at a time) are fine.
 */
function changeMembership(cluster: Cluster, rnd: () => number, nextId: bigint): bigint {
  const lead = cluster.leader();
  if (lead === undefined) return nextId;
  const leader = cluster.member(lead);
  const cs = leader.confState;
  const r = rnd();
  const propose = (type: ConfChangeType, nodeId: MemberId): boolean => {
    try {
      leader.node.proposeConfChange({ type, nodeId, context: new Uint8Array(0) });
      cluster.processReadies();
      return true;
    } catch {
      return false;
    }
  };
  if (r < 0.4 && cs.learners.length === 0) {
    const id = nextId;
    if (!cluster.members.has(id)) cluster.addMember(id);
    if (propose(ConfChangeType.AddLearnerNode, id)) return nextId + 1n;
  } else if (r < 0.7 && cs.learners.length > 0) {
    propose(ConfChangeType.AddNode, cs.learners[0]);
  } else if (cs.voters.length > 3) {
    const victims = cs.voters.filter((v) => v !== lead);
    propose(ConfChangeType.RemoveNode, victims[randomInt(rnd, victims.length)]);
  }
  return nextId;
}

/** Liveness: with the network healed and everyone up, a leader is elected and commits. */
function heal(cluster: Cluster): void {
  cluster.network.heal();
  cluster.network.faults = { dropRate: 0, duplicateRate: 0, reorderWindow: 1 };
  for (const m of cluster.members.values()) if (m.crashed) cluster.restart(m.id);
  const maxTicks = 400;
  let proposed: string | undefined;
  for (let t = 0; t < maxTicks; t++) {
    cluster.tickAll();
    cluster.deliverAll();
    const lead = cluster.leader();
    if (lead === undefined) continue;
    if (proposed === undefined || !cluster.values().includes(proposed)) {
      const v = `final.${t}`;
      if (cluster.propose(lead, v)) proposed = v;
      cluster.deliverAll();
    }
    if (proposed !== undefined && everyMemberApplied(cluster, proposed)) return;
  }
  const status = [...cluster.members.values()].map((m) => {
    const s = m.node.status();
    const progress = s.progress === undefined ? '' :
      ' progress {' + [...s.progress].map(([id, p]) => `${id}: m${p.match} n${p.next} ${ProgressState[p.state]}${p.recentActive ? '' : ' inactive'}`).join(', ') + '}';
    return `${m.id}:${StateType[s.state]} t${s.term} c${s.commit} a${s.applied} last ${m.lastIndex()} first ${m.storage.firstIndex()} lead ${s.lead} voters [${m.confState.voters}] learners [${m.confState.learners}]${progress}`;
  });
  throw new Error(`no progress after healing for ${maxTicks} ticks (proposed ${proposed}); ${status.join('; ')}`);
}

function everyMemberApplied(cluster: Cluster, value: string): boolean {
  const lead = cluster.leader();
  if (lead === undefined) return false;
  const cs = cluster.member(lead).confState;
  for (const id of [...cs.voters, ...cs.learners]) {
    const m = cluster.member(id);
    if (!m.sm.values.includes(value)) return false;
  }
  return true;
}
