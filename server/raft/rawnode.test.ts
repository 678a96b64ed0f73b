/**
 * RawNode with a single voter: bootstrap, election, proposals, Ready/advance, restart from storage
 * and ReadIndex — the host loop's contract (Raft §5.2, §5.3, §8).
 */
import { decodeConfChange } from './confchange';
import { ProposalDroppedError } from './errors';
import { seededRandom } from './random';
import { RawNode } from './rawnode';
import { MemoryStorage } from './storage';
import { ConfChangeType, Entry, EntryType, Ready, StateType } from './types';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A host loop in miniature: persist, (no one to send to), apply, advance. Returns what was applied. */
function drain(node: RawNode, storage: MemoryStorage, applied: Entry[] = [], readys: Ready[] = []): Entry[] {
  for (let guard = 0; node.hasReady(); guard++) {
    expect(guard).toBeLessThan(100);
    const rd = node.ready();
    readys.push(rd);
    if (rd.snapshot) storage.applySnapshot(rd.snapshot);
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) node.applyConfChange(decodeConfChange(e.data));
      applied.push(e);
    }
    node.advance(rd);
  }
  return applied;
}

function singleVoter(storage = new MemoryStorage({ confState: { voters: [1n], learners: [] } }), applied?: number) {
  const node = new RawNode({ id: 1n, storage, electionTicks: 10, heartbeatTicks: 1, random: seededRandom(7), ...(applied ? { applied } : {}) });
  return { node, storage };
}

