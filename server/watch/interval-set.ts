/**
 * Which ranges contain a key? A set of half-open key intervals [start, end) (end '' = unbounded)
 * answering stabbing queries in O(log n + hits): the intervals sorted by start, viewed as an
 * implicit balanced tree whose nodes carry the greatest end in their subtree. Changes mark the
 * structure stale; it is rebuilt (O(n log n)) at the next query, since watchers on ranges are
 * created and cancelled far less often than events arrive.
 */
import { strict as assert } from 'node:assert';

interface Entry<T> {
  readonly start: string;
  /** '' = unbounded. */
  readonly end: string;
  readonly value: T;
}

/** '' (unbounded) is greater than every end. */
function endGreater(a: string, b: string): boolean {
  if (a === b) return false;
  if (a === '') return true;
  if (b === '') return false;
  return a > b;
}

export class IntervalSet<T> {
  private readonly entries = new Map<T, Entry<T>>();
  private sorted: Entry<T>[] = [];
  /** maxEnd[i]: the greatest end in the implicit subtree rooted at sorted[i]. */
  private maxEnd: string[] = [];
  private stale = false;

  get size(): number {
    return this.entries.size;
  }

  /** Adds `value` with the interval [start, end); each value at most once. */
  add(start: string, end: string, value: T): void {
    assert(end === '' || start < end, `empty interval [${start}, ${end})`);
    assert(!this.entries.has(value), 'interval value added twice');
    this.entries.set(value, { start, end, value });
    this.stale = true;
  }

  delete(value: T): boolean {
    const had = this.entries.delete(value);
    if (had) this.stale = true;
    return had;
  }

  /** Calls `visit` with every value whose interval contains `key`. */
  /** Every value, in insertion order. */
  values(): IterableIterator<T> {
    return this.entries.keys();
  }

  stab(key: string, visit: (value: T) => void): void {
    if (this.entries.size === 0) return;
    if (this.stale) this.rebuild();
    this.visitNode(0, this.sorted.length, key, visit);
  }

  private visitNode(lo: number, hi: number, key: string, visit: (value: T) => void): void {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const maxEnd = this.maxEnd[mid]!;
      // No interval in this subtree ends after key: nothing here contains it.
      if (maxEnd !== '' && maxEnd <= key) return;
      this.visitNode(lo, mid, key, visit);
      const e = this.sorted[mid]!;
      // Starts after key: so do the whole right subtree.
      if (e.start > key) return;
      if (e.end === '' || key < e.end) visit(e.value);
      lo = mid + 1;
    }
  }

  private rebuild(): void {
    this.sorted = [...this.entries.values()].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.maxEnd = new Array<string>(this.sorted.length);
    this.fillMaxEnd(0, this.sorted.length);
    this.stale = false;
  }

  private fillMaxEnd(lo: number, hi: number): string | undefined {
    if (lo >= hi) return undefined;
    const mid = (lo + hi) >>> 1;
    let best = this.sorted[mid]!.end;
    const left = this.fillMaxEnd(lo, mid);
    const right = this.fillMaxEnd(mid + 1, hi);
    if (left !== undefined && endGreater(left, best)) best = left;
    if (right !== undefined && endGreater(right, best)) best = right;
    this.maxEnd[mid] = best;
    return best;
  }
}
