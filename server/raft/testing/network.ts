/**
 * An in-process network for Raft tests: messages sent between members wait in one queue and are
 * delivered one at a time, with faults drawn from a seeded PRNG — drops, duplicates, reordering,
 * delays (a message held back for some ticks of the network's clock) — and partitions set by the
 * test: links are cut per direction, so a partition can be symmetric or one-way. Deterministic for
 * a given seed and call sequence.
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
  /** Probability that a sent message is held back (default 0). */
  readonly delayRate?: number;
  /** A held-back message becomes deliverable after 1..delayTicksMax ticks of the clock (default 5). */
  readonly delayTicksMax?: number;
}

export const NO_FAULTS: NetworkFaults = { dropRate: 0, duplicateRate: 0, reorderWindow: 1 };

interface Queued {
  readonly m: Message;
  /** Network clock time from which the message may be delivered. */
  readonly at: number;
}

/** Upper bound of messages waiting in the network; past it the oldest are dropped (Raft retries). */
export const NETWORK_MESSAGES_MAX = 20000;

export class Network {
  private queue: Queued[] = [];
  /** The network's clock, advanced by `advance` (the cluster's ticks). */
  private now = 0;
  /** Cut links, as "from>to" keys (directional). */
  private readonly cut = new Set<string>();
  private readonly random: Random;
  faults: NetworkFaults;
  /** Counters for reports and tests. */
  readonly stats = { sent: 0, dropped: 0, duplicated: 0, delayed: 0, delivered: 0 };

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
    this.queue.push({ m, at: this.deliverAt() });
    if (this.faults.duplicateRate > 0 && this.random() < this.faults.duplicateRate) {
      this.stats.duplicated++;
      this.queue.push({ m, at: this.deliverAt() });
    }
    while (this.queue.length > NETWORK_MESSAGES_MAX) this.drop(this.queue.shift()!.m);
    return true;
  }

  private deliverAt(): number {
    const rate = this.faults.delayRate ?? 0;
    if (rate <= 0 || this.random() >= rate) return this.now;
    this.stats.delayed++;
    return this.now + 1 + randomInt(this.random, this.faults.delayTicksMax ?? 5);
  }

  /** Advances the network's clock: delayed messages become deliverable. */
  advance(ticks = 1): void {
    this.now += ticks;
  }

  /**
   * Takes the next message to deliver (one of the oldest `reorderWindow` that are due). Messages
   * on a cut link are lost. Returns undefined when nothing is due.
   */
  take(): Message | undefined {
    for (;;) {
      const due: number[] = [];
      for (let k = 0; k < this.queue.length && due.length < Math.max(1, this.faults.reorderWindow); k++) {
        if (this.queue[k].at <= this.now) due.push(k);
      }
      if (due.length === 0) return undefined;
      const i = due.length <= 1 ? due[0] : due[randomInt(this.random, due.length)];
      const m = this.queue.splice(i, 1)[0].m;
      if (!this.connected(m.from, m.to)) {
        this.drop(m);
        continue;
      }
      this.stats.delivered++;
      return m;
    }
  }

  /** Messages waiting, due or delayed. */
  pending(): number {
    return this.queue.length;
  }

  connected(from: MemberId, to: MemberId): boolean {
    return !this.cut.has(`${from}>${to}`);
  }

  /** Cuts the link from `from` to `to` only (a one-way partition). */
  cutOneWay(from: MemberId, to: MemberId): void {
    this.cut.add(`${from}>${to}`);
  }

  /** Cut directed links, as [from, to] pairs (reports). */
  cutLinks(): string[] {
    return [...this.cut].sort();
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
    const lost = this.queue.filter((q) => q.m.to === id);
    this.queue = this.queue.filter((q) => q.m.to !== id);
    for (const q of lost) this.drop(q.m);
  }

  /** Drops everything waiting. */
  clear(): void {
    const lost = this.queue;
    this.queue = [];
    for (const q of lost) this.drop(q.m);
  }
}
