/**
 * The Storage conformance suite: every Storage implementation (MemoryStorage, a WAL-backed one)
 * runs it. The factory builds a storage holding `snapshot` followed by `entries`, and `hardState`.
 */
import { CompactedError, UnavailableError } from '../errors';
import { Entry, EntryType, HardState, NONE, Snapshot, Storage } from '../types';

export interface StorageContent {
  readonly snapshot: Snapshot;
  readonly entries: readonly Entry[];
  readonly hardState: HardState;
}

function entry(index: number, term: number, bytes = 8): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(bytes).fill(index & 0xff) };
}

/** Defines jest tests for `make`. */
export function storageConformance(name: string, make: (content: StorageContent) => Storage): void {
  // Snapshot at 3 (term 3), entries 4..6 of terms 4, 5, 5.
  const snapshot: Snapshot = { metadata: { index: 3, term: 3, confState: { voters: [1n, 2n, 3n], learners: [4n] } }, data: new Uint8Array([9]) };
  const entries = [entry(4, 4), entry(5, 5), entry(6, 5)];
  const hardState: HardState = { term: 5, vote: 2n, commit: 5 };
  const storage = (): Storage => make({ snapshot, entries, hardState });

  describe(`Storage conformance: ${name}`, () => {
    test('initialState returns the hard state and the snapshot conf state', () => {
      expect(storage().initialState()).toEqual({ hardState, confState: snapshot.metadata.confState });
    });

    test('firstIndex is the snapshot index + 1, lastIndex the last entry', () => {
      const s = storage();
      expect(s.firstIndex()).toBe(4);
      expect(s.lastIndex()).toBe(6);
    });

    test('term is known from the snapshot index to the last index', () => {
      const s = storage();
      expect([3, 4, 5, 6].map((i) => s.term(i))).toEqual([3, 4, 5, 5]);
      expect(() => s.term(2)).toThrow(CompactedError);
      expect(() => s.term(7)).toThrow(UnavailableError);
    });

    test('entries returns the half-open range [lo, hi)', () => {
      const s = storage();
      expect(s.entries(4, 7)).toEqual(entries);
      expect(s.entries(5, 6)).toEqual([entries[1]]);
      expect(s.entries(5, 5)).toEqual([]);
      expect(() => s.entries(3, 5)).toThrow(CompactedError);
    });

    test('entries is limited by maxBytes but returns at least one entry', () => {
      const s = storage();
      expect(s.entries(4, 7, 0)).toEqual([entries[0]]);
      const one = s.entries(4, 5)[0].data.length;
      expect(s.entries(4, 7, 1_000_000)).toHaveLength(3);
      expect(s.entries(4, 7, one).length).toBeGreaterThanOrEqual(1);
    });

    test('snapshot returns the latest snapshot', () => {
      expect(storage().snapshot()).toEqual(snapshot);
    });

    test('an empty storage reports index 0 and an empty hard state', () => {
      const s = make({
        snapshot: { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) },
        entries: [],
        hardState: { term: 0, vote: NONE, commit: 0 },
      });
      expect(s.firstIndex()).toBe(1);
      expect(s.lastIndex()).toBe(0);
      expect(s.term(0)).toBe(0);
      expect(s.initialState().hardState).toEqual({ term: 0, vote: NONE, commit: 0 });
    });
  });
}
