/**
 * Which watchers are synced, which catch up, and delivery to both (etcd's watchableStore).
 *
 * Synced watchers have every event before the current revision: each committed transaction is
 * fanned out to them at once (its events encoded once). A watcher whose stream is not writable when
 * it has events due is moved to the unsynced set at that revision instead: nothing is buffered for
 * it. Unsynced watchers (a start revision in the past, or a blocked stream) are caught up from
 * history in bounded batches, one batch at a time, and join the synced set when they reach the
 * current revision. A watcher whose next revision is compacted (< compactRevision, as etcd) is sent
 * `compact_revision` and removed.
 */
import { strict as assert } from 'node:assert';
import { CompactedError } from '../mvcc/errors';
import type { MvccEvent, MvccStore } from '../mvcc/types';
import { WatchEvent, type PrevKvLookup } from './event-codec';
import { rangeContains } from './key-range';
import { WATCH_LIMITS } from './limits';
import type { Watcher, WatchSink } from './watcher';
import { WatcherGroup } from './watcher-group';

export interface WatchHubOptions {
  readonly store: MvccStore;
  /** Unknown errors of the catch-up loop (logged; the loop goes on at the next kick). */
  readonly onError: (err: unknown) => void;
  /** Runs `fn` on a later event-loop turn (default: setImmediate). */
  readonly defer?: (fn: () => void) => void;
  readonly catchUpWatchersPerBatch?: number;
  readonly catchUpChangesPerBatch?: number;
  readonly catchUpStreamBytesPerBatch?: number;
}

export class WatchHub {
  readonly store: MvccStore;
  private readonly synced = new WatcherGroup();
  private readonly unsynced = new Set<Watcher>();
  private readonly defer: (fn: () => void) => void;
  private readonly watchersPerBatch: number;
  private readonly changesPerBatch: number;
  private readonly streamBytesPerBatch: number;
  private catchingUp = false;
  /** Events delivered to watchers (for the benchmark and tests). */
  eventsSent = 0;

  constructor(private readonly opts: WatchHubOptions) {
    this.store = opts.store;
    this.defer = opts.defer ?? ((fn) => setImmediate(fn));
    this.watchersPerBatch = opts.catchUpWatchersPerBatch ?? WATCH_LIMITS.catchUpWatchersPerBatch;
    this.changesPerBatch = opts.catchUpChangesPerBatch ?? WATCH_LIMITS.catchUpChangesPerBatch;
    this.streamBytesPerBatch = opts.catchUpStreamBytesPerBatch ?? WATCH_LIMITS.catchUpStreamBytesPerBatch;
    this.store.onCommit(this.notify);
  }

  get syncedCount(): number {
    return this.synced.size;
  }

  get unsyncedCount(): number {
    return this.unsynced.size;
  }

  /**
   * Adds a watcher from `startRevision` (0: the next revision; in the future: waits for it; in the
   * past: catches up, or is compacted).
   */
  add(w: Watcher, startRevision: number): void {
    assert(Number.isSafeInteger(startRevision) && startRevision >= 0, `bad start revision ${startRevision}`);
    const current = this.store.currentRevision;
    if (startRevision === 0 || startRevision > current) {
      w.minRevision = Math.max(current + 1, startRevision);
      w.state = 'synced';
      this.synced.add(w);
    } else {
      w.minRevision = startRevision;
      w.state = 'unsynced';
      this.unsynced.add(w);
      this.kick();
    }
  }

  /**
   * The store jumped ahead (a Raft snapshot replaced it) without commit events: every synced
   * watcher catches up from the new store's history instead, from the revision it expects next, as
   * etcd's watchable store moves its synced watchers to unsynced on restore. A watcher whose next
   * revision was compacted away in the new store is told so and cancelled by the catch-up.
   */
  resyncAll(): void {
    for (const w of this.synced.all()) {
      if (w.minRevision > this.store.currentRevision) continue;
      this.synced.delete(w);
      w.state = 'unsynced';
      this.unsynced.add(w);
    }
    this.kick();
  }

  /** Removes a watcher (cancel, stream closed). */
  remove(w: Watcher): void {
    if (w.state === 'synced') this.synced.delete(w);
    else if (w.state === 'unsynced') this.unsynced.delete(w);
    w.state = 'gone';
  }

  /** Starts catch-up if there is anything to catch up (call when a blocked stream drains). */
  kick(): void {
    if (this.catchingUp || this.unsynced.size === 0) return;
    this.catchingUp = true;
    this.defer(this.catchUpStep);
  }

