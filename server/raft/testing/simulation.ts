/**
 * A seeded whole-cluster simulation. Each seed draws a configuration (pre-vote, check-quorum,
 * message size and in-flight limits, synchronous or group-commit fsync, network fault rates),
 * then runs random actions: ticks; deliveries with drops, duplicates, reordering and delays;
 * proposals and ReadIndex requests at any member; symmetric partitions (one member isolated, a
 * random split) and one-way ones (a member that cannot hear, or cannot be heard, random directed
 * cuts); crashes that lose the unsynced tail of the disk and may tear its last record (also in
 * the middle of a Ready and while handling a message) and restarts from what recovery reads;
 * snapshots with compaction; leader transfers; membership changes (add a learner, promote it, add
 * a voter directly, remove a voter — sometimes the leader itself — or a learner). The Cluster checks its invariants after every
 * action (testing/cluster.ts). Then the network heals, every member restarts, and the cluster
 * must elect a leader and commit a new proposal on every member. The same seed replays exactly.
 */
import { randomInt, seededRandom } from '../random';
import { ConfChangeType, MemberId, StateType } from '../types';
import { Cluster, ClusterOptions } from './cluster';
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
  /** A deliberately broken host loop (checker tests); see ClusterOptions. */
  readonly hostBug?: ClusterOptions['hostBug'];
  /** Check sends and applies against the synced disk (default true). */
  readonly durabilityChecks?: boolean;
  /** How a received snapshot is recorded on disk; see ClusterOptions. */
  readonly installRecord?: ClusterOptions['installRecord'];
}

export interface SimulationResult {
  readonly seed: number;
  readonly committed: number;
  readonly values: number;
  readonly leaders: number;
  readonly stats: { sent: number; dropped: number; duplicated: number; delayed: number; delivered: number };
  /** How often each fault and change happened (the sweep checks that all of them occur). */
  readonly events: SimulationEvents;
}

export interface SimulationEvents {
  crashes: number;
  /** Crashes that lost written but unsynced records. */
  crashesLosingWrites: number;
  /** Torn records recovery cut off. */
  tornCut: number;
  restarts: number;
  symmetricPartitions: number;
  oneWayPartitions: number;
  snapshots: number;
  /** Snapshots a member installed from its leader. */
  snapshotsInstalled: number;
  transfers: number;
  /** Conf changes, counted when first applied anywhere, by kind. */
  learnersAdded: number;
  learnersPromoted: number;
  votersAdded: number;
  membersRemoved: number;
  /** Proposals of the leader's own removal. */
  leaderRemovalsProposed: number;
}

export function noEvents(): SimulationEvents {
  return {
    crashes: 0, crashesLosingWrites: 0, tornCut: 0, restarts: 0, symmetricPartitions: 0, oneWayPartitions: 0, snapshots: 0,
    snapshotsInstalled: 0, transfers: 0, learnersAdded: 0, learnersPromoted: 0, votersAdded: 0, membersRemoved: 0,
    leaderRemovalsProposed: 0,
  };
}

export function addEvents(into: SimulationEvents, e: SimulationEvents): void {
  for (const k of Object.keys(into) as (keyof SimulationEvents)[]) into[k] += e[k];
}

/** Runs one seed; throws (with the seed in the message) when an invariant or liveness fails. */
export function runSimulation(options: SimulationOptions): SimulationResult {
  try {
    return simulate(options);
  } catch (err) {
    const e = err as Error;
    e.message = `seed ${options.seed} (size ${options.size}, steps ${options.steps}): ${e.message}\n` +
      `replay: RAFT_SIM_SEED=${options.seed} RAFT_SIM_SIZE=${options.size} RAFT_SIM_STEPS=${options.steps} npx jest server/raft/simulation.test`;
    throw e;
  }
}

