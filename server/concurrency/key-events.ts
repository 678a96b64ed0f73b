/**
 * Which committed changes the lock and election services wait for: listeners on one key (a lock
 * waiter on the key ahead of it, an observer on the leader key) or on a key prefix (an observer
 * while an election has no leader), fed by the store's commit hook.
 *
 * Listeners are called inside the store's commit callback: they must not read or write the store
 * there, only note the event and schedule their work.
 */
import type { MvccEvent, MvccStore } from '../mvcc/types';

export type KeyEventListener = (event: MvccEvent) => void;

export class KeyEventHub {
  /** Listeners by key (latin1 string of the key's bytes). */
  private readonly keys = new Map<string, Set<KeyEventListener>>();
  /** Listeners by key prefix (latin1 string). */
  private readonly prefixes = new Map<string, Set<KeyEventListener>>();
  private count = 0;

  constructor(store: Pick<MvccStore, 'onCommit'>, private readonly maxListeners: number) {
    store.onCommit((events) => this.dispatch(events));
  }

  /** Listeners registered now. */
  get size(): number {
    return this.count;
  }

  /** Calls `listener` with every later change of `key`; returns the function that removes it. */
  onKey(key: string, listener: KeyEventListener): () => void {
    return this.add(this.keys, key, listener);
  }

  /** Calls `listener` with every later change of a key starting with `prefix`. */
  onPrefix(prefix: string, listener: KeyEventListener): () => void {
    return this.add(this.prefixes, prefix, listener);
  }

  private add(map: Map<string, Set<KeyEventListener>>, key: string, listener: KeyEventListener): () => void {
    if (this.count >= this.maxListeners) throw new Error('too many lock and election waiters');
    let set = map.get(key);
    if (set === undefined) map.set(key, (set = new Set()));
    set.add(listener);
    this.count++;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.count--;
      const s = map.get(key);
      if (s === undefined) return;
      s.delete(listener);
      if (s.size === 0) map.delete(key);
    };
  }

  private dispatch(events: readonly MvccEvent[]): void {
    if (this.count === 0) return;
    for (const ev of events) {
      const set = this.keys.get(ev.key);
      if (set !== undefined) for (const l of [...set]) l(ev);
      if (this.prefixes.size === 0) continue;
      for (const [prefix, listeners] of this.prefixes) {
        if (ev.key.startsWith(prefix)) for (const l of [...listeners]) l(ev);
      }
    }
  }
}
