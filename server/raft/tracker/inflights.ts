/**
 * Inflights: the MsgApp messages sent to one follower and not yet acknowledged, bounded in count
 * and in bytes (flow control in the replicate state). Each is remembered by its last index.
 */
import { assert } from '../assert';

export class Inflights {
  private readonly capacity: number;
  private readonly maxBytes: number;
  /** Ring buffer of last indexes and sizes. */
  private readonly indexes: number[];
  private readonly sizes: number[];
  private start = 0;
  private count_ = 0;
  private bytes_ = 0;

  /** @param capacity messages at most (≥ 1); @param maxBytes bytes at most (Infinity: no limit) */
  constructor(capacity: number, maxBytes: number) {
    assert(capacity >= 1, `inflights capacity must be ≥ 1, got ${capacity}`);
    this.capacity = capacity;
    this.maxBytes = maxBytes;
    this.indexes = new Array<number>(capacity).fill(0);
    this.sizes = new Array<number>(capacity).fill(0);
  }

  count(): number {
    return this.count_;
  }

  bytes(): number {
    return this.bytes_;
  }

  full(): boolean {
    return this.count_ === this.capacity || this.bytes_ >= this.maxBytes;
  }

  /** Records a message whose last entry is `index`, of `bytes` size. Indexes must increase. */
  add(index: number, bytes: number): void {
    assert(!this.full(), 'cannot add into a full inflights');
    if (this.count_ > 0) {
      const lastPos = (this.start + this.count_ - 1) % this.capacity;
      assert(index > this.indexes[lastPos], `inflights: index ${index} ≤ last ${this.indexes[lastPos]}`);
    }
    const pos = (this.start + this.count_) % this.capacity;
    this.indexes[pos] = index;
    this.sizes[pos] = bytes;
    this.count_++;
    this.bytes_ += bytes;
  }

  /** Frees every message whose last index is ≤ `to`. */
  freeLE(to: number): void {
    while (this.count_ > 0 && this.indexes[this.start] <= to) {
      this.bytes_ -= this.sizes[this.start];
      this.start = (this.start + 1) % this.capacity;
      this.count_--;
    }
    if (this.count_ === 0) this.start = 0;
  }

  /** Frees the oldest message (a heartbeat response proves the follower is alive). */
  freeFirstOne(): void {
    if (this.count_ === 0) return;
    this.freeLE(this.indexes[this.start]);
  }

  reset(): void {
    this.start = 0;
    this.count_ = 0;
    this.bytes_ = 0;
  }
}