/** Steps per stretch of the run that is stormy or (sometimes) calm. */
const CALM_PERIOD_STEPS = 250;

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
    hostBug: options.hostBug,
    durabilityChecks: options.durabilityChecks,
    installRecord: options.installRecord,
    electionTicks: 10,
    heartbeatTicks: 1 + randomInt(pick, 3),
    maxInflightMsgs: 1 + randomInt(pick, 8),
    // 0: one entry per append message, so logs repair in many small steps.
    maxSizePerMsgBytes: [0, 100, 1024, 1 << 20][randomInt(pick, 4)],
    faults: {
      dropRate: pick() * 0.2,
      duplicateRate: pick() * 0.1,
      reorderWindow: 1 + randomInt(pick, 8),
      delayRate: pick() < 0.25 ? 0 : pick() * 0.3,
      delayTicksMax: 1 + randomInt(pick, 2 * 10),
    },
  });
  if (options.trace !== undefined) cluster.trace = options.trace;
  // Half the seeds persist asynchronously: members keep stepping while their fsync runs, so a
  // crash often finds a written, unsynced Ready on the disk.
  cluster.asyncPersist = pick() < 0.5;
  const rnd = cluster.random;
  const events = noEvents();
  const all = (): MemberId[] => cluster.ids();
  const any = (): MemberId => {
    const xs = all();
    return xs[randomInt(rnd, xs.length)];
  };
  // Spare member ids for membership changes.
  let nextId = BigInt(size + 1);
  let leaders = 0;
  let lastLeader: MemberId | undefined;

  // The run alternates stormy and calm stretches: in a calm one the network is whole and every
  // member up (messages are still dropped, duplicated, reordered and delayed), so the cluster
  // makes progress that the next storm can endanger.
  let calm = false;
  for (let step = 0; step < options.steps; step++) {
    if (step % CALM_PERIOD_STEPS === 0) {
      calm = step > 0 && rnd() < 0.4;
      if (calm) {
        cluster.network.heal();
        for (const m of [...cluster.members.values()]) {
          if (m.crashed) {
            events.restarts++;
            cluster.restart(m.id);
          }
        }
      }
    }
    if (cluster.asyncPersist && rnd() < 0.3) {
      const pending = cluster.live().filter((m) => m.pending !== undefined);
      if (pending.length > 0) cluster.completeReady(pending[randomInt(rnd, pending.length)].id);
    }
    const r = rnd();
    if (r < 0.28) {
      cluster.tickAll();
    } else if (r < 0.66) {
      const n = 1 + randomInt(rnd, 6);
      for (let k = 0; k < n; k++) cluster.deliverOne();
    } else if (r < 0.76) {
      // Mostly at the leader (a client that found it), else anywhere (forwarded or dropped).
      const lead = cluster.leader();
      cluster.propose(lead !== undefined && rnd() < 0.7 ? lead : any());
    } else if (r < 0.79) {
      cluster.readIndex(any());
    } else if (r < 0.82) {
      cluster.tick(any());
    } else if (r < 0.86) {
      if (!calm) changePartition(cluster, all(), rnd, events);
    } else if (r < 0.88) {
      if (!calm && options.crashes !== false) crashOrRestart(cluster, size, events);
    } else if (r < 0.89) {
      // A crash while handling a message, or right after a proposal: the Ready is written but
      // not synced when the power goes.
      if (!calm && options.crashes !== false && cluster.live().length * 2 > size + 1) {
        events.crashes++;
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
    } else if (r < 0.91) {
      if (options.snapshots !== false && cluster.snapshotAndCompact(any())) events.snapshots++;
    } else if (r < 0.92) {
      const lead = cluster.leader();
      if (lead !== undefined) {
        events.transfers++;
        cluster.member(lead).node.transferLeader(any());
      }
      cluster.processReadies();
    } else if (r < 0.935) {
      if (options.membership !== false) nextId = changeMembership(cluster, rnd, nextId, events);
    } else {
      cluster.deliverOne();
    }
    const lead = cluster.leader();
    if (lead !== undefined && lead !== lastLeader) leaders++;
    lastLeader = lead;
  }

  events.restarts += heal(cluster);
  for (const m of cluster.members.values()) {
    events.crashesLosingWrites += m.disk.stats.crashesLosingWrites;
    events.tornCut += m.disk.stats.tornCut;
  }
  const c = cluster.counts;
  events.snapshotsInstalled = c.snapshotsInstalled;
  events.learnersAdded = c.learnersAdded;
  events.learnersPromoted = c.learnersPromoted;
  events.votersAdded = c.votersAdded;
  events.membersRemoved = c.membersRemoved;
  return { seed, committed: cluster.committedLength(), values: cluster.values().length, leaders, stats: { ...cluster.network.stats }, events };
}

/**
 * Heals everything (40%), or cuts the network anew: symmetric — one member isolated, or a random
 * split — or one way — a member that hears nobody (but is heard), one nobody hears (but that
 * hears everyone), or random directed links cut.
 */
