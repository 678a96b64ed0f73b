/**
 * Watch: typed events as an AsyncIterable and as an EventEmitter, many watchers over one bidi
 * stream per connection (per `hasleader` setting), and resumption after a disconnect from the last
 * revision delivered + 1 on the next healthy endpoint, so no event is lost or repeated.
 *
 * Resumption invariant: a watcher's `nextRevision` is the smallest revision it has not fully
 * delivered. etcd sends all events of one revision in one response (fragments are not asked for),
 * so after delivering a response whose last event has mod revision R, every event ≤ R was delivered
 * and the watch resumes at R + 1; events below `nextRevision` that arrive anyway are dropped.
 */
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { etcdserverpb as pb, mvccpb } from '../proto/index';
import { Namespace } from './bytes';
import { Connection, Endpoint, RPC } from './connection';
import {
  ClientClosedError,
  EtcdError,
  InvalidArgumentError,
  UnavailableError,
  WatchBufferOverflowError,
  WatchCancelledError,
  WatchCompactedError,
  fromGrpcError,
} from './errors';
import { KeyOrSelector, resolveSelector } from './range';
import { Int64Input, KeyValue, big, int64Field, toKeyValue } from './types';

/**
 * Options of a watch.
 * @example client.watch({ prefix: 'jobs/' }, { startRevision: 100n, prevKv: true })
 */
export interface WatchOptions {
  /** Deliver events from this revision on (it must not be compacted); default: from the next write. */
  startRevision?: Int64Input;
  /** Include the previous key-value in each event. */
  prevKv?: boolean;
  /** Leave out puts and/or deletes. */
  filters?: { noPut?: boolean; noDelete?: boolean };
  /** Ask the server for periodic progress notifications (`'progress'` events) while idle. */
  progressNotify?: boolean;
  /** Ask for `hasleader`: the server cancels the stream when it has no leader, and the watch moves on. Default: the client's `requireLeader`. */
  requireLeader?: boolean;
  /** Events buffered for the async iterator before the watch fails with WatchBufferOverflowError (default 100 000). */
  eventsBufferedMax?: number;
}

/**
 * One change to a key.
 * @example for await (const ev of watcher) console.log(ev.type, ev.kv.key.toString(), ev.revision);
 */
export interface WatchEvent {
  readonly type: 'put' | 'delete';
  /** The key-value after the change (for a delete: the key, the deletion's revision, an empty value). */
  readonly kv: KeyValue;
  /** The key-value before the change, when asked for with `prevKv` and it existed. */
  readonly prevKv?: KeyValue;
  /** The revision of the change (`kv.modRevision`). */
  readonly revision: bigint;
}

type WatcherState = 'pending' | 'active' | 'ended';

/**
 * A watch on a key or range. Iterate it (`for await`) or listen to it:
 * - `'event'` (WatchEvent), `'put'`, `'delete'`: each change, in revision order;
 * - `'progress'` (revision: bigint): no change up to that revision;
 * - `'connected'`, `'disconnected'` (error): the stream came up or went away (the watch resumes by itself);
 * - `'error'` (EtcdError): the watch cannot go on (compacted start revision: {@link WatchCompactedError}); it has ended;
 * - `'end'`: the watch ended (cancel, error, client closed).
 * @example
 * const watcher = client.watch({ prefix: 'config/' });
 * watcher.on('put', (ev) => reload(ev.kv.key.toString(), ev.kv.value.toString()));
 * await watcher.ready();
 */
export class Watcher extends EventEmitter implements AsyncIterable<WatchEvent> {
  /** The server's watch ID on the current stream; undefined while not registered. */
  watchId: bigint | undefined;
  /** The smallest revision not yet delivered: where the watch resumes after a disconnect (0n: from now). */
  nextRevision: bigint;
  /**
   * The endpoint (as given in the client's `endpoints`) whose stream serves the watch; undefined
   * while it is not registered (before `ready()`, or between a disconnect and its resumption).
   * @example await watcher.ready(); console.log('watching through', watcher.endpoint);
   */
  endpoint: string | undefined;
  /** @internal */ state: WatcherState = 'pending';
  /** @internal */ readonly request: pb.WatchCreateRequest.$Properties;
  /** @internal */ readonly requireLeader: boolean;
  private readonly buffer: (WatchEvent | EtcdError | null)[] = [];
  private waiting: ((v: void) => void) | undefined;
  private iterating = false;
  private readonly eventsBufferedMax: number;
  private readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (e: unknown) => void;

