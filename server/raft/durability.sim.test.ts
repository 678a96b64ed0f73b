/**
 * The simulation's disk model (testing/disk.ts) and its durability checks: a crash loses what was
 * not synced and may tear the last write, recovery cuts a torn record as the WAL does, and the
 * host-loop checker catches a host that sends or applies before its fsync. Plus the regression
 * test of the bug the model found: a Ready carrying only a snapshot said `mustSync: false`.
 */
import { RawNode } from './rawnode';
import { seededRandom } from './random';
import { MemoryStorage } from './storage';
import { Entry, EntryType, MessageType } from './types';
import { Disk, entryRecord, hardStateRecord, lastIndexOf, snapshotRecord, termAt } from './testing/disk';
import { Cluster, InvariantViolation } from './testing/cluster';
import { runSimulation } from './testing/simulation';

const enc = new TextEncoder();
const entry = (index: number, term: number, data = `e${index}`): Entry => ({ index, term, type: EntryType.Normal, data: enc.encode(data) });

describe('simulated disk', () => {
  test('synced records survive every crash; unsynced ones may be lost or torn, and recovery cuts a torn one', () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 200; seed++) {
      const disk = new Disk();
      disk.write([entryRecord(entry(1, 1)), entryRecord(entry(2, 1)), hardStateRecord({ term: 1, vote: 1n, commit: 2 })]);
      disk.sync();
      disk.write([entryRecord(entry(3, 2)), entryRecord(entry(4, 2)), hardStateRecord({ term: 2, vote: 1n, commit: 3 })]);
      const loss = disk.crash(seededRandom(seed));
      const st = disk.recover();
      const last = lastIndexOf(st);
      expect(last).toBeGreaterThanOrEqual(2); // the synced part
      expect(last).toBe(2 + Math.min(loss.kept, 2));
      for (let i = 1; i <= last; i++) expect(termAt(st, i)).toBe(i <= 2 ? 1 : 2); // nothing torn is kept
      expect(st.hardState.term).toBe(loss.kept === 3 ? 2 : 1);
      expect(disk.unsynced()).toBe(0);
      outcomes.add(`${loss.kept}${loss.torn ? 't' : ''}`);
    }
    // Every cut point occurs, with and without a torn record after it.
    for (const o of ['0', '0t', '1', '1t', '2', '2t', '3']) expect(outcomes).toContain(o);
  });

  test('an entry at or below the last index replaces the suffix; a local snapshot keeps the entries after it, an installed one drops them', () => {
    const disk = new Disk();
    disk.write([1, 2, 3, 4].map((i) => entryRecord(entry(i, 1))));
    disk.write([entryRecord(entry(3, 2))]);
    disk.sync();
    expect(lastIndexOf(disk.durable())).toBe(3);
    expect(termAt(disk.durable(), 3)).toBe(2);
    const snap = (index: number, term: number) => ({ metadata: { index, term, confState: { voters: [1n], learners: [] } }, data: new Uint8Array(0) });
    disk.write([snapshotRecord(snap(2, 1), false)]);
    disk.sync();
    expect(disk.durable().entries.map((e) => e.index)).toEqual([3]);
    disk.write([snapshotRecord(snap(9, 3), true)]);
    disk.sync();
    expect(disk.durable().entries).toEqual([]);
    expect(lastIndexOf(disk.durable())).toBe(9);
  });

  test('as the WAL: a snapshot marker keeps the entries after it, and an entry right after the marker may not have a lower term', () => {
    const snap = (index: number, term: number) => ({ metadata: { index, term, confState: { voters: [1n], learners: [] } }, data: new Uint8Array(0) });
    const disk = new Disk();
    disk.write([1, 2, 3, 4, 5].map((i) => entryRecord(entry(i, 1))));
    disk.write([snapshotRecord(snap(3, 2), false)]); // a received snapshot recorded as a marker
    disk.sync();
    // Entries 4 and 5 (term 1, from the member's old log) survive after a snapshot of term 2.
    expect(disk.durable().entries.map((e) => `${e.index}/${e.term}`)).toEqual(['4/1', '5/1']);
    const fresh = new Disk();
    fresh.write([snapshotRecord(snap(3, 2), false), entryRecord(entry(4, 1))]);
    expect(() => fresh.sync()).toThrow(/below the snapshot's term/);
  });
});

