/**
 * Which watchers get an event on this key? Single-key watchers sit in a map by key; range and
 * from-key watchers in an interval set.
 */
import { strict as assert } from 'node:assert';
import { IntervalSet } from './interval-set';
import type { Watcher } from './watcher';

export class WatcherGroup {
  private readonly byKey = new Map<string, Set<Watcher>>();
  private readonly ranges = new IntervalSet<Watcher>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(w: Watcher): void {
    if (w.range.end === undefined) {
      let set = this.byKey.get(w.range.key);
      if (set === undefined) {
        set = new Set();
        this.byKey.set(w.range.key, set);
      }
      assert(!set.has(w), 'watcher added twice');
      set.add(w);
    } else {
      this.ranges.add(w.range.key, w.range.end, w);
    }
    this.count++;
  }

  delete(w: Watcher): boolean {
    let had: boolean;
    if (w.range.end === undefined) {
      const set = this.byKey.get(w.range.key);
      had = set !== undefined && set.delete(w);
      if (set !== undefined && set.size === 0) this.byKey.delete(w.range.key);
    } else {
      had = this.ranges.delete(w);
    }
    if (had) this.count--;
    return had;
  }

  /** Every watcher of the group (a copy: the group may change while the caller goes through it). */
  all(): Watcher[] {
    const out: Watcher[] = [];
    for (const set of this.byKey.values()) for (const w of set) out.push(w);
    for (const w of this.ranges.values()) out.push(w);
    return out;
  }

  /** Calls `visit` with every watcher whose range contains `key` (each once). */
  forEachMatching(key: string, visit: (w: Watcher) => void): void {
    const set = this.byKey.get(key);
    if (set !== undefined) for (const w of set) visit(w);
    this.ranges.stab(key, visit);
  }
}
