/** MemoryStorage: the Storage conformance suite, and its mutators (append, compact, snapshots). */
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './errors';
import { MemoryStorage } from './storage';
import { storageConformance } from './testing/storage-conformance';
import { Entry, EntryType } from './types';

storageConformance('MemoryStorage', ({ snapshot, entries, hardState }) => {
  const s = new MemoryStorage();
  if (snapshot.metadata.index > 0) s.applySnapshot(snapshot);
  s.append(entries);
  s.setHardState(hardState);
  return s;
});

const e = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array([index]) });
const cs = { voters: [1n], learners: [] };

function storageOf(...terms: number[]): MemoryStorage {
  const s = new MemoryStorage({ confState: cs });
  s.append(terms.map((t, i) => e(i + 1, t)));
  return s;
}

describe('MemoryStorage mutators', () => {
  test('append replaces a conflicting tail and extends the log', () => {
    const s = storageOf(1, 1, 1);
    s.append([e(2, 2), e(3, 2), e(4, 2)]);
    expect(s.entries(1, 5).map((x) => x.term)).toEqual([1, 2, 2, 2]);
  });

  test('append skips entries already compacted', () => {
    const s = storageOf(1, 1, 1, 1);
    s.compact(2);
    s.append([e(1, 1), e(2, 1), e(3, 1), e(4, 1), e(5, 1)]);
    expect(s.firstIndex()).toBe(3);
    expect(s.lastIndex()).toBe(5);
  });

  test('append refuses a gap', () => {
    const s = storageOf(1);
    expect(() => s.append([e(3, 1)])).toThrow(/missing log entry/);
  });

  test('compact keeps the term of the compaction point and drops what precedes it', () => {
    const s = storageOf(1, 2, 3, 4);
    s.compact(2);
    expect(s.firstIndex()).toBe(3);
    expect(s.term(2)).toBe(2);
    expect(() => s.term(1)).toThrow(CompactedError);
    expect(() => s.compact(2)).toThrow(CompactedError);
    expect(() => s.compact(9)).toThrow(/out of bound/);
  });

  test('createSnapshot records index, term and conf state; an older one is refused', () => {
    const s = storageOf(1, 2, 3);
    const snap = s.createSnapshot(2, cs, new Uint8Array([7]));
    expect(snap.metadata).toEqual({ index: 2, term: 2, confState: cs });
    expect(s.snapshot()).toBe(snap);
    expect(() => s.createSnapshot(2, cs, new Uint8Array())).toThrow(SnapshotOutOfDateError);
  });

  test('applySnapshot replaces the whole log; an older snapshot is refused', () => {
    const s = storageOf(1, 1, 1);
    s.applySnapshot({ metadata: { index: 10, term: 4, confState: cs }, data: new Uint8Array() });
    expect([s.firstIndex(), s.lastIndex(), s.term(10)]).toEqual([11, 10, 4]);
    expect(() => s.entries(11, 11)).toThrow(UnavailableError);
    expect(() => s.applySnapshot({ metadata: { index: 5, term: 4, confState: cs }, data: new Uint8Array() })).toThrow(
      SnapshotOutOfDateError,
    );
  });
});
