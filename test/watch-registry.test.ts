/**
 * Which watchers get an event: the interval set (stabbing queries over [start, end) key ranges,
 * end '' unbounded) and the watcher group (single keys + ranges), checked against a brute-force
 * model with fast-check; and etcd's create-request key conventions (v3rpc/watch.go).
 */
import fc from 'fast-check';
import { IntervalSet } from '../server/watch/interval-set';
import { WatcherGroup } from '../server/watch/watcher-group';
import { Watcher, type WatchSink } from '../server/watch/watcher';
import { rangeContains, type KeyRange } from '../server/watch/key-range';
import { toKeyRange } from '../server/watch/watch-stream';

const keyArb = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '\x00', '\xff'), maxLength: 3 });

const nullSink: WatchSink = { writable: true, sendEvents: () => undefined, sendCompacted: () => undefined, watcherSynced: () => undefined };

function watcher(id: number, range: KeyRange): Watcher {
  return new Watcher({ id: BigInt(id), range, sink: nullSink, prevKv: false, noPut: false, noDelete: false, fragment: false, progressNotify: false });
}

describe('IntervalSet', () => {
  test('a stabbing query returns exactly the intervals that contain the key, across adds and deletes', () => {
    const intervalArb = fc.tuple(keyArb, keyArb, fc.boolean()).map(([a, b, unbounded]) => {
      if (unbounded) return { start: a, end: '' };
      return a < b ? { start: a, end: b } : b < a ? { start: b, end: a } : { start: a, end: a + '\x00' };
    });
    fc.assert(
      fc.property(fc.array(intervalArb, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 10 }), fc.array(keyArb, { maxLength: 20 }), (intervals, deletions, keys) => {
        const set = new IntervalSet<number>();
        const live = new Map<number, { start: string; end: string }>();
        intervals.forEach((iv, i) => {
          set.add(iv.start, iv.end, i);
          live.set(i, iv);
        });
        for (const d of deletions) {
          if (intervals.length === 0) break;
          const i = d % intervals.length;
          expect(set.delete(i)).toBe(live.delete(i));
        }
        for (const k of keys) {
          const got: number[] = [];
          set.stab(k, (v) => got.push(v));
          const want = [...live].filter(([, iv]) => k >= iv.start && (iv.end === '' || k < iv.end)).map(([i]) => i);
          expect(got.sort((a, b) => a - b)).toEqual(want.sort((a, b) => a - b));
        }
      }),
    );
  });
});

describe('WatcherGroup', () => {
  test('forEachMatching visits each watcher whose range holds the key exactly once', () => {
    const rangeArb: fc.Arbitrary<KeyRange> = fc.oneof(
      keyArb.map((key) => ({ key, end: undefined })),
      keyArb.map((key) => ({ key, end: '' })),
      fc.tuple(keyArb, keyArb).filter(([a, b]) => a < b).map(([key, end]) => ({ key, end })),
    );
    fc.assert(
      fc.property(fc.array(rangeArb, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 10 }), fc.array(keyArb, { maxLength: 20 }), (ranges, deletions, keys) => {
        const group = new WatcherGroup();
        const all = ranges.map((r, i) => watcher(i, r));
        for (const w of all) group.add(w);
        const live = new Set(all);
        for (const d of deletions) {
          if (all.length === 0) break;
          const w = all[d % all.length]!;
          expect(group.delete(w)).toBe(live.delete(w));
        }
        expect(group.size).toBe(live.size);
        for (const k of keys) {
          const got: Watcher[] = [];
          group.forEachMatching(k, (w) => got.push(w));
          expect(new Set(got).size).toBe(got.length);
          expect(new Set(got)).toEqual(new Set([...live].filter((w) => rangeContains(w.range, k))));
        }
      }),
    );
  });
});

describe('create-request key conventions (etcd v3rpc/watch.go)', () => {
  const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
  test('an empty key watches the smallest key, "\\x00"', () => {
    expect(toKeyRange(b(''), b(''))).toEqual({ key: '\x00', end: undefined });
  });
  test('range_end "\\x00" means every key ≥ key', () => {
    expect(toKeyRange(b('a'), b('\x00'))).toEqual({ key: 'a', end: '' });
  });
  test('a range_end is the exclusive end', () => {
    expect(toKeyRange(b('a'), b('c'))).toEqual({ key: 'a', end: 'c' });
    expect(rangeContains({ key: 'a', end: 'c' }, 'c')).toBe(false);
    expect(rangeContains({ key: 'a', end: 'c' }, 'b\xff')).toBe(true);
  });
});
