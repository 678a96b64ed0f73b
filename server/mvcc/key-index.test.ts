/**
 * The key index (etcd's keyIndex / treeIndex, server/mvcc/key_index.go): generations, lookups at a
 * revision, ranges, compaction. Unit cases after etcd's key_index_test.go, then fast-check
 * properties against a naive model: the list of every (key, revision, put | tombstone) event.
 */
import fc from 'fast-check';
import { IndexHit, KeyIndex } from './key-index';

function hitOf(index: KeyIndex, key: string, atRev: number): [number, number, number, number] | undefined {
  const hit = index.get(key, atRev);
  return hit === undefined ? undefined : [hit.modMain, hit.modSub, hit.createRevision, hit.version];
}

describe('key index', () => {
  test('get follows generations: created, versions, tombstones (etcd TestKeyIndexGet)', () => {
    // etcd's example: put 2, 4, tombstone 6; put 8, 10, tombstone 12; put 14, 14.1, tombstone 16.
    const index = new KeyIndex();
    index.put('foo', 2, 0);
    index.put('foo', 4, 0);
    index.tombstone('foo', 6, 0);
    index.put('foo', 8, 0);
    index.put('foo', 10, 0);
    index.tombstone('foo', 12, 0);
    index.put('foo', 14, 0);
    index.put('foo', 14, 1);
    index.tombstone('foo', 16, 0);
    const expected: Record<number, [number, number, number, number] | undefined> = {
      1: undefined,
      2: [2, 0, 2, 1],
      3: [2, 0, 2, 1],
      4: [4, 0, 2, 2],
      5: [4, 0, 2, 2],
      6: undefined,
      7: undefined,
      8: [8, 0, 8, 1],
      11: [10, 0, 8, 2],
      12: undefined,
      13: undefined,
      14: [14, 1, 14, 2],
      15: [14, 1, 14, 2],
      16: undefined,
      17: undefined,
    };
    for (const [rev, hit] of Object.entries(expected)) expect([rev, hitOf(index, 'foo', Number(rev))]).toEqual([rev, hit]);
  });

  test('compaction keeps the newest revision ≤ atRev unless it is a tombstone (etcd TestKeyIndexCompactAndKeep)', () => {
    const build = (): KeyIndex => {
      const index = new KeyIndex();
      index.put('foo', 2, 0);
      index.put('foo', 4, 0);
      index.tombstone('foo', 6, 0);
      index.put('foo', 8, 0);
      index.put('foo', 10, 0);
      index.tombstone('foo', 12, 0);
      index.put('foo', 14, 0);
      index.put('foo', 14, 1);
      index.tombstone('foo', 16, 0);
      return index;
    };
    const cases: [number, [number, number] | undefined, boolean][] = [
      [1, undefined, true],
      [2, [2, 0], true],
      [3, [2, 0], true],
      [4, [4, 0], true],
      [5, [4, 0], true],
      [6, undefined, true],
      [7, undefined, true],
      [8, [8, 0], true],
      [13, undefined, true],
      [14, [14, 1], true],
      [15, [14, 1], true],
      [16, undefined, false],
      [17, undefined, false],
    ];
    for (const [atRev, kept, keyRemains] of cases) {
      const index = build();
      const keepOnly = index.keep(atRev);
      const keep = index.compact(atRev);
      expect([atRev, keep.size]).toEqual([atRev, kept === undefined ? 0 : 1]);
      expect(keepOnly.size).toBe(keep.size);
      if (kept !== undefined) {
        expect(keep.has(kept[0], kept[1])).toBe(true);
        expect(keepOnly.has(kept[0], kept[1])).toBe(true);
      }
      expect([atRev, index.size]).toEqual([atRev, keyRemains ? 1 : 0]);
      // Lookups at or after atRev are unchanged by compaction.
      const reference = build();
      for (let rev = atRev; rev <= 18; rev++) expect([atRev, rev, hitOf(index, 'foo', rev)]).toEqual([atRev, rev, hitOf(reference, 'foo', rev)]);
    }
  });

  test('entries take the smallest form', () => {
    const index = new KeyIndex();
    index.put('once', 2, 0);
    index.put('sub', 2, 1);
    index.put('updated', 2, 2);
    index.put('updated', 3, 0);
    index.put('deleted', 2, 3);
    index.tombstone('deleted', 4, 0);
    expect(Object.fromEntries(index.forms())).toEqual({ once: 'number', sub: 'single', updated: 'generations', deleted: 'generations' });
    index.compact(4);
    expect(Object.fromEntries(index.forms())).toEqual({ once: 'number', sub: 'single', updated: 'single' });
    expect(hitOf(index, 'updated', 4)).toEqual([3, 0, 2, 2]);
  });

  test('range end conventions: single key, [key, end), every key ≥ key', () => {
    const index = new KeyIndex();
    for (const [i, k] of ['a', 'b', 'ba', 'c', '\xff'].entries()) index.put(k, 2 + i, 0);
    const keys = (key: string, end: string | undefined): string[] => {
      const out: string[] = [];
      index.range(key, end, 100, (k) => {
        out.push(k);
      });
      return out;
    };
    expect(keys('b', undefined)).toEqual(['b']);
    expect(keys('b', '')).toEqual(['b']);
    expect(keys('b', 'c')).toEqual(['b', 'ba']);
    expect(keys('b', '\x00')).toEqual(['b', 'ba', 'c', '\xff']);
    expect(keys('\x00', '\x00')).toEqual(['a', 'b', 'ba', 'c', '\xff']);
    expect(keys('c', 'b')).toEqual([]);
    expect(index.countRange('a', '\x00', 3)).toBe(2);
  });

  test('revisions of a key only grow (asserted)', () => {
    const index = new KeyIndex();
    index.put('a', 5, 0);
    expect(() => index.put('a', 5, 0)).toThrow(/not after/);
    expect(() => index.put('a', 4, 3)).toThrow(/not after/);
    expect(() => index.tombstone('b', 6, 0)).toThrow(/unknown key/);
    index.tombstone('a', 6, 0);
    expect(() => index.tombstone('a', 7, 0)).toThrow(/deleted key/);
  });

  test('restorePut starts a generation with the stored createRevision and version', () => {
    const index = new KeyIndex();
    index.restorePut('a', 7, 0, 2, 4);
    index.restorePut('a', 8, 0, 2, 5);
    index.tombstone('a', 9, 0);
    index.restorePut('a', 10, 0, 10, 1);
    expect(hitOf(index, 'a', 8)).toEqual([8, 0, 2, 5]);
    expect(hitOf(index, 'a', 10)).toEqual([10, 0, 10, 1]);
  });
});

