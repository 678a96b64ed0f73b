/**
 * RawNode with a single voter: election, proposals, Ready/advance, restart from storage and
 * ReadIndex — the host loop's contract (Raft §5.2, §5.3, §8).
 */
import { MemoryStorage } from './storage';
import { RawNode } from './rawnode';
import { seededRandom } from './random';
import { ProposalDroppedError } from './errors';
import { Entry, EntryType, HardState, Ready, StateType } from './types';

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
    applied.push(...rd.committedEntries);
    node.advance(rd);
  }
  return applied;
}

function singleVoter(storage = new MemoryStorage({ confState: { voters: [1n], learners: [] } }), applied?: number) {
  const node = new RawNode({ id: 1n, storage, electionTicks: 10, heartbeatTicks: 1, random: seededRandom(7), ...(applied ? { applied } : {}) });
  return { node, storage };
}

describe('RawNode, single voter', () => {
  test('campaigns after the randomized election timeout [electionTicks, 2·electionTicks) (§5.2)', () => {
    const { node, storage } = singleVoter();
    let ticks = 0;
    while (node.status().state !== StateType.Leader) {
      node.tick();
      ticks++;
      expect(ticks).toBeLessThan(20);
    }
    expect(ticks).toBeGreaterThanOrEqual(10);
    const applied = drain(node, storage);
    expect(node.status()).toMatchObject({ term: 1, vote: 1n, lead: 1n, commit: 1, applied: 1 });
    // The leader's empty entry of its term.
    expect(applied).toEqual([{ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(0) }]);
  });

  test('campaign() elects at once; the first Ready persists term and vote with mustSync', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    const rd = node.ready();
    expect(rd.softState).toEqual({ lead: 1n, state: StateType.Leader });
    expect(rd.hardState).toEqual({ term: 1, vote: 1n, commit: 0 });
    expect(rd.entries.map((e) => e.index)).toEqual([1]);
    expect(rd.mustSync).toBe(true);
    // Nothing is committed before the host persisted it.
    expect(rd.committedEntries).toEqual([]);
    storage.append(rd.entries);
    storage.setHardState(rd.hardState!);
    node.advance(rd);
    const rd2 = node.ready();
    expect(rd2.hardState).toEqual({ term: 1, vote: 1n, commit: 1 });
    expect(rd2.committedEntries.map((e) => e.index)).toEqual([1]);
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
    expect(rd.entries.map((e) => [e.index, e.term, dec(e.data)])).toEqual([[2, 1, 'a'], [3, 1, 'b']]);
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
    expect(node.status()).toMatchObject({ commit: 4, applied: 4 });
    expect(storage.initialState().hardState).toEqual({ term: 1, vote: 1n, commit: 4 });
  });

  test('propose without a leader throws ProposalDroppedError', () => {
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
  });

  test('restart: hard state and log come back; committed entries after `applied` are redelivered', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    drain(node, storage);
    for (const s of ['a', 'b', 'c', 'd']) node.propose(enc(s));
    drain(node, storage);
    const hs: HardState = storage.initialState().hardState;
    expect(hs).toEqual({ term: 1, vote: 1n, commit: 5 });

    const restarted = singleVoter(storage, 3).node;
    expect(restarted.status()).toMatchObject({ term: 1, vote: 1n, commit: 5, applied: 3, state: StateType.Follower });
    const rd = restarted.ready();
    expect(rd.committedEntries.map((e) => dec(e.data))).toEqual(['c', 'd']);
    expect(rd.entries).toEqual([]);
    expect(rd.hardState).toBeUndefined();
    storage.append(rd.entries);
    restarted.advance(rd);
    // It campaigns in a new term and keeps the log.
    restarted.campaign();
    const applied = drain(restarted, storage);
    expect(restarted.status()).toMatchObject({ term: 2, commit: 6, applied: 6, state: StateType.Leader });
    expect(applied.map((e) => [e.index, e.term])).toEqual([[6, 2]]);
  });

  test('ReadIndex answers with the commit index once an entry of the term is committed (§8)', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    // Asked before the no-op commits: answered when it does.
    node.readIndex(enc('early'));
    const readys: Ready[] = [];
    drain(node, storage, [], readys);
    const states = readys.flatMap((r) => r.readStates);
    expect(states.map((s) => [s.index, dec(s.requestCtx)])).toEqual([[1, 'early']]);
    node.propose(enc('x'));
    drain(node, storage);
    node.readIndex(enc('now'));
    expect(node.hasReady()).toBe(true);
    const rd = node.ready();
    expect(rd.readStates.map((s) => [s.index, dec(s.requestCtx)])).toEqual([[2, 'now']]);
    node.advance(rd);
  });

  test('entries of a conf change type carry the encoded change', () => {
    const { node, storage } = singleVoter();
    node.campaign();
    drain(node, storage);
    node.proposeConfChange({ type: 3, nodeId: 2n, context: new Uint8Array(0) });
    const applied = drain(node, storage);
    expect(applied.map((e) => e.type)).toEqual([EntryType.ConfChange]);
  });
});