  private readonly prevKvLookup: PrevKvLookup = (event: MvccEvent) => {
    if (event.modRevision <= 1) return undefined;
    try {
      const r = this.store.read().range(Buffer.from(event.key, 'latin1'), undefined, { revision: event.modRevision - 1 });
      return r.kvs[0]?.encoded;
    } catch (err) {
      // As etcd: a previous value that compaction removed is left out.
      if (err instanceof CompactedError) return undefined;
      throw err;
    }
  };

  /** The store's commit listener: fans the transaction out to the synced watchers. */
  private readonly notify = (events: readonly MvccEvent[], revision: number): void => {
    if (this.synced.size === 0) return;
    const due = new Map<Watcher, WatchEvent[]>();
    for (const e of events) {
      let wrapped: WatchEvent | undefined;
      this.synced.forEachMatching(e.key, (w) => {
        if (w.minRevision > revision) return;
        wrapped ??= new WatchEvent(e, this.prevKvLookup);
        const list = due.get(w);
        if (list === undefined) due.set(w, [wrapped]);
        else list.push(wrapped);
      });
    }
    for (const [w, list] of due) {
      if (!w.sink.writable) {
        // Nothing is buffered for a client that is not reading: it catches up from history later.
        this.synced.delete(w);
        w.state = 'unsynced';
        w.minRevision = revision;
        this.unsynced.add(w);
        continue;
      }
      w.minRevision = revision + 1;
      this.eventsSent += list.length;
      w.sink.sendEvents(w, list, revision);
    }
  };

  private readonly catchUpStep = (): void => {
    this.catchUp().then(
      (more) => {
        if (more) this.defer(this.catchUpStep);
        else this.catchingUp = false;
      },
      (err) => {
        this.catchingUp = false;
        this.opts.onError(err);
      },
    );
  };

  /** One catch-up batch; resolves true when another batch may have work. */
  private async catchUp(): Promise<boolean> {
    const store = this.store;
    const current = store.currentRevision;
    const compactRevision = store.compactRevision;
    const chosen: Watcher[] = [];
    let from = Number.POSITIVE_INFINITY;
    for (const w of [...this.unsynced]) {
      if (chosen.length >= this.watchersPerBatch) break;
      if (w.minRevision < compactRevision) {
        this.unsynced.delete(w);
        w.state = 'gone';
        w.sink.sendCompacted(w, compactRevision);
        continue;
      }
      if (!w.sink.writable) continue;
      if (w.minRevision > current) {
        this.joinSynced(w);
        continue;
      }
      chosen.push(w);
      from = Math.min(from, w.minRevision);
    }
    if (chosen.length === 0) return false;
    let batch;
    try {
      batch = await store.events({
        fromRevision: from,
        toRevision: current,
        keyRange: chosen.length === 1 ? chosen[0]!.range : undefined,
        limit: this.changesPerBatch,
        bytesLimit: WATCH_LIMITS.catchUpBytesPerBatch,
      });
    } catch (err) {
      // Compacted while reading: the next batch sends compact_revision.
      if (err instanceof CompactedError) return true;
      throw err;
    }
    const wrapped = batch.events.map((e) => new WatchEvent(e, this.prevKvLookup));
    const headerRevision = store.currentRevision;
    // Bytes sent to each stream by this batch. A stream hears that its client's buffer is full only
    // through the transport thread, after this batch: without a bound, 100 watchers of one key on
    // one stream got 100 copies of a 2 MiB batch at once (and the bridge ended the stream).
    const sentTo = new Map<WatchSink, number>();
    for (const w of chosen) {
      if (w.state !== 'unsynced' || !w.sink.writable) continue;
      const already = sentTo.get(w.sink) ?? 0;
      // This stream had its share of the batch: the watcher waits for the next one, ahead of the
      // watchers served now (they move to the back).
      if (already >= this.streamBytesPerBatch) continue;
      const list: WatchEvent[] = [];
      let bytes = 0;
      for (const e of wrapped) {
        if (e.modRevision >= w.minRevision && rangeContains(w.range, e.key)) {
          list.push(e);
          bytes += e.field(w.prevKv).length;
        }
      }
      if (list.length > 0) {
        sentTo.set(w.sink, already + bytes);
        this.eventsSent += list.length;
        w.sink.sendEvents(w, list, headerRevision);
      }
      w.minRevision = Math.max(w.minRevision, batch.nextRevision);
      if (w.minRevision > store.currentRevision) {
        this.joinSynced(w);
      } else {
        this.unsynced.delete(w);
        this.unsynced.add(w);
      }
    }
    return this.unsynced.size > 0;
  }

  private joinSynced(w: Watcher): void {
    this.unsynced.delete(w);
    w.state = 'synced';
    this.synced.add(w);
    w.sink.watcherSynced(w);
  }
}
