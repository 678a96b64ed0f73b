/**
 * The multi-member Raft core against the paper (Ongaro & Ousterhout, "In Search of an
 * Understandable Consensus Algorithm") and the thesis (Ongaro 2014): elections §5.2, log
 * replication §5.3, safety §5.4, membership §6, snapshots §7, client reads §8, and the thesis'
 * pre-vote (§9.6), check-quorum (§6.2) and leader transfer (§3.10). Every scenario runs on the
 * in-process Cluster, whose safety checkers (one leader per term, log matching, committed entries
 * never change, leader completeness, ReadIndex freshness) run after every step.
 */
import { ProposalDroppedError } from './errors';
import { seededRandom } from './random';
import { RawNode } from './rawnode';
import { MemoryStorage } from './storage';
import { Cluster } from './testing/cluster';
import { ConfChangeType, Entry, EntryType, MemberId, Message, MessageType, NONE, StateType } from './types';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ids3: MemberId[] = [1n, 2n, 3n];

function cluster(options: Partial<ConstructorParameters<typeof Cluster>[0]> = {}): Cluster {
  return new Cluster({ seed: 1, ids: ids3, ...options });
}

function elect(c: Cluster, id: MemberId): void {
  c.member(id).node.campaign();
  c.processReadies();
  c.deliverAll();
}

function st(c: Cluster, id: MemberId) {
  return c.member(id).node.status();
}

/** Records every message the cluster's members send from now on. */
function spy(c: Cluster): Message[] {
  const seen: Message[] = [];
  const send = c.network.send.bind(c.network);
  c.network.send = (m: Message) => {
    seen.push(m);
    return send(m);
  };
  return seen;
}

/** A storage holding a log with the given terms (entry i+1 has terms[i]) and a hard state. */
function storageWith(terms: number[], hs: { term: number; vote?: MemberId; commit: number }, voters = ids3): MemoryStorage {
  const s = new MemoryStorage({ confState: { voters, learners: [] } });
  const ents: Entry[] = terms.map((term, i) => ({ term, index: i + 1, type: EntryType.Normal, data: enc(`e${i + 1}.t${term}`) }));
  s.append(ents);
  s.setHardState({ term: hs.term, vote: hs.vote ?? NONE, commit: hs.commit });
  return s;
}

function proposeAll(c: Cluster, at: MemberId, n: number): void {
  for (let i = 0; i < n; i++) expect(c.propose(at)).toBe(true);
}

