/**
 * One lane of messages from this member to one peer: a bounded queue drained into one long-lived
 * HTTP/2 request stream on a connection of its own, reconnected with exponential backoff.
 *
 * States: connecting (queue, do not write yet) → connected (write as the stream drains) → on any
 * failure: backoff (queue emptied, sends dropped) → connecting … . `enqueue` never blocks and
 * never grows the queue past its limits: it answers false and the caller reports the peer
 * unreachable (Raft retries).
 */
import * as http2 from 'node:http2';
import { Message, MessageType } from '../raft/types';
import { encodeMessageInto } from './codec';
import { isMergeableType, Mergeable, mergeInto } from './merge';
import { writeU32 } from './framing';
import { backoffDelayMs, TransportLimits, TransportLogger } from './limits';
import { HEADER_ERROR, LaneKind, lanePath } from './wire';

export type LaneState = 'connecting' | 'connected' | 'backoff' | 'closed';

export interface LaneOptions {
  readonly kind: LaneKind;
  readonly urls: readonly string[];
  /** streamHeaders(...) for this sender and peer. */
  readonly headers: Record<string, string>;
  readonly limits: TransportLimits;
  readonly log: TransportLogger;
  /** Log fields naming the peer. */
  readonly logFields: object;
  /** Messages were lost (queue emptied by a failure, or a connection with writes in flight broke). */
  readonly onLoss: () => void;
  /** The peer answered 410: it has removed this member from the cluster. */
  readonly onRemoved?: () => void;
}

/** A queued message; merge.ts may grow or replace it while it waits. */
type Queued = Mergeable;