// ---- properties against a naive model ----

interface Event {
  key: string;
  main: number;
  sub: number;
  tombstone: boolean;
}

/** The model: every event; queries scan them naively. */
class Model {
  events: Event[] = [];

  get(key: string, atRev: number): [number, number, number, number] | undefined {
    const mine = this.events.filter((e) => e.key === key && e.main <= atRev);
    if (mine.length === 0 || mine[mine.length - 1].tombstone) return undefined;
    let start = mine.length - 1;
    while (start > 0 && !mine[start - 1].tombstone) start--;
    const last = mine[mine.length - 1];
    return [last.main, last.sub, mine[start].main, mine.length - start];
  }

  live(key: string, atRev: number): boolean {
    return this.get(key, atRev) !== undefined;
  }

  keys(): string[] {
    return [...new Set(this.events.map((e) => e.key))].sort();
  }

  /** Revisions ≤ atRev a compaction keeps: per key the newest ≤ atRev, unless a tombstone. */
  kept(atRev: number): Event[] {
    const out: Event[] = [];
    for (const key of this.keys()) {
      const mine = this.events.filter((e) => e.key === key && e.main <= atRev);
      const last = mine[mine.length - 1];
      if (last !== undefined && !last.tombstone) out.push(last);
    }
    return out;
  }
}

