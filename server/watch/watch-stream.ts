/**
 * One Watch stream's state machine (etcd's serverWatchStream): decodes each WatchRequest and
 * creates, cancels or reports progress; shapes the hub's deliveries into WatchResponses (filters,
 * prev_kv, fragments); sends periodic progress notifications when `tick(nowMs)` says they are due.
 *
 * etcd 3.4 behaviours kept: an empty key watches "\x00"; a range_end of "\x00" means every key ≥ key;
 * watch_id 0 asks the server to choose (the lowest free ID from a per-stream counter); a duplicate
 * ID or an empty range is answered `created` + `canceled` with watch ID -1 and the mvcc error text;
 * cancelling an unknown ID is ignored; half-close keeps the stream serving (as etcd's recvLoop).
 * A progress request is answered (watch ID -1, header at the current revision) only once every
 * watcher of the stream is synced, so it never runs ahead of events already due (etcd 3.5's fix).
 */
import { etcdserverpb as pb, fromBigInt, toBigInt, toNumber } from '../../proto';
import { encodeEventsResponse, fragmentEvents, watchIdField, type WatchEvent } from './event-codec';
import type { KeyRange } from './key-range';
import { WATCH_LIMITS } from './limits';
import type { WatchHub } from './watch-hub';
import { Watcher, type WatchSink } from './watcher';
import { decodeRequest } from '../api/request';

/** Encodes response headers at a revision (the member's cluster, member and term). */
export interface HeaderSource {
  /** The ResponseHeader message bytes at `revision` (not wrapped in a field). */
  header(revision: number): pb.IResponseHeader;
  /** The encoded header *field* (tag 1, length, header) at `revision`; cached by the source. */
  headerField(revision: number): Buffer;
}

/** What the stream writes to: a MemberStream's sending half. */
export interface WatchOutput {
  readonly writable: boolean;
  send(message: Uint8Array): void;
  /** Sends one message that is the concatenation of `parts` (`bytes` in all); they must not change afterwards. */
  sendParts?(parts: readonly Uint8Array[], bytes: number): void;
}

export interface WatchStreamOptions {
  readonly hub: WatchHub;
  readonly headers: HeaderSource;
  readonly out: WatchOutput;
  /** etcd's --max-request-bytes: the fragment size bound. */
  readonly maxRequestBytes: number;
  /** etcd's --experimental-watch-progress-notify-interval (ms). */
  readonly progressIntervalMs: number;
  /** When the stream opened (ms, the caller's clock). */
  readonly nowMs: number;
}

/** etcd's mvcc watch errors (mvcc/watcher.go), as cancel reasons. */
export const WATCH_ERRORS = {
  emptyRange: 'mvcc: watcher range is empty',
  duplicateId: 'mvcc: duplicate watch ID provided on the WatchStream',
  tooManyWatchers: 'etcdserver: too many watchers on the stream',
} as const;


const NOPUT = 0;
const NODELETE = 1;

export class WatchStream implements WatchSink {
  private readonly watchers = new Map<bigint, Watcher>();
  private nextId = 0n;
  private progressRequested = false;
  private nextProgressAtMs: number;
  private closed = false;

  constructor(private readonly opts: WatchStreamOptions) {
    this.nextProgressAtMs = opts.nowMs + opts.progressIntervalMs;
  }

  get writable(): boolean {
    return this.opts.out.writable;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Handles one WatchRequest message. @throws MalformedRequestError */
  handle(bytes: Uint8Array): void {
    if (this.closed) return;
    const req = decodeRequest(pb.WatchRequest, bytes);
    if (req.createRequest != null) this.create(req.createRequest);
    else if (req.cancelRequest != null) this.cancel(toBigInt(req.cancelRequest.watchId));
    else if (req.progressRequest != null) this.requestProgress();
  }

  private create(c: pb.IWatchCreateRequest): void {
    const hub = this.opts.hub;
    const revision = hub.store.currentRevision;
    const range = toKeyRange(c.key ?? new Uint8Array(0), c.rangeEnd ?? new Uint8Array(0));
    const requested = toBigInt(c.watchId);
    let reason: string | undefined;
    if (range.end !== undefined && range.end !== '' && range.key >= range.end) reason = WATCH_ERRORS.emptyRange;
    else if (requested !== 0n && this.watchers.has(requested)) reason = WATCH_ERRORS.duplicateId;
    else if (this.watchers.size >= WATCH_LIMITS.watchersPerStreamMax) reason = WATCH_ERRORS.tooManyWatchers;
    if (reason !== undefined) {
      this.sendControl({ header: this.opts.headers.header(revision), watchId: fromBigInt(-1n, false), created: true, canceled: true, cancelReason: reason });
      return;
    }
    let id = requested;
    if (id === 0n) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    }
    const filters = c.filters ?? [];
    const w = new Watcher({
      id,
      range,
      sink: this,
      prevKv: c.prevKv === true,
      noPut: filters.includes(NOPUT),
      noDelete: filters.includes(NODELETE),
      fragment: c.fragment === true,
      progressNotify: c.progressNotify === true,
    });
    this.watchers.set(id, w);
    // The created response goes out before any event of the watcher.
    this.sendControl({ header: this.opts.headers.header(revision), watchId: fromBigInt(id, false), created: true });
    const start = toNumber(c.startRevision);
    hub.add(w, start < 0 ? 0 : start);
  }