describe('§5.2 leader election', () => {
  test('a follower campaigns after a randomized timeout in [electionTicks, 2·electionTicks)', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 60; seed++) {
      const storage = new MemoryStorage({ confState: { voters: ids3, learners: [] } });
      const node = new RawNode({ id: 1n, storage, electionTicks: 10, heartbeatTicks: 1, random: seededRandom(seed) });
      let ticks = 0;
      while (node.status().state === StateType.Follower) {
        node.tick();
        ticks++;
        expect(ticks).toBeLessThan(20);
      }
      expect(ticks).toBeGreaterThanOrEqual(10);
      seen.add(ticks);
    }
    // Randomized: members rarely time out together (split votes).
    expect(seen.size).toBeGreaterThan(5);
  });

  test('a candidate with votes from a majority becomes leader; the others follow it', () => {
    const c = cluster();
    elect(c, 1n);
    expect(st(c, 1n)).toMatchObject({ state: StateType.Leader, term: 2, lead: 1n });
    for (const id of [2n, 3n]) expect(st(c, id)).toMatchObject({ state: StateType.Follower, term: 2, lead: 1n, vote: 1n });
  });

  test('a member grants at most one vote per term, first come first served', () => {
    const c = cluster();
    c.member(1n).node.campaign();
    c.member(2n).node.campaign();
    c.processReadies();
    c.deliverAll();
    // Both asked in term 2; member 3 voted for whoever asked first (1), 2 voted for itself.
    expect(st(c, 3n)).toMatchObject({ term: 2, vote: 1n });
    expect(st(c, 1n).state).toBe(StateType.Leader);
    expect(st(c, 2n).state).toBe(StateType.Follower);
  });

  test('a candidate that loses with split votes campaigns again after another timeout', () => {
    const c = cluster({ ids: [1n, 2n, 3n, 4n] });
    c.crash(4n);
    c.member(1n).node.campaign();
    c.member(2n).node.campaign();
    c.member(3n).node.campaign();
    c.processReadies();
    c.deliverAll();
    expect(c.leader()).toBeUndefined();
    for (let t = 0; t < 40 && c.leader() === undefined; t++) c.stabilize();
    expect(c.leader()).toBeDefined();
    expect(st(c, c.leader()!).term).toBeGreaterThan(2);
  });

  test('a leader that sees a higher term steps down (§5.1)', () => {
    const c = cluster();
    elect(c, 1n);
    c.network.isolate(1n, ids3);
    elect(c, 2n);
    expect(st(c, 2n)).toMatchObject({ state: StateType.Leader, term: 3 });
    expect(st(c, 1n)).toMatchObject({ state: StateType.Leader, term: 2 });
    c.network.heal();
    c.stabilize();
    expect(st(c, 1n)).toMatchObject({ state: StateType.Follower, term: 3, lead: 2n });
  });

  test('§5.4.1 election restriction: a candidate with a less up-to-date log gets no votes', () => {
    const c = cluster({
      storage: (id) => (id === 2n ? storageWith([1], { term: 1, commit: 1 }) : storageWith([1, 1], { term: 1, commit: 1 })),
    });
    elect(c, 2n);
    expect(st(c, 2n).state).not.toBe(StateType.Leader);
    elect(c, 1n);
    expect(st(c, 1n).state).toBe(StateType.Leader);
  });

  test('pre-vote (thesis §9.6): a member rejoining after a partition does not raise terms or depose the leader', () => {
    for (const preVote of [true, false]) {
      const c = cluster({ preVote });
      elect(c, 1n);
      const term = st(c, 1n).term;
      c.network.isolate(3n, ids3);
      // The majority moves on while 3 is away, so 3 could not win an election.
      proposeAll(c, 1n, 2);
      c.deliverAll();
      for (let t = 0; t < 50; t++) c.tick(3n);
      c.network.heal();
      c.stabilize(3);
      if (preVote) {
        expect(st(c, 3n).term).toBe(term);
        expect(st(c, 1n)).toMatchObject({ state: StateType.Leader, term });
      } else {
        // Without pre-vote the rejoining member's inflated term forces a new election.
        expect(st(c, 1n).term).toBeGreaterThan(term);
      }
    }
  });

  test('check-quorum (thesis §6.2): a leader cut off from a majority steps down within an election timeout', () => {
    const c = cluster({ checkQuorum: true });
    elect(c, 1n);
    c.network.isolate(1n, ids3);
    for (let t = 0; t < 20; t++) c.tick(1n);
    expect(st(c, 1n)).toMatchObject({ state: StateType.Follower, lead: NONE });
  });

  test('check-quorum: a member that hears from its leader ignores vote requests (leader lease)', () => {
    const c = cluster({ checkQuorum: true });
    elect(c, 1n);
    c.stabilize();
    const msgs = spy(c);
    c.member(3n).node.campaign();
    c.processReadies();
    // Deliver only the vote requests.
    for (let m = c.network.take(); m !== undefined; m = c.network.take()) {
      if (m.type === MessageType.MsgVote) c.member(m.to).node.step(m);
    }
    c.processReadies();
    expect(st(c, 2n)).toMatchObject({ term: 2, vote: 1n, lead: 1n });
    expect(msgs.filter((m) => m.type === MessageType.MsgVoteResp)).toEqual([]);
  });
});