const KEYS = ['a', 'ab', 'b', 'ba', 'c', '\x00', '\x01', '\xff', 'z'];
const keyArb = fc.constantFrom(...KEYS);
const opArb = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: keyArb }),
  fc.record({ kind: fc.constant('delete' as const), key: keyArb }),
  fc.record({ kind: fc.constant('compact' as const), back: fc.nat({ max: 8 }) }),
);
const txnsArb = fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 40 });
const END_OPTIONS = [undefined, '', '\x00', 'b', 'bz', 'c', '\xff', 'zz'];

function inRange(k: string, key: string, end: string | undefined): boolean {
  if (end === undefined || end === '') return k === key;
  if (end === '\x00') return k >= key;
  return k >= key && k < end;
}

describe('key index properties (fast-check, against a naive event model)', () => {
  test('get, range and count agree with the model at every revision not compacted, across compactions', () => {
    fc.assert(
      fc.property(txnsArb, (txns) => {
        const index = new KeyIndex({ maxNodeSize: 4 });
        const model = new Model();
        let revision = 1;
        let compacted = 0;
        for (const ops of txns) {
          const main = revision + 1;
          let sub = 0;
          for (const op of ops) {
            if (op.kind === 'put') {
              index.put(op.key, main, sub);
              model.events.push({ key: op.key, main, sub, tombstone: false });
              sub++;
            } else if (op.kind === 'delete') {
              if (!model.live(op.key, main)) continue;
              index.tombstone(op.key, main, sub);
              model.events.push({ key: op.key, main, sub, tombstone: true });
              sub++;
            } else {
              const atRev = Math.max(compacted, revision - op.back);
              if (atRev <= compacted || atRev < 1) continue;
              const keepOnly = index.keep(atRev);
              const keep = index.compact(atRev);
              compacted = atRev;
              const expected = model.kept(atRev);
              expect(keep.size).toBe(expected.length);
              expect(keepOnly.size).toBe(expected.length);
              for (const e of expected) {
                expect(keep.has(e.main, e.sub)).toBe(true);
                expect(keepOnly.has(e.main, e.sub)).toBe(true);
              }
            }
          }
          if (sub > 0) revision = main;
        }
        for (let atRev = Math.max(1, compacted); atRev <= revision; atRev++) {
          for (const key of KEYS) expect([key, atRev, hitOf(index, key, atRev)]).toEqual([key, atRev, model.get(key, atRev)]);
          for (const key of ['\x00', 'a', 'b', 'c']) {
            for (const end of END_OPTIONS) {
              const seen: [string, number, number, number, number][] = [];
              const count = index.range(key, end, atRev, (k: string, hit: IndexHit) => {
                seen.push([k, hit.modMain, hit.modSub, hit.createRevision, hit.version]);
              });
              const expected = [...KEYS]
                .sort()
                .filter((k) => inRange(k, key, end))
                .flatMap((k) => {
                  const hit = model.get(k, atRev);
                  return hit === undefined ? [] : [[k, ...hit] as [string, number, number, number, number]];
                });
              expect(seen).toEqual(expected);
              expect(count).toBe(expected.length);
              expect(index.countRange(key, end, atRev)).toBe(expected.length);
            }
          }
        }
        // Keys with nothing left after compaction are gone from the index.
        const remaining = model.keys().filter((k) => {
          const kept = model.events.filter((e) => e.key === k && (e.main > compacted || model.kept(compacted).includes(e)));
          return kept.length > 0;
        });
        expect(index.size).toBe(remaining.length);
      }),
      { numRuns: 300 },
    );
  });

  test('a visitor returning false stops visits but counting goes on', () => {
    fc.assert(
      fc.property(fc.uniqueArray(keyArb, { minLength: 1 }), fc.nat({ max: 10 }), (keys, stopAfter) => {
        const index = new KeyIndex();
        keys.forEach((k, i) => index.put(k, 2 + i, 0));
        let visits = 0;
        const count = index.range('\x00', '\x00', 1000, () => {
          visits++;
          return visits < stopAfter;
        });
        expect(count).toBe(keys.length);
        expect(visits).toBe(Math.min(keys.length, Math.max(1, stopAfter)));
      }),
    );
  });
});