/** A FIFO with O(1) push and shift: an array with a moving head, compacted now and then. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(x: T): void {
    this.items.push(x);
  }
  peek(): T {
    return this.items[this.head];
  }
  shift(): T {
    const x = this.items[this.head];
    (this.items as (T | undefined)[])[this.head] = undefined;
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class Lane {
  private stateValue: LaneState = 'backoff';
  private urls: readonly string[];
  private urlCursor = 0;
  private readonly queue = new Fifo<Queued>();
  private queuedBytes = 0;
  /** The last queued message of each mergeable type, while it is still queued (merge.ts). */
  private readonly lastMergeable = new Map<MessageType, Queued>();
  /** Bumped on every new attempt and failure: events of an older attempt are ignored. */
  private generation = 0;
  private failures = 0;
  private session: http2.ClientHttp2Session | undefined;
  private stream: http2.ClientHttp2Stream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private pingSentMs: number | undefined;
  private writeBlocked = false;
  private flushScheduled = false;
  private started = false;
  /** Date.now() when the lane last became connected; undefined while it is not. */
  connectedSinceMs: number | undefined;
  /** The URL of the current connection, when connected. */
  connectedUrl: string | undefined;

  constructor(private readonly opts: LaneOptions) {
    this.urls = opts.urls;
  }

  get state(): LaneState {
    return this.stateValue;
  }

  /** Messages waiting (for tests and metrics). */
  get queuedMessages(): number {
    return this.queue.length;
  }

  /** Starts the first connection attempt. */
  start(): void {
    if (this.started || this.stateValue === 'closed') return;
    this.started = true;
    this.connect();
  }

  /**
   * Queues `m` (`bytes` = its encoded size). False when it was dropped: the lane is in backoff or
   * closed, or the queue is at its message or byte limit.
   */
  enqueue(m: Message, bytes: number): boolean {
    const s = this.stateValue;
    if (s !== 'connecting' && s !== 'connected') return false;
    const limits = this.opts.limits;
    const mergeable = isMergeableType(m.type);
    if (mergeable) {
      const last = this.lastMergeable.get(m.type);
      if (last !== undefined) {
        const room = limits.queueBytesMax - this.queuedBytes;
        const grew = mergeInto(last, m, bytes, Math.min(limits.mergeBytesMax, last.bytes + Math.max(0, room)));
        if (grew !== undefined) {
          this.queuedBytes += grew;
          return true;
        }
      }
    }
    if (this.queue.length >= limits.queueMessagesMax) return false;
    if (this.queuedBytes > 0 && this.queuedBytes + bytes > limits.queueBytesMax) return false;
    const q: Queued = { m, bytes, ownsEntries: false };
    this.queue.push(q);
    this.queuedBytes += bytes;
    if (mergeable) this.lastMergeable.set(m.type, q);
    if (s === 'connected' && !this.flushScheduled && !this.writeBlocked) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
    return true;
  }

  /** New addresses for the peer: reconnects to them. */
  setUrls(urls: readonly string[]): void {
    this.urls = urls;
    this.urlCursor = 0;
    if (!this.started || this.stateValue === 'closed') return;
    if (this.stateValue === 'backoff') {
      if (this.timer !== undefined) this.clearTimer();
      this.failures = 0;
      this.connect();
      return;
    }
    this.fail(this.generation, new Error('peer URLs changed'), { quiet: true, retryNow: true });
  }

  close(): void {
    if (this.stateValue === 'closed') return;
    const wasConnected = this.stateValue === 'connected';
    this.stateValue = 'closed';
    this.generation++;
    this.teardown();
    this.queue.clear();
    this.lastMergeable.clear();
    this.queuedBytes = 0;
    if (wasConnected) this.setInactive();
  }

  private connect(): void {
    this.clearTimer();
    const gen = ++this.generation;
    this.stateValue = 'connecting';
    const url = this.urls[this.urlCursor++ % this.urls.length];
    let session: http2.ClientHttp2Session;
    try {
      session = http2.connect(url, { maxSessionMemory: 64 });
    } catch (err) {
      this.fail(gen, err);
      return;
    }
    this.session = session;
    session.on('error', (err) => this.fail(gen, err));
    session.on('close', () => this.fail(gen, new Error('connection closed')));
    const stream = session.request({ ':method': 'POST', ':path': lanePath(this.opts.kind), ...this.opts.headers }, { endStream: false });
    this.stream = stream;
    stream.on('response', (headers) => {
      if (gen !== this.generation) return;
      const status = headers[':status'];
      if (status !== 200) {
        if (status === 410) this.opts.onRemoved?.();
        this.fail(gen, new Error(`peer refused the stream: ${status} ${String(headers[HEADER_ERROR] ?? '')}`));
        return;
      }
      this.onConnected(gen, url);
    });
    stream.on('error', (err) => this.fail(gen, err));
    stream.on('close', () => this.fail(gen, new Error('stream closed by the peer')));
    stream.resume();
    this.timer = setTimeout(() => this.fail(gen, new Error(`no accepted stream within ${this.opts.limits.dialTimeoutMs} ms`)), this.opts.limits.dialTimeoutMs);
  }

  private onConnected(gen: number, url: string): void {
    this.clearTimer();
    this.stateValue = 'connected';
    this.failures = 0;
    this.connectedSinceMs = Date.now();
    this.connectedUrl = url;
    this.opts.log.info({ ...this.opts.logFields, lane: this.opts.kind, url }, 'peer stream connected');
    this.pingSentMs = undefined;
    this.pingTimer = setInterval(() => this.ping(gen), this.opts.limits.pingIntervalMs);
    this.flush();
  }

  private ping(gen: number): void {
    const session = this.session;
    if (gen !== this.generation || session === undefined) return;
    const now = Date.now();
    if (this.pingSentMs !== undefined) {
      if (now - this.pingSentMs > this.opts.limits.pingTimeoutMs) this.fail(gen, new Error(`ping unanswered for ${now - this.pingSentMs} ms`));
      return;
    }
    this.pingSentMs = now;
    const sent = session.ping((err) => {
      if (gen !== this.generation) return;
      if (err !== null) this.fail(gen, err);
      else this.pingSentMs = undefined;
    });
    if (!sent) this.pingSentMs = undefined;
  }

  /** Writes queued messages, coalesced into batches, until the stream pushes back. */
  private flush(): void {
    this.flushScheduled = false;
    const stream = this.stream;
    if (this.stateValue !== 'connected' || this.writeBlocked || stream === undefined) return;
    const batchMax = this.opts.limits.writeBatchBytesMax;
    while (this.queue.length > 0) {
      let size = 0;
      let count = 0;
      // Peek ahead: the batch is the longest prefix under the limit (at least one message).
      const batch: Queued[] = [];
      while (this.queue.length > 0 && (count === 0 || size + 4 + this.queue.peek().bytes <= batchMax)) {
        const q = this.queue.shift();
        if (this.lastMergeable.get(q.m.type) === q) this.lastMergeable.delete(q.m.type);
        batch.push(q);
        size += 4 + q.bytes;
        count++;
      }
      const buf = Buffer.allocUnsafe(size);
      let pos = 0;
      for (const q of batch) {
        writeU32(buf, pos, q.bytes);
        pos = encodeMessageInto(q.m, buf, pos + 4);
        this.queuedBytes -= q.bytes;
      }
      if (pos !== size) throw new Error(`lane: encoded ${pos} bytes, expected ${size}`);
      if (!stream.write(buf)) {
        this.writeBlocked = true;
        const gen = this.generation;
        stream.once('drain', () => {
          if (gen !== this.generation) return;
          this.writeBlocked = false;
          this.flush();
        });
        return;
      }
    }
  }

  private fail(gen: number, err: unknown, opts: { quiet?: boolean; retryNow?: boolean } = {}): void {
    if (gen !== this.generation || this.stateValue === 'closed') return;
    this.generation++;
    const wasConnected = this.stateValue === 'connected';
    this.teardown();
    const lost = this.queue.length > 0 || wasConnected;
    this.queue.clear();
    this.lastMergeable.clear();
    this.queuedBytes = 0;
    this.failures++;
    const fields = { ...this.opts.logFields, lane: this.opts.kind, err: err instanceof Error ? err.message : String(err) };
    if (opts.quiet) this.opts.log.info(fields, 'peer stream restarting');
    else if (wasConnected) this.opts.log.warn(fields, 'lost peer stream');
    else if (this.failures === 1) this.opts.log.warn(fields, 'cannot connect to peer; retrying with backoff');
    else this.opts.log.debug({ ...fields, failures: this.failures }, 'cannot connect to peer');
    if (wasConnected) this.setInactive();
    if (lost) this.opts.onLoss();
    this.stateValue = 'backoff';
    const gen2 = this.generation;
    const delay = opts.retryNow ? 0 : backoffDelayMs(this.opts.limits, this.failures);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (gen2 === this.generation && this.stateValue === 'backoff') this.connect();
    }, delay);
  }

  private setInactive(): void {
    this.connectedSinceMs = undefined;
    this.connectedUrl = undefined;
  }

  private teardown(): void {
    this.clearTimer();
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    this.writeBlocked = false;
    this.flushScheduled = false;
    const session = this.session;
    this.session = undefined;
    this.stream = undefined;
    session?.destroy();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
