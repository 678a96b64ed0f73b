/**
 * Which watchers get an event on this key? Single-key watchers sit in a map by key; range and
 * from-key watchers in an interval set.
 */
import { strict as assert } from 'node:assert';
import { IntervalSet } from './interval-set';
import type { Watcher } from './watcher';

export class WatcherGroup {
  /**
   * Single-key watchers by key: the watcher itself when it is the key's only one (the common case:
   * a Set per key would cost more than the watcher), a Set when there are more.
   */
  private readonly byKey = new Map<string, Watcher | Set<Watcher>>();
  private readonly ranges = new IntervalSet<Watcher>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(w: Watcher): void {
    if (w.range.end === undefined) {
      const key = w.range.key;
      const slot = this.byKey.get(key);
      if (slot === undefined) {
        this.byKey.set(key, w);
      } else if (slot instanceof Set) {
        assert(!slot.has(w), 'watcher added twice');
        slot.add(w);
      } else {
        assert(slot !== w, 'watcher added twice');
        this.byKey.set(key, new Set([slot, w]));
      }
    } else {
      this.ranges.add(w.range.key, w.range.end, w);
    }
    this.count++;
  }

  delete(w: Watcher): boolean {
    let had: boolean;
    if (w.range.end === undefined) {
      const key = w.range.key;
      const slot = this.byKey.get(key);
      if (slot === undefined) {
        had = false;
      } else if (slot instanceof Set) {
        had = slot.delete(w);
        if (slot.size === 1) this.byKey.set(key, slot.values().next().value as Watcher);
      } else {
        had = slot === w;
        if (had) this.byKey.delete(key);
      }
    } else {
      had = this.ranges.delete(w);
    }
    if (had) this.count--;
    return had;
  }

  /** Every watcher of the group (a copy: the group may change while the caller goes through it). */
  all(): Watcher[] {
    const out: Watcher[] = [];
    for (const slot of this.byKey.values()) {
      if (slot instanceof Set) for (const w of slot) out.push(w);
      else out.push(slot);
    }
    for (const w of this.ranges.values()) out.push(w);
    return out;
  }

  /** Calls `visit` with every watcher whose range contains `key` (each once). */
  forEachMatching(key: string, visit: (w: Watcher) => void): void {
    const slot = this.byKey.get(key);
    if (slot !== undefined) {
      if (slot instanceof Set) for (const w of slot) visit(w);
      else visit(slot);
    }
    this.ranges.stab(key, visit);
  }
}