describe('§5.3 log replication', () => {
  test('the leader replicates proposals; every member applies the same entries in order', () => {
    const c = cluster();
    elect(c, 1n);
    proposeAll(c, 1n, 5);
    c.deliverAll();
    const values = c.member(1n).sm.values;
    expect(values).toHaveLength(5);
    for (const id of ids3) expect(c.member(id).sm.values).toEqual(values);
  });

  test('a follower forwards proposals to the leader', () => {
    const c = cluster();
    elect(c, 1n);
    expect(c.propose(3n, 'from-3')).toBe(true);
    c.deliverAll();
    for (const id of ids3) expect(c.member(id).sm.values).toEqual(['from-3']);
  });

  test('an entry is committed once a majority holds it, without the slowest member', () => {
    const c = cluster();
    elect(c, 1n);
    c.network.isolate(3n, ids3);
    proposeAll(c, 1n, 3);
    c.deliverAll();
    expect(c.member(2n).sm.values).toHaveLength(3);
    expect(c.member(3n).sm.values).toHaveLength(0);
    c.network.heal();
    c.stabilize(2);
    expect(c.member(3n).sm.values).toHaveLength(3);
  });

  test("a follower's conflicting uncommitted entries are replaced by the leader's (Figure 7)", () => {
    const c = cluster({
      storage: (id) =>
        id === 2n ? storageWith([1, 1, 2, 2, 2, 2], { term: 3, commit: 2 }) : storageWith([1, 1, 3], { term: 3, commit: 2 }),
    });
    elect(c, 1n);
    expect(st(c, 1n).state).toBe(StateType.Leader);
    proposeAll(c, 1n, 1);
    c.stabilize();
    const leaderLog = c.member(1n).storage.entries(1, c.member(1n).storage.lastIndex() + 1);
    expect(c.member(2n).storage.entries(1, c.member(2n).storage.lastIndex() + 1)).toEqual(leaderLog);
    expect(leaderLog.map((e) => e.term)).toEqual([1, 1, 3, 4, 4]);
  });

  test('a rejection hint skips a whole conflicting term at once', () => {
    const long = Array.from({ length: 30 }, () => 2);
    const c = cluster({
      maxSizePerMsgBytes: 0,
      storage: (id) => (id === 2n ? storageWith([1, ...long], { term: 3, commit: 1 }) : storageWith([1, 3], { term: 3, commit: 1 })),
    });
    c.crash(3n);
    const msgs = spy(c);
    elect(c, 1n);
    const rejects = msgs.filter((m) => m.type === MessageType.MsgAppResp && m.reject);
    expect(rejects.length).toBeLessThanOrEqual(2);
    expect(c.member(2n).lastIndex()).toBe(3);
  });

  test('in replicate state at most maxInflightMsgs appends are unacknowledged', () => {
    const c = cluster({ maxInflightMsgs: 2, maxSizePerMsgBytes: 0 });
    elect(c, 1n);
    c.stabilize();
    const msgs = spy(c);
    proposeAll(c, 1n, 6);
    expect(msgs.filter((m) => m.type === MessageType.MsgApp && m.to === 2n)).toHaveLength(2);
    c.deliverAll();
    expect(c.member(2n).sm.values).toHaveLength(6);
  });

  test('§5.4.2 (Figure 8): an entry of an earlier term commits only together with one of the current term', () => {
    const c = cluster({
      maxSizePerMsgBytes: 0,
      maxInflightMsgs: 1,
      storage: (id) => (id === 1n ? storageWith([1, 2], { term: 2, vote: 1n, commit: 1 }) : storageWith([1], { term: 2, commit: 1 })),
    });
    c.crash(3n);
    c.member(1n).node.campaign();
    c.processReadies();
    const commits: number[] = [];
    while (c.deliverOne()) commits.push(st(c, 1n).commit);
    expect(st(c, 1n)).toMatchObject({ state: StateType.Leader, term: 3 });
    // Member 2 held entry 2 (term 2) before it held entry 3 (term 3): a majority had entry 2, but
    // the leader must not commit it by counting (its term is not the leader's).
    expect(commits).not.toContain(2);
    expect(st(c, 1n).commit).toBe(3);
  });
});