  /** @internal made by `client.watch()`. */
  constructor(
    private readonly hub: WatchHub,
    private readonly ns: Namespace,
    selector: KeyOrSelector,
    options: WatchOptions,
    defaultRequireLeader: boolean,
  ) {
    super();
    const r = resolveSelector(selector, ns);
    const max = options.eventsBufferedMax ?? 100_000;
    if (!(Number.isSafeInteger(max) && max > 0)) throw new InvalidArgumentError('eventsBufferedMax must be a positive integer');
    if (options.filters?.noPut === true && options.filters.noDelete === true) throw new InvalidArgumentError('filters noPut and noDelete together leave nothing to watch');
    this.eventsBufferedMax = max;
    const start = options.startRevision === undefined ? 0n : BigInt(options.startRevision);
    int64Field(start, 'startRevision');
    this.nextRevision = start;
    const filters: number[] = [];
    if (options.filters?.noPut === true) filters.push(0);
    if (options.filters?.noDelete === true) filters.push(1);
    this.request = {
      key: r.key,
      rangeEnd: r.rangeEnd,
      prevKv: options.prevKv === true,
      progressNotify: options.progressNotify === true,
      filters,
    };
    this.requireLeader = options.requireLeader ?? defaultRequireLeader;
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.readyPromise.catch(() => undefined);
  }

  /**
   * Resolves once the server has registered the watch (events after this point are delivered).
   * @throws the watch's error if it fails before that (e.g. WatchCompactedError).
   * @example const w = client.watch('k'); await w.ready(); await client.put('k', 'v'); // seen by w
   */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** True once the watch has ended. @example if (watcher.ended) ... */
  get ended(): boolean {
    return this.state === 'ended';
  }

  /**
   * Asks the server for a progress notification: a `'progress'` event with the current revision.
   * @example watcher.on('progress', (rev) => console.log('up to date at', rev)); watcher.requestProgress();
   */
  requestProgress(): void {
    this.hub.requestProgress(this);
  }

  /**
   * Stops the watch; the iterator ends and `'end'` is emitted.
   * @example await watcher.cancel();
   */
  async cancel(): Promise<void> {
    if (this.state === 'ended') return;
    this.hub.remove(this);
    this.finish(null);
  }

  /** @internal the stream created the watch. */
  onCreated(watchId: bigint, headerRevision: bigint, endpoint: string | undefined): void {
    this.watchId = watchId;
    this.endpoint = endpoint;
    this.state = 'active';
    // From "now": the watch covers every revision after the one the server was at.
    if (this.nextRevision === 0n) this.nextRevision = headerRevision + 1n;
    this.resolveReady();
    this.emit('connected');
  }

  /** @internal a response with events. */
  onEvents(events: mvccpb.Event.$Properties[]): void {
    // Events of one revision arrive together: compare with where this response starts, not with
    // the revision after the previous event of the same response.
    const from = this.nextRevision;
    for (const e of events) {
      const kv = toKeyValue(e.kv!, this.ns);
      if (kv.modRevision < from) continue; // already delivered before a resume
      const ev: WatchEvent = {
        type: e.type === 1 ? 'delete' : 'put',
        kv,
        revision: kv.modRevision,
        ...(e.prevKv ? { prevKv: toKeyValue(e.prevKv, this.ns) } : {}),
      };
      this.nextRevision = kv.modRevision + 1n;
      this.deliver(ev);
      if (this.state === 'ended') return;
    }
  }

  /** @internal a progress notification. */
  onProgress(revision: bigint): void {
    this.emit('progress', revision);
  }

  /** @internal the stream went away; the hub re-creates the watch. */
  onDisconnected(err: EtcdError): void {
    if (this.state === 'ended') return;
    this.state = 'pending';
    this.watchId = undefined;
    this.endpoint = undefined;
    if (this.listenerCount('disconnected') > 0) this.emit('disconnected', err);
  }

