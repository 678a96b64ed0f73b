/**
 * Quorum arithmetic and flow control: the commit index is what a majority holds (Raft §5.3), an
 * election is won by a majority and lost once a majority is out of reach (§5.2), inflights bound
 * appends in count and bytes.
 */
import fc from 'fast-check';
import { Inflights } from './inflights';
import { Progress, ProgressState } from './progress';
import { committedIndex, majority, voteResult, VoteResult } from './quorum';

describe('quorum', () => {
  test('committedIndex is the largest index held by a majority', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 100 }), { minLength: 1, maxLength: 9 }), (matches) => {
        const c = committedIndex(matches);
        const holding = (i: number): number => matches.filter((m) => m >= i).length;
        expect(holding(c)).toBeGreaterThanOrEqual(majority(matches.length));
        expect(holding(c + 1)).toBeLessThan(majority(matches.length));
      }),
    );
  });

  test('voteResult: won at a majority of grants, lost once a majority is out of reach, pending otherwise', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.nat(), fc.nat(), (n, g, r) => {
        const granted = g % (n + 1);
        const rejected = r % (n - granted + 1);
        const res = voteResult(n, granted, rejected);
        const q = majority(n);
        if (granted >= q) expect(res).toBe(VoteResult.Won);
        else if (n - rejected < q) expect(res).toBe(VoteResult.Lost);
        else expect(res).toBe(VoteResult.Pending);
      }),
    );
  });
});

describe('Inflights', () => {
  test('bounded by count', () => {
    const inf = new Inflights(3, Infinity);
    inf.add(1, 10);
    inf.add(2, 10);
    expect(inf.full()).toBe(false);
    inf.add(3, 10);
    expect(inf.full()).toBe(true);
    expect(() => inf.add(4, 10)).toThrow(/full/);
    inf.freeLE(2);
    expect([inf.count(), inf.bytes(), inf.full()]).toEqual([1, 10, false]);
  });

  test('bounded by bytes', () => {
    const inf = new Inflights(10, 100);
    inf.add(1, 60);
    expect(inf.full()).toBe(false);
    inf.add(2, 60);
    expect(inf.full()).toBe(true);
    inf.freeFirstOne();
    expect([inf.count(), inf.bytes()]).toEqual([1, 60]);
  });

  test('the ring buffer wraps around and frees in order', () => {
    const inf = new Inflights(3, Infinity);
    for (let i = 1; i <= 30; i++) {
      inf.add(i, 1);
      if (inf.full()) inf.freeLE(i - 1);
    }
    // Full at 29 freed up to 28; 30 followed.
    expect([inf.count(), inf.bytes()]).toEqual([2, 2]);
    inf.freeLE(30);
    expect(inf.count()).toBe(0);
  });
});

describe('Progress', () => {
  const make = () => new Progress({ match: 0, next: 6, isLearner: false, inflights: new Inflights(2, Infinity) });

  test('probe: one message at a time until acknowledged', () => {
    const pr = make();
    expect(pr.isPaused()).toBe(false);
    pr.sentEntries(7, 10);
    expect(pr.isPaused()).toBe(true);
    expect(pr.maybeUpdate(7)).toBe(true);
    expect(pr.isPaused()).toBe(false);
  });

  test('a rejection moves next back to the hint, never below match + 1; stale rejections are ignored', () => {
    const pr = make();
    pr.match = 2;
    expect(pr.maybeDecrTo(5, 3)).toBe(true);
    expect(pr.next).toBe(4);
    expect(pr.maybeDecrTo(5, 3)).toBe(false);
    expect(pr.maybeDecrTo(3, 0)).toBe(true);
    expect(pr.next).toBe(3);
  });

  test('replicate: optimistic next, paused when inflights are full', () => {
    const pr = make();
    pr.match = 5;
    pr.becomeReplicate();
    pr.sentEntries(7, 1);
    pr.sentEntries(9, 1);
    expect([pr.next, pr.isPaused()]).toEqual([10, true]);
    pr.maybeUpdate(7);
    pr.inflights.freeLE(7);
    expect(pr.isPaused()).toBe(false);
    // A rejection above match falls back to match + 1.
    expect(pr.maybeDecrTo(9, 8)).toBe(true);
    expect(pr.next).toBe(8);
  });

  test('snapshot: paused until the snapshot is reported; then probing resumes after it', () => {
    const pr = make();
    pr.becomeSnapshot(20);
    expect([pr.state, pr.isPaused()]).toEqual([ProgressState.Snapshot, true]);
    pr.becomeProbe();
    expect(pr.next).toBe(21);
  });
});
