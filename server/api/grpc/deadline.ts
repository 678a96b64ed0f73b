/**
 * Call deadlines: parsing `grpc-timeout` and one shared, coarse timer wheel for all calls.
 *
 * A timer per call costs too much at 10k calls/s, so calls with a deadline sit in the slot of a
 * hashed wheel (slot = deadline tick mod slot count); one interval timer, running only while the
 * wheel holds calls, visits the slots that came due. A call whose deadline lies more than one
 * revolution ahead simply stays in its slot until a later visit finds it due. Removal is O(1)
 * (swap with the slot's last entry), so finished calls are not retained.
 */

/** Something with a deadline that the wheel can expire. */
export interface Expirable {
  /** Absolute deadline, `Date.now()` milliseconds. */
  readonly deadlineMs: number;
  /** Wheel bookkeeping: the slot holding this item (-1: none) and its index in that slot. */
  wheelSlot: number;
  wheelIndex: number;
  /** Called once when the deadline has passed; the item is already out of the wheel. */
  expire(nowMs: number): void;
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * Parses a `grpc-timeout` header value ("1 to 8 ASCII digits" then one of H M S m u n) into a
 * duration in milliseconds. Returns NaN if malformed.
 */
export function parseGrpcTimeoutMs(value: string): number {
  const n = value.length;
  if (n < 2 || n > 9) return NaN;
  const unit = UNIT_MS[value[n - 1]!];
  if (unit === undefined) return NaN;
  let amount = 0;
  for (let i = 0; i < n - 1; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    amount = amount * 10 + d;
  }
  return amount * unit;
}

export interface DeadlineWheelOptions {
  /** Resolution: a deadline fires at most this much late (plus event-loop delay). */
  readonly slotMs: number;
  /** Number of slots (a power of two); slotMs * slotCount is one revolution. */
  readonly slotCount: number;
}

/** A hashed timer wheel over `Date.now()`. */
export class DeadlineWheel {
  private readonly slots: Expirable[][];
  private readonly slotMs: number;
  private readonly mask: number;
  /** The next tick (Date.now() / slotMs) whose slot has not been visited yet. */
  private cursorTick = 0;
  private count = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(opts: DeadlineWheelOptions = { slotMs: 10, slotCount: 1024 }) {
    if (opts.slotCount <= 0 || (opts.slotCount & (opts.slotCount - 1)) !== 0) throw new Error('slotCount must be a power of two');
    if (!(opts.slotMs > 0)) throw new Error('slotMs must be positive');
    this.slotMs = opts.slotMs;
    this.mask = opts.slotCount - 1;
    this.slots = [];
    for (let i = 0; i < opts.slotCount; i++) this.slots.push([]);
  }

  /** Items currently waiting. */
  get size(): number {
    return this.count;
  }

  add(item: Expirable): void {
    if (item.wheelSlot >= 0) return;
    if (this.timer === null) {
      this.cursorTick = Math.floor(Date.now() / this.slotMs);
      this.timer = setInterval(this.onTick, this.slotMs);
      this.timer.unref();
    }
    const tick = Math.max(Math.ceil(item.deadlineMs / this.slotMs), this.cursorTick);
    const slot = tick & this.mask;
    const arr = this.slots[slot]!;
    item.wheelSlot = slot;
    item.wheelIndex = arr.length;
    arr.push(item);
    this.count++;
  }

  remove(item: Expirable): void {
    const slot = item.wheelSlot;
    if (slot < 0) return;
    const arr = this.slots[slot]!;
    const last = arr.pop()!;
    if (last !== item) {
      arr[item.wheelIndex] = last;
      last.wheelIndex = item.wheelIndex;
    }
    item.wheelSlot = -1;
    item.wheelIndex = -1;
    this.count--;
  }

  /** Stops the timer; items stay (for shutdown). */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private readonly onTick = (): void => {
    const nowMs = Date.now();
    const nowTick = Math.floor(nowMs / this.slotMs);
    const last = Math.min(nowTick, this.cursorTick + this.mask);
    for (let t = this.cursorTick; t <= last && this.count > 0; t++) this.visit(this.slots[t & this.mask]!, nowMs);
    this.cursorTick = nowTick + 1;
    if (this.count === 0) this.stop();
  };

  private visit(arr: Expirable[], nowMs: number): void {
    for (let i = arr.length - 1; i >= 0; i--) {
      if (i >= arr.length) continue; // an expire() removed others from this slot
      const item = arr[i]!;
      if (item.deadlineMs > nowMs) continue; // due in a later revolution
      this.remove(item);
      item.expire(nowMs);
    }
  }
}