describe('RawNode, single voter', () => {
  test('a new cluster starts with its membership as committed ConfChange entries of term 1', () => {
    const { node, storage } = singleVoter();
    const rd = node.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: 0n, commit: 1 });
    expect(rd.entries.map((e) => [e.index, e.term, e.type])).toEqual([[1, 1, EntryType.ConfChange]]);
    expect(rd.committedEntries).toEqual(rd.entries);
    expect(decodeConfChange(rd.entries[0].data)).toEqual({ type: ConfChangeType.AddNode, nodeId: 1n, context: new Uint8Array(0) });
    expect(rd.mustSync).toBe(true);
    storage.append(rd.entries);
    storage.setHardState(rd.hardState!);
    expect(node.applyConfChange(decodeConfChange(rd.committedEntries[0].data))).toEqual({ voters: [1n], learners: [] });
    node.advance(rd);
    expect(node.hasReady()).toBe(false);
  });

  test('campaigns after the randomized election timeout [electionTicks, 2·electionTicks) (§5.2)', () => {
    const { node, storage } = singleVoter();
    drain(node, storage);
    let ticks = 0;
    while (node.status().state !== StateType.Leader) {
      node.tick();
      ticks++;
      expect(ticks).toBeLessThan(20);
    }
    expect(ticks).toBeGreaterThanOrEqual(10);
    const applied = drain(node, storage);
    expect(node.status()).toMatchObject({ term: 2, vote: 1n, lead: 1n, commit: 2, applied: 2 });
    // The leader's empty entry of its term.
    expect(applied).toEqual([{ term: 2, index: 2, type: EntryType.Normal, data: new Uint8Array(0) }]);
  });

  test('campaign() elects at once; term and vote are persisted with mustSync before the no-op commits', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    const rd = node.ready();
    expect(rd.softState).toEqual({ lead: 1n, state: StateType.Leader });
    expect(rd.hardState).toEqual({ term: 2, vote: 1n, commit: 1 });
    expect(rd.entries.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 2]]);
    expect(rd.mustSync).toBe(true);
    // The no-op is not committed before the host persisted it.
    expect(rd.committedEntries.map((e) => e.index)).toEqual([1]);
    storage.append(rd.entries);
    storage.setHardState(rd.hardState!);
    node.advance(rd);
    const rd2 = node.ready();
    expect(rd2.hardState).toEqual({ term: 2, vote: 1n, commit: 2 });
    expect(rd2.committedEntries.map((e) => e.index)).toEqual([2]);
    expect(rd2.mustSync).toBe(false);
    node.advance(rd2);
    expect(node.hasReady()).toBe(false);
  });

  test('proposals are appended, persisted, then committed and delivered in order (§5.3)', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    drain(node, storage);
    node.propose(enc('a'));
    node.propose(enc('b'));
    const rd = node.ready();
    expect(rd.entries.map((e) => [e.index, e.term, dec(e.data)])).toEqual([[3, 2, 'a'], [4, 2, 'b']]);
    expect(rd.committedEntries).toEqual([]);
    storage.append(rd.entries);
    node.advance(rd);
    node.propose(enc('c')); // arrives while the host was busy: goes into the next Ready
    const rd2 = node.ready();
    expect(rd2.committedEntries.map((e) => dec(e.data))).toEqual(['a', 'b']);
    expect(rd2.entries.map((e) => dec(e.data))).toEqual(['c']);
    storage.append(rd2.entries);
    storage.setHardState(rd2.hardState!);
    node.advance(rd2);
    expect(drain(node, storage).map((e) => dec(e.data))).toEqual(['c']);
    expect(node.status()).toMatchObject({ commit: 5, applied: 5 });
    expect(storage.initialState().hardState).toEqual({ term: 2, vote: 1n, commit: 5 });
  });

  test('an entry is not committed until the host persisted it (advance without storing it)', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    drain(node, storage);
    node.propose(enc('lost'));
    const rd = node.ready();
    node.advance(rd); // the host "forgot" to append rd.entries to storage
    expect(node.status().commit).toBe(2);
  });

  test('propose and readIndex without a leader throw ProposalDroppedError', () => {
    const { node } = singleVoter();
    expect(() => node.propose(enc('x'))).toThrow(ProposalDroppedError);
    expect(() => node.readIndex(enc('r'))).toThrow(ProposalDroppedError);
  });

  test('ready() twice without advance() is a programmer error; hasReady() is false meanwhile', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    const rd = node.ready();
    expect(node.hasReady()).toBe(false);
    expect(() => node.ready()).toThrow(/before advance/);
    storage.append(rd.entries);
    node.advance(rd);
    expect(node.hasReady()).toBe(true);
    expect(() => node.advance(rd)).toThrow(/not the outstanding/);
  });

  test('restart: hard state and log come back; committed entries after `applied` are redelivered', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    drain(node, storage);
    for (const s of ['a', 'b', 'c', 'd']) node.propose(enc(s));
    drain(node, storage);
    expect(storage.initialState().hardState).toEqual({ term: 2, vote: 1n, commit: 6 });

    const restarted = singleVoter(storage, 4).node;
    expect(restarted.status()).toMatchObject({ term: 2, vote: 1n, commit: 6, applied: 4, state: StateType.Follower });
    const rd = restarted.ready();
    expect(rd.committedEntries.map((e) => dec(e.data))).toEqual(['c', 'd']);
    expect(rd.entries).toEqual([]);
    expect(rd.hardState).toBeUndefined();
    restarted.advance(rd);
    // It campaigns in a new term and keeps the log.
    restarted.campaign();
    const applied = drain(restarted, storage);
    expect(restarted.status()).toMatchObject({ term: 3, commit: 7, applied: 7, state: StateType.Leader });
    expect(applied.map((e) => [e.index, e.term])).toEqual([[7, 3]]);
  });

  test('restart without `applied` redelivers every committed entry, the bootstrap ConfChange included', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    drain(node, storage);
    node.propose(enc('a'));
    drain(node, storage);
    const restarted = singleVoter(storage).node;
    expect(drain(restarted, storage).map((e) => e.index)).toEqual([1, 2, 3]);
  });

  test('ReadIndex answers with the commit index once an entry of the term is committed (§8)', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    // Asked before the no-op commits: answered when it does.
    node.readIndex(enc('early'));
    const readys: Ready[] = [];
    drain(node, storage, [], readys);
    const states = readys.flatMap((r) => r.readStates);
    expect(states.map((s) => [s.index, dec(s.requestCtx)])).toEqual([[2, 'early']]);
    node.propose(enc('x'));
    drain(node, storage);
    node.readIndex(enc('now'));
    expect(node.hasReady()).toBe(true);
    const rd = node.ready();
    expect(rd.readStates.map((s) => [s.index, dec(s.requestCtx)])).toEqual([[3, 'now']]);
    node.advance(rd);
  });

  test('a ConfChange proposal is one at a time: a second is refused until the first is applied (§6)', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    drain(node, storage);
    node.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 2n, context: new Uint8Array(0) });
    expect(() => node.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 3n, context: new Uint8Array(0) })).toThrow(
      ProposalDroppedError,
    );
    const applied = drain(node, storage);
    expect(applied.map((e) => e.type)).toEqual([EntryType.ConfChange]);
    expect(node.status().progress?.get(2n)).toMatchObject({ isLearner: true });
    node.proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 3n, context: new Uint8Array(0) });
  });
});