describe('§6 membership changes', () => {
  test('a learner receives the log but neither votes, campaigns nor counts toward commit', () => {
    const c = cluster({ learners: [4n] });
    elect(c, 1n);
    proposeAll(c, 1n, 2);
    c.deliverAll();
    expect(c.member(4n).sm.values).toHaveLength(2);
    c.crash(2n);
    c.crash(3n);
    proposeAll(c, 1n, 1);
    c.deliverAll();
    expect(c.member(1n).sm.values).toHaveLength(2);
    c.crash(1n);
    for (let t = 0; t < 50; t++) c.tick(4n);
    expect(st(c, 4n).state).toBe(StateType.Follower);
  });

  test('a new member joins as a learner, catches up, and is promoted to voter', () => {
    const c = cluster();
    elect(c, 1n);
    proposeAll(c, 1n, 3);
    c.deliverAll();
    c.addMember(4n);
    c.member(1n).node.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 4n, context: new Uint8Array(0) });
    c.processReadies();
    c.stabilize(3);
    expect(c.member(4n).confState).toEqual({ voters: ids3, learners: [4n] });
    expect(c.member(4n).sm.values).toEqual(c.member(1n).sm.values);
    c.member(1n).node.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 4n, context: new Uint8Array(0) });
    c.processReadies();
    c.stabilize();
    for (const id of [1n, 2n, 3n, 4n]) expect(c.member(id).confState).toEqual({ voters: [1n, 2n, 3n, 4n], learners: [] });
    // Four voters: a majority is three.
    c.crash(3n);
    c.crash(4n);
    proposeAll(c, 1n, 1);
    c.deliverAll();
    expect(c.member(1n).sm.values).toHaveLength(3);
  });

  test('a removed leader steps down after applying its removal and hands leadership over', () => {
    const c = cluster();
    elect(c, 1n);
    c.member(1n).node.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 1n, context: new Uint8Array(0) });
    c.processReadies();
    c.deliverAll();
    expect(st(c, 1n).state).toBe(StateType.Follower);
    const lead = c.leader();
    expect(lead === 2n || lead === 3n).toBe(true);
    expect(c.member(lead!).confState).toEqual({ voters: [2n, 3n], learners: [] });
    expect(c.propose(lead!, 'after')).toBe(true);
    c.deliverAll();
    expect(c.member(2n).sm.values).toEqual(['after']);
  });

  test('after a member is removed, the remaining majority commits without it', () => {
    const c = cluster();
    elect(c, 1n);
    c.member(1n).node.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 3n, context: new Uint8Array(0) });
    c.processReadies();
    c.stabilize();
    c.crash(3n);
    c.crash(2n);
    // Two voters left (1, 2): with 2 down nothing commits; with 2 up everything does.
    proposeAll(c, 1n, 1);
    c.deliverAll();
    expect(c.member(1n).sm.values).toHaveLength(0);
    c.restart(2n);
    c.stabilize(2);
    expect(c.member(1n).sm.values).toHaveLength(1);
  });
});

describe('§7 log compaction', () => {
  test('a follower missing compacted entries receives a snapshot, then catches up with entries', () => {
    const c = cluster();
    elect(c, 1n);
    c.crash(3n);
    proposeAll(c, 1n, 10);
    c.deliverAll();
    for (const id of [1n, 2n]) expect(c.snapshotAndCompact(id)).toBe(true);
    proposeAll(c, 1n, 2);
    c.deliverAll();
    const msgs = spy(c);
    c.restart(3n);
    c.stabilize(3);
    expect(msgs.some((m) => m.type === MessageType.MsgSnap && m.to === 3n)).toBe(true);
    expect(c.member(3n).storage.snapshot().metadata.index).toBeGreaterThan(0);
    expect(c.member(3n).sm.values).toEqual(c.member(1n).sm.values);
    expect(c.member(3n).sm.values).toHaveLength(12);
  });

  test('a leader whose snapshot failed to send retries after the report', () => {
    const c = cluster();
    elect(c, 1n);
    c.crash(3n);
    proposeAll(c, 1n, 4);
    c.deliverAll();
    c.snapshotAndCompact(1n);
    c.restart(3n);
    c.network.faults = { dropRate: 1, duplicateRate: 0, reorderWindow: 1 };
    c.stabilize(2);
    expect(c.member(3n).sm.values).toHaveLength(0);
    c.network.faults = { dropRate: 0, duplicateRate: 0, reorderWindow: 1 };
    c.stabilize(3);
    expect(c.member(3n).sm.values).toHaveLength(4);
  });
});