function changePartition(cluster: Cluster, ids: MemberId[], rnd: () => number, events: SimulationEvents): void {
  const net = cluster.network;
  const r = rnd();
  net.heal();
  if (r < 0.4) return;
  const victim = ids[randomInt(rnd, ids.length)];
  if (r < 0.55) {
    events.symmetricPartitions++;
    net.isolate(victim, ids);
  } else if (r < 0.7) {
    events.symmetricPartitions++;
    const a: MemberId[] = [];
    const b: MemberId[] = [];
    for (const id of ids) (rnd() < 0.5 ? a : b).push(id);
    net.partition([a, b]);
  } else if (r < 0.8) {
    events.oneWayPartitions++;
    for (const other of ids) if (other !== victim) net.cutOneWay(other, victim); // deaf
  } else if (r < 0.9) {
    events.oneWayPartitions++;
    for (const other of ids) if (other !== victim) net.cutOneWay(victim, other); // mute
  } else {
    events.oneWayPartitions++;
    for (const a of ids) for (const b of ids) if (a !== b && rnd() < 0.25) net.cutOneWay(a, b);
  }
}

function crashOrRestart(cluster: Cluster, size: number, events: SimulationEvents): void {
  const crashed = [...cluster.members.values()].filter((m) => m.crashed);
  if (crashed.length > 0 && (crashed.length * 2 >= size || cluster.random() < 0.5)) {
    events.restarts++;
    cluster.restart(crashed[randomInt(cluster.random, crashed.length)].id);
    return;
  }
  const live = cluster.live();
  // Half the time the power goes where a write is waiting for its fsync, when there is one.
  const writing = live.filter((m) => m.disk.unsynced() > 0);
  const from = writing.length > 0 && cluster.random() < 0.5 ? writing : live;
  events.crashes++;
  cluster.crash(from[randomInt(cluster.random, from.length)].id);
}

/**
 * One membership change through the leader: add a new member as a learner, promote a learner,
 * add a new member directly as a voter, remove a learner, or remove a voter (never below 3
 * voters). Refused proposals (one change at a time) are fine.
 */
function changeMembership(cluster: Cluster, rnd: () => number, nextId: bigint, events: SimulationEvents): bigint {
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
  const newMember = (type: ConfChangeType): bigint => {
    const id = nextId;
    if (!cluster.members.has(id)) cluster.addMember(id);
    return propose(type, id) ? nextId + 1n : nextId;
  };
  const members = cs.voters.length + cs.learners.length;
  if (r < 0.3 && cs.learners.length === 0 && members < 7) return newMember(ConfChangeType.AddLearnerNode);
  if (r < 0.55 && cs.learners.length > 0) {
    propose(ConfChangeType.AddNode, cs.learners[randomInt(rnd, cs.learners.length)]);
  } else if (r < 0.65 && members < 7) {
    return newMember(ConfChangeType.AddNode);
  } else if (r < 0.7 && cs.learners.length > 0) {
    propose(ConfChangeType.RemoveNode, cs.learners[randomInt(rnd, cs.learners.length)]);
  } else if (cs.voters.length > 3) {
    // Sometimes the leader itself: it hands leadership over once it applies its removal.
    const self = rnd() < 0.2;
    const victims = self ? [lead] : cs.voters.filter((v) => v !== lead);
    if (propose(ConfChangeType.RemoveNode, victims[randomInt(rnd, victims.length)]) && self) events.leaderRemovalsProposed++;
  }
  return nextId;
}

/** Bounds the messages delivered per tick while healing (a leader and follower that disagree forever stay cheap). */
const HEAL_DELIVERIES_PER_TICK = 2000;

/** Liveness: with the network healed and everyone up, a leader is elected and commits. */
function heal(cluster: Cluster): number {
  cluster.network.heal();
  cluster.network.faults = { dropRate: 0, duplicateRate: 0, reorderWindow: 1 };
  let restarts = 0;
  for (const m of cluster.members.values()) {
    if (m.crashed) {
      cluster.restart(m.id);
      restarts++;
    }
  }
  const maxTicks = 400;
  let proposed: string | undefined;
  for (let t = 0; t < maxTicks; t++) {
    cluster.tickAll();
    cluster.deliverAll(HEAL_DELIVERIES_PER_TICK);
    const lead = cluster.leader();
    if (lead === undefined) continue;
    if (proposed === undefined || !cluster.values().includes(proposed)) {
      const v = `final.${t}`;
      if (cluster.propose(lead, v)) proposed = v;
      cluster.deliverAll(HEAL_DELIVERIES_PER_TICK);
    }
    if (proposed !== undefined && everyMemberApplied(cluster, proposed)) return restarts;
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
