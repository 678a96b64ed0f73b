/**
 * A set of revisions, built once and then queried: what compaction keeps. Compact in memory (8 bytes
 * per revision in the common case) since a compaction of a large store keeps one revision per key.
 */
import assert from 'node:assert';

/** Revisions whose main and sub fit are packed as main * 2^20 + sub, exact below 2^53. */
const SUB_LIMIT = 1 << 20;
const MAIN_LIMIT = 2 ** 33;

/** Add revisions, `seal()`, then query with `has`. */
export class RevisionSet {
  private packed: number[] = [];
  private sorted: Float64Array | undefined;
  /** Revisions that do not fit the packing, as "main_sub". */
  private readonly overflow = new Set<string>();

  add(main: number, sub: number): void {
    assert(this.sorted === undefined, 'RevisionSet is sealed');
    if (sub < SUB_LIMIT && main < MAIN_LIMIT) this.packed.push(main * SUB_LIMIT + sub);
    else this.overflow.add(`${main}_${sub}`);
  }

  /** Ends adding; queries may follow. */
  seal(): this {
    if (this.sorted === undefined) {
      this.sorted = Float64Array.from(this.packed).sort();
      this.packed = [];
    }
    return this;
  }

  get size(): number {
    return (this.sorted?.length ?? this.packed.length) + this.overflow.size;
  }

  has(main: number, sub: number): boolean {
    const sorted = this.sorted;
    assert(sorted !== undefined, 'RevisionSet must be sealed before queries');
    if (sub >= SUB_LIMIT || main >= MAIN_LIMIT) return this.overflow.has(`${main}_${sub}`);
    const target = main * SUB_LIMIT + sub;
    let low = 0;
    let high = sorted.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const value = sorted[mid];
      if (value === target) return true;
      if (value < target) low = mid + 1;
      else high = mid - 1;
    }
    return false;
  }
}
