/**
 * An in-process network for Raft tests: messages sent between members wait in one queue and are
 * delivered one at a time, with faults drawn from a seeded PRNG — drops, duplicates, reordering —
 * and partitions (cut links) set by the test. Deterministic for a given seed and call sequence.
 */
import { Random, randomInt } from '../random';
import { MemberId, Message } from '../types';

export interface NetworkFaults {
  /** Probability that a sent message is lost. */
  readonly dropRate: number;
  /** Probability that a sent message is delivered twice. */
  readonly duplicateRate: number;
  /** Delivery picks among the oldest `reorderWindow` messages (1: FIFO). */
  readonly reorderWindow: number;
}

export const NO_FAULTS: NetworkFaults = { dropRate: 0, duplicateRate: 0, reorderWindow: 1 };

/** Upper bound of messages waiting in the network; past it the oldest are dropped (Raft retries). */
export const NETWORK_MESSAGES_MAX = 20000;

export class Network {
  private queue: Message[] = [];
  /** Cut links, as "from>to" keys (directional). */
  private readonly cut = new Set<string>();
  private readonly random: Random;
  faults: NetworkFaults;
  /** Counters for reports and tests. */
  readonly stats = { sent: 0, dropped: 0, duplicated: 0, delivered: 0 };

  /** Called for every lost message, as a transport reports failures (unreachable, snapshot failed). */
  onDrop: (m: Message) => void = () => {};

  constructor(random: Random, faults: NetworkFaults = NO_FAULTS) {
    this.random = random;
    this.faults = faults;
  }

  private drop(m: Message): void {
    this.stats.dropped++;
    this.onDrop(m);
  }

  /** Queues a message, subject to the drop and duplicate faults. Returns false when it was lost. */
  send(m: Message): boolean {
    this.stats.sent++;
    if (this.faults.dropRate > 0 && this.random() < this.faults.dropRate) {
      this.drop(m);
      return false;
    }
    this.queue.push(m);
    if (this.faults.duplicateRate > 0 && this.random() < this.faults.duplicateRate) {
      this.stats.duplicated++;
      this.queue.push(m);
    }
    while (this.queue.length > NETWORK_MESSAGES_MAX) this.drop(this.queue.shift()!);
    return true;
  }

  /**
   * Takes the next message to deliver (one of the oldest `reorderWindow`). Messages on a cut link
   * are lost. Returns undefined when nothing is waiting.
   */
  take(): Message | undefined {
    while (this.queue.length > 0) {
      const window = Math.min(this.faults.reorderWindow, this.queue.length);
      const i = window <= 1 ? 0 : randomInt(this.random, window);
      const m = this.queue.splice(i, 1)[0];
      if (!this.connected(m.from, m.to)) {
        this.drop(m);
        continue;
      }
      this.stats.delivered++;
      return m;
    }
    return undefined;
  }

  pending(): number {
    return this.queue.length;
  }

  connected(from: MemberId, to: MemberId): boolean {
    return !this.cut.has(`${from}>${to}`);
  }

  /** Cuts both directions between a and b. */
  cutLink(a: MemberId, b: MemberId): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  /** Cuts `id` off from every other member in `all`. */
  isolate(id: MemberId, all: readonly MemberId[]): void {
    for (const other of all) if (other !== id) this.cutLink(id, other);
  }

  /** Members can talk only within their group. */
  partition(groups: readonly (readonly MemberId[])[]): void {
    this.heal();
    for (let g = 0; g < groups.length; g++) {
      for (let h = g + 1; h < groups.length; h++) {
        for (const a of groups[g]) for (const b of groups[h]) this.cutLink(a, b);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Drops every waiting message addressed to `id` (it crashed). */
  dropTo(id: MemberId): void {
    const lost = this.queue.filter((m) => m.to === id);
    this.queue = this.queue.filter((m) => m.to !== id);
    for (const m of lost) this.drop(m);
  }

  /** Drops everything waiting. */
  clear(): void {
    const lost = this.queue;
    this.queue = [];
    for (const m of lost) this.drop(m);
  }
}
