/**
 * One watcher: what it watches, how its events are shaped, and how far it has been served.
 * The fields that change (`minRevision`, `state`) belong to the hub (watch-hub.ts).
 */
import type { KeyRange } from './key-range';
import type { WatchEvent } from './event-codec';

/** Where a watcher's responses go: the stream that created it (watch-stream.ts). */
export interface WatchSink {
  /** False while the client is not reading: send nothing, the watcher catches up later. */
  readonly writable: boolean;
  /** Sends `events` (one or more whole revisions, ascending) with a header at `headerRevision`. */
  sendEvents(watcher: Watcher, events: readonly WatchEvent[], headerRevision: number): void;
  /** The watcher's next revision was compacted: tell the client; the watcher is already gone. */
  sendCompacted(watcher: Watcher, compactRevision: number): void;
  /** The watcher joined the synced set (it has every event up to the current revision). */
  watcherSynced(watcher: Watcher): void;
}

/** synced: gets events as they commit; unsynced: catching up from history; gone: cancelled. */
export type WatcherState = 'synced' | 'unsynced' | 'gone';

export interface WatcherOptions {
  readonly id: bigint;
  readonly range: KeyRange;
  readonly sink: WatchSink;
  readonly prevKv: boolean;
  /** NOPUT: drop put events. */
  readonly noPut: boolean;
  /** NODELETE: drop delete events. */
  readonly noDelete: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
}

export class Watcher {
  readonly id: bigint;
  readonly range: KeyRange;
  readonly sink: WatchSink;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
  /** The first revision this watcher has not been sent (events before it are delivered or skipped). */
  minRevision = 0;
  state: WatcherState = 'unsynced';
  /** Events were sent since the last progress tick (etcd then skips the periodic notification). */
  sentSinceProgressTick = false;
  /** The encoded watch_id field of responses (event-codec's watchIdField), made on first use. */
  idField: Buffer | undefined = undefined;

  constructor(options: WatcherOptions) {
    this.id = options.id;
    this.range = options.range;
    this.sink = options.sink;
    this.prevKv = options.prevKv;
    this.noPut = options.noPut;
    this.noDelete = options.noDelete;
    this.fragment = options.fragment;
    this.progressNotify = options.progressNotify;
  }

  /** True when the watcher's filters let `event` through. */
  accepts(event: WatchEvent): boolean {
    return event.type === 'put' ? !this.noPut : !this.noDelete;
  }
}