describe('durability checks of the host loop', () => {
  test('a host that sends before its fsync is caught at the send', () => {
    const c = new Cluster({ seed: 1, ids: [1n, 2n, 3n], hostBug: 'sendBeforeSync' });
    expect(() => {
      for (let t = 0; t < 50; t++) c.tickAll();
    }).toThrow(/before term \d+ is synced|granting a vote not synced|before its vote for itself is synced/);
  });

  test('a host that applies before its fsync is caught at the apply', () => {
    const c = new Cluster({ seed: 1, ids: [1n, 2n, 3n], hostBug: 'applyBeforeSync' });
    c.asyncPersist = true;
    expect(() => {
      for (let t = 0; t < 200; t++) {
        c.tickAll();
        c.deliverAll();
        const lead = c.leader();
        if (lead !== undefined) c.propose(lead);
      }
    }).toThrow(/applies entry \d+ \(term \d+\) before it is synced/);
  });

  test('the correct host passes the same runs', () => {
    const c = new Cluster({ seed: 1, ids: [1n, 2n, 3n] });
    c.asyncPersist = true;
    for (let t = 0; t < 200; t++) {
      c.tickAll();
      c.deliverAll();
      const lead = c.leader();
      if (lead !== undefined) c.propose(lead);
    }
    expect(c.values().length).toBeGreaterThan(50);
  });
});

describe('regression: a snapshot must be synced before it is acknowledged', () => {
  test('a Ready that carries only a snapshot (same term and vote) has mustSync', () => {
    const storage = new MemoryStorage({ confState: { voters: [1n, 2n, 3n], learners: [] } });
    const node = new RawNode({ id: 2n, storage, electionTicks: 10, heartbeatTicks: 1, random: seededRandom(1) });
    const first = node.ready(); // bootstrap: entries 1..3 of term 1
    storage.append(first.entries);
    if (first.hardState !== undefined) storage.setHardState(first.hardState);
    node.advance(first);
    node.step({
      type: MessageType.MsgSnap, from: 1n, to: 2n, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0,
      snapshot: { metadata: { index: 10, term: 1, confState: { voters: [1n, 2n, 3n], learners: [] } }, data: new Uint8Array(0) },
    });
    const rd = node.ready();
    expect(rd.snapshot?.metadata.index).toBe(10);
    expect(rd.hardState?.term ?? 1).toBe(1);
    expect(rd.entries).toEqual([]);
    // Its MsgAppResp acknowledges index 10: the snapshot must be durable before it goes out.
    expect(rd.messages.some((m) => m.type === MessageType.MsgAppResp && m.index === 10 && !m.reject)).toBe(true);
    expect(rd.mustSync).toBe(true);
  });
});

describe('a stale acknowledgement (found by the long simulation, seed 467 of 5 members)', () => {
  test('an ack of term t for entries a term t+1 append truncated in the same Ready is still sent (the durability check exempts acks older than the term on disk)', () => {
    const storage = new MemoryStorage({ confState: { voters: [1n, 2n, 3n], learners: [] } });
    const node = new RawNode({ id: 3n, storage, electionTicks: 10, heartbeatTicks: 1, random: seededRandom(1) });
    const first = node.ready();
    storage.append(first.entries);
    if (first.hardState !== undefined) storage.setHardState(first.hardState);
    node.advance(first);
    const app = (from: bigint, term: number, ents: Entry[]) => ({
      type: MessageType.MsgApp, from, to: 3n, term, logTerm: 1, index: 3, entries: ents, commit: 3, reject: false, rejectHint: 0,
    });
    node.step(app(1n, 2, [entry(4, 2), entry(5, 2), entry(6, 2)]));
    node.step(app(2n, 3, [entry(4, 3)]));
    const rd = node.ready();
    expect(rd.entries.map((e) => `${e.index}/${e.term}`)).toEqual(['4/3']);
    expect(rd.hardState?.term).toBe(3);
    const acks = rd.messages.filter((m) => m.type === MessageType.MsgAppResp && !m.reject).map((m) => `${m.to}:t${m.term}:${m.index}`);
    // The ack to the term-2 leader names index 6, which this member never writes.
    expect(acks).toEqual(['1:t2:6', '2:t3:4']);
  });
});