describe('§8 client interaction: ReadIndex', () => {
  test('the leader answers a read only after a quorum acknowledged a heartbeat round', () => {
    const c = cluster();
    elect(c, 1n);
    proposeAll(c, 1n, 2);
    c.deliverAll();
    const ctx = c.readIndex(1n);
    expect(c.readStates.get(1n)).toEqual([]);
    c.deliverAll();
    expect(c.readStates.get(1n)).toEqual([{ index: st(c, 1n).commit, ctx }]);
  });

  test('concurrent reads share one heartbeat round', () => {
    const c = cluster();
    elect(c, 1n);
    c.stabilize();
    const msgs = spy(c);
    const ctxs = ['a', 'b', 'c'].map(() => c.readIndex(1n, { process: false }));
    c.processReadies();
    expect(msgs.filter((m) => m.type === MessageType.MsgHeartbeat)).toHaveLength(2);
    c.deliverAll();
    expect(c.readStates.get(1n)!.map((r) => r.ctx)).toEqual(ctxs);
  });

  test("a follower's read is forwarded to the leader and answered with the leader's commit index", () => {
    const c = cluster();
    elect(c, 1n);
    proposeAll(c, 1n, 3);
    c.deliverAll();
    const ctx = c.readIndex(2n);
    c.deliverAll();
    expect(c.readStates.get(2n)).toEqual([{ index: st(c, 1n).commit, ctx }]);
  });

  test('a leader cut off from the majority never answers reads (a newer leader may have committed more)', () => {
    const c = cluster();
    elect(c, 1n);
    c.stabilize();
    c.network.isolate(1n, ids3);
    elect(c, 2n);
    proposeAll(c, 2n, 2);
    c.deliverAll();
    c.readIndex(1n);
    c.stabilize(5);
    expect(c.readStates.get(1n)).toEqual([]);
  });

  test("a new leader defers reads until it has committed an entry of its own term", () => {
    const c = cluster();
    c.member(1n).node.campaign();
    c.processReadies();
    // Deliver the votes only: leader, but its no-op is not yet committed.
    for (let i = 0; i < 4; i++) c.deliverOne();
    expect(st(c, 1n).state).toBe(StateType.Leader);
    const ctx = c.readIndex(1n);
    expect(ctx).toBeDefined();
    c.deliverAll();
    const rs = c.readStates.get(1n)!;
    expect(rs).toHaveLength(1);
    expect(rs[0].index).toBeGreaterThanOrEqual(2);
  });
});

describe('thesis §3.10 leadership transfer', () => {
  test('transferLeader hands leadership to an up-to-date follower in the next term', () => {
    const c = cluster();
    elect(c, 1n);
    c.stabilize();
    c.member(1n).node.transferLeader(2n);
    c.processReadies();
    c.deliverAll();
    expect(st(c, 2n)).toMatchObject({ state: StateType.Leader, term: 3 });
    expect(st(c, 1n)).toMatchObject({ state: StateType.Follower, lead: 2n });
  });

  test('a lagging transferee is caught up first', () => {
    const c = cluster();
    elect(c, 1n);
    c.network.isolate(3n, ids3);
    proposeAll(c, 1n, 3);
    c.deliverAll();
    c.network.heal();
    c.member(1n).node.transferLeader(3n);
    c.processReadies();
    // The leader learns at the next heartbeat response where 3's log ends, and catches it up.
    c.stabilize(2);
    expect(st(c, 3n).state).toBe(StateType.Leader);
    expect(c.member(3n).sm.values).toHaveLength(3);
  });

  test('proposals are refused during a transfer; an unfinished transfer is abandoned after an election timeout', () => {
    const c = cluster();
    elect(c, 1n);
    c.network.isolate(3n, ids3);
    c.member(1n).node.transferLeader(3n);
    c.processReadies();
    expect(() => c.member(1n).node.propose(enc('x'))).toThrow(ProposalDroppedError);
    for (let t = 0; t < 10; t++) c.tick(1n);
    expect(st(c, 1n).leadTransferee).toBe(NONE);
    expect(c.propose(1n)).toBe(true);
  });
});