  /** @internal ends the watch with `err` (null: a normal end). */
  finish(err: EtcdError | null): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.rejectReady(err ?? new ClientClosedError('watcher'));
    if (err !== null) {
      if (this.iterating) this.push(err);
      if (this.listenerCount('error') > 0) this.emit('error', err);
    }
    this.push(null);
    this.emit('end');
  }

  private deliver(ev: WatchEvent): void {
    const listened = this.listenerCount('event') + this.listenerCount(ev.type) > 0;
    if (listened) {
      this.emit('event', ev);
      this.emit(ev.type, ev);
    }
    if (this.iterating || !listened) {
      if (this.buffer.length >= this.eventsBufferedMax) {
        this.hub.remove(this);
        this.finish(new WatchBufferOverflowError(this.eventsBufferedMax));
        return;
      }
      this.push(ev);
    }
  }

  private push(item: WatchEvent | EtcdError | null): void {
    this.buffer.push(item);
    const w = this.waiting;
    if (w !== undefined) {
      this.waiting = undefined;
      w();
    }
  }

  /**
   * Iterates events in revision order until the watch ends; throws the watch's error (e.g.
   * WatchCompactedError). Breaking out of the loop cancels the watch.
   * @example for await (const ev of client.watch({ prefix: 'a/' })) if (ev.type === 'delete') break;
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<WatchEvent> {
    if (this.iterating) throw new InvalidArgumentError('a watcher can be iterated once');
    this.iterating = true;
    try {
      for (;;) {
        while (this.buffer.length === 0) await new Promise<void>((r) => (this.waiting = r));
        const item = this.buffer.shift()!;
        if (item === null) return;
        if (item instanceof EtcdError) throw item;
        yield item;
      }
    } finally {
      await this.cancel();
    }
  }
}

/** One bidi Watch stream and the watchers on it. */
class WatchStream {
  private stream: grpc.ClientDuplexStream<pb.WatchRequest.$Properties, pb.WatchResponse> | undefined;
  private endpoint: Endpoint | undefined;
  private readonly byId = new Map<bigint, Watcher>();
  /** Watchers waiting for their create request to be answered, in order; the first one is in flight. */
  private readonly creating: Watcher[] = [];
  private inFlight: Watcher | undefined;
  private opening = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly conn: Connection,
    private readonly requireLeader: boolean,
  ) {}

  get size(): number {
    return this.byId.size + this.creating.length + (this.inFlight === undefined ? 0 : 1);
  }

  add(w: Watcher): void {
    this.creating.push(w);
    if (this.stream === undefined) void this.open();
    else this.sendNextCreate();
  }

  remove(w: Watcher): void {
    const i = this.creating.indexOf(w);
    if (i >= 0) this.creating.splice(i, 1);
    if (w.watchId !== undefined && this.byId.get(w.watchId) === w) {
      this.byId.delete(w.watchId);
      this.stream?.write({ cancelRequest: { watchId: int64Field(w.watchId, 'watchId', { min: -(1n << 63n) }) } });
    }
    // An in-flight create is cancelled when its answer comes (inFlight stays set until then).
    if (this.size === 0 || (this.size === 1 && this.inFlight === w)) this.idleClose();
  }

  requestProgress(): void {
    this.stream?.write({ progressRequest: {} });
  }

  close(err: EtcdError): void {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    const all = [...this.byId.values(), ...this.creating, ...(this.inFlight ? [this.inFlight] : [])];
    this.byId.clear();
    this.creating.length = 0;
    this.inFlight = undefined;
    this.dropStream();
    for (const w of all) w.finish(err instanceof ClientClosedError ? null : err);
  }

  private idleClose(): void {
    if (this.inFlight !== undefined && this.inFlight.state !== 'ended') return;
    if (this.byId.size > 0 || this.creating.length > 0) return;
    this.inFlight = undefined;
    this.dropStream();
  }

  private dropStream(): void {
    const s = this.stream;
    this.stream = undefined;
    if (s !== undefined) {
      s.removeAllListeners('data');
      s.removeAllListeners('error');
      s.removeAllListeners('end');
      s.on('error', () => undefined);
      s.cancel();
    }
  }

  private async open(): Promise<void> {
    if (this.opening || this.closed) return;
    this.opening = true;
    try {
      const { stream, endpoint } = await this.conn.openBidi<pb.WatchRequest.$Properties, pb.WatchResponse>(RPC.Watch.Watch, this.requireLeader);
      if (this.closed) {
        stream.on('error', () => undefined);
        stream.cancel();
        return;
      }
      this.stream = stream;
      this.endpoint = endpoint;
      stream.on('data', (resp: pb.WatchResponse) => this.onResponse(resp));
      stream.on('error', (e: unknown) => this.onFailure(fromGrpcError(e)));
      stream.on('end', () => this.onFailure(new UnavailableError('watch stream ended by the server', false)));
      this.sendNextCreate();
    } catch (e) {
      this.opening = false;
      this.onFailure(fromGrpcError(e));
      return;
    }
    this.opening = false;
  }

  private sendNextCreate(): void {
    if (this.stream === undefined || this.inFlight !== undefined) return;
    const w = this.creating.shift();
    if (w === undefined) return;
    this.inFlight = w;
    const startRevision = w.nextRevision === 0n ? 0 : int64Field(w.nextRevision, 'startRevision');
    this.stream.write({ createRequest: { ...w.request, startRevision } });
  }

  private onResponse(resp: pb.WatchResponse): void {
    const watchId = big(resp.watchId);
    const revision = big(resp.header?.revision);
    if (resp.created) {
      const w = this.inFlight;
      this.inFlight = undefined;
      if (this.endpoint !== undefined) this.conn.markUp(this.endpoint);
      this.failures = 0;
      if (w !== undefined) {
        if (resp.canceled || watchId === -1n) {
          w.finish(new WatchCancelledError(resp.cancelReason ?? ''));
        } else if (w.state === 'ended') {
          this.stream?.write({ cancelRequest: { watchId: resp.watchId } });
        } else {
          this.byId.set(watchId, w);
          w.onCreated(watchId, revision, this.endpoint?.url);
        }
      }
      this.sendNextCreate();
      if (this.size === 0) this.idleClose();
      return;
    }
    if (watchId === -1n) {
      // A progress response to a progress request: for every watcher on the stream.
      for (const w of this.byId.values()) w.onProgress(revision);
      return;
    }
    const w = this.byId.get(watchId);
    if (w === undefined) return; // cancelled by us; late responses are dropped
    if (resp.events.length > 0) w.onEvents(resp.events);
    if (resp.canceled) {
      this.byId.delete(watchId);
      const compactRevision = big(resp.compactRevision);
      if (compactRevision !== 0n) {
        w.finish(new WatchCompactedError(compactRevision));
      } else {
        const err = fromGrpcError({ code: 1, details: resp.cancelReason ?? '' });
        if (err.retryable) {
          // e.g. "etcdserver: no leader": create it again, on this stream or after a reconnect.
          w.onDisconnected(err);
          this.creating.push(w);
          this.sendNextCreate();
        } else {
          w.finish(new WatchCancelledError(resp.cancelReason ?? ''));
        }
      }
      return;
    }
    if (resp.events.length === 0) w.onProgress(revision);
  }

  private onFailure(err: EtcdError): void {
    if (this.closed) return;
    if (this.endpoint !== undefined && (err instanceof UnavailableError || err.retryable)) this.conn.markDown(this.endpoint);
    this.dropStream();
    const affected = [...(this.inFlight ? [this.inFlight] : []), ...this.byId.values()].filter((w) => w.state !== 'ended');
    this.inFlight = undefined;
    this.byId.clear();
    for (const w of affected) w.onDisconnected(err);
    this.creating.unshift(...affected);
    if (this.creating.length === 0) return;
    this.failures++;
    const delayMs = Math.min(50 * 2 ** this.failures, 2_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.open();
    }, delayMs);
  }
}

/**
 * The client's watch streams: one per `hasleader` setting, shared by every watcher. Internal.
 */
export class WatchHub {
  private readonly streams = new Map<boolean, WatchStream>();
  private readonly of = new Map<Watcher, WatchStream>();

  constructor(private readonly conn: Connection) {
    conn.onClose(() => {
      for (const s of this.streams.values()) s.close(new ClientClosedError());
      this.streams.clear();
      this.of.clear();
    });
  }

  /** Creates a watcher and registers it on the shared stream. */
  watch(ns: Namespace, selector: KeyOrSelector, options: WatchOptions): Watcher {
    this.conn.assertOpen();
    const w = new Watcher(this, ns, selector, options, this.conn.requireLeader);
    let s = this.streams.get(w.requireLeader);
    if (s === undefined) {
      s = new WatchStream(this.conn, w.requireLeader);
      this.streams.set(w.requireLeader, s);
    }
    this.of.set(w, s);
    s.add(w);
    return w;
  }

  /** @internal */
  remove(w: Watcher): void {
    this.of.get(w)?.remove(w);
    this.of.delete(w);
  }

  /** @internal */
  requestProgress(w: Watcher): void {
    this.of.get(w)?.requestProgress();
  }
}