  private cancel(id: bigint): void {
    const w = this.watchers.get(id);
    if (w === undefined) return;
    this.watchers.delete(id);
    this.opts.hub.remove(w);
    this.sendControl({ header: this.opts.headers.header(this.opts.hub.store.currentRevision), watchId: fromBigInt(id, false), canceled: true });
    this.answerProgressIfSynced();
  }

  private requestProgress(): void {
    this.progressRequested = true;
    this.answerProgressIfSynced();
  }

  private answerProgressIfSynced(): void {
    if (!this.progressRequested) return;
    for (const w of this.watchers.values()) if (w.state === 'unsynced') return;
    this.progressRequested = false;
    this.sendControl({ header: this.opts.headers.header(this.opts.hub.store.currentRevision), watchId: fromBigInt(-1n, false) });
  }

  /**
   * Periodic progress notifications (etcd's progress ticker): when the stream's interval has
   * passed, every synced watcher that asked for them and was sent no events since the last tick gets
   * an empty response at the current revision.
   */
  tick(nowMs: number): void {
    if (this.closed || nowMs < this.nextProgressAtMs) return;
    this.nextProgressAtMs = nowMs + this.opts.progressIntervalMs;
    const revision = this.opts.hub.store.currentRevision;
    for (const w of this.watchers.values()) {
      if (!w.progressNotify) continue;
      if (w.state === 'synced' && !w.sentSinceProgressTick && this.writable) {
        this.sendControl({ header: this.opts.headers.header(revision), watchId: fromBigInt(w.id, false) });
      }
      w.sentSinceProgressTick = false;
    }
  }

  /** Removes every watcher (the stream ended). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watchers.values()) this.opts.hub.remove(w);
    this.watchers.clear();
  }

  // ---- WatchSink ----

  sendEvents(w: Watcher, events: readonly WatchEvent[], headerRevision: number): void {
    const fields: Buffer[] = [];
    for (const e of events) if (w.accepts(e)) fields.push(e.field(w.prevKv));
    // As etcd: when the filters drop every event, nothing is sent.
    if (fields.length === 0) return;
    w.sentSinceProgressTick = true;
    const header = this.opts.headers.headerField(headerRevision);
    const idField = (w.idField ??= watchIdField(w.id));
    if (!w.fragment) {
      const out = this.opts.out;
      if (out.sendParts === undefined) {
        out.send(encodeEventsResponse(header, idField, fields, false));
        return;
      }
      // The response is header + watch ID + events, all of them cached bytes: no buffer of its own.
      let bytes = header.length + idField.length;
      for (const f of fields) bytes += f.length;
      fields.unshift(header, idField);
      out.sendParts(fields, bytes);
      return;
    }
    const groups = fragmentEvents(header.length + idField.length, fields, this.opts.maxRequestBytes);
    for (let i = 0; i < groups.length; i++) {
      this.opts.out.send(encodeEventsResponse(header, idField, groups[i]!, i < groups.length - 1));
    }
  }

  sendCompacted(w: Watcher, compactRevision: number): void {
    this.watchers.delete(w.id);
    // etcd: the header of a compaction response carries no revision.
    this.sendControl({ header: this.opts.headers.header(0), watchId: fromBigInt(w.id, false), canceled: true, compactRevision });
    this.answerProgressIfSynced();
  }

  watcherSynced(_w: Watcher): void {
    this.answerProgressIfSynced();
  }

  private sendControl(resp: pb.IWatchResponse): void {
    this.opts.out.send(pb.WatchResponse.encode(resp).finish());
  }
}

/** etcd's create-request key conventions (v3rpc/watch.go) as a KeyRange of latin1 strings. */
export function toKeyRange(key: Uint8Array, rangeEnd: Uint8Array): KeyRange {
  // An empty key is the smallest key, "\x00".
  const k = key.length === 0 ? '\x00' : Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
  if (rangeEnd.length === 0) return { key: k, end: undefined };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { key: k, end: '' };
  return { key: k, end: Buffer.from(rangeEnd.buffer, rangeEnd.byteOffset, rangeEnd.byteLength).toString('latin1') };
}
