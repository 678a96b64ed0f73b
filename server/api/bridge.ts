/**
 * The hand-off of gRPC calls between the transport thread and the member thread.
 *
 * Traffic that arrives in one event-loop turn travels together: every row's bytes are copied into
 * one fresh ArrayBuffer that is transferred (not cloned) with a single postMessage; answers come
 * back the same way. Copying into one buffer matters: structured clone of a Buffer that is a view
 * into node's pooled slabs would copy the whole slab.
 *
 * Rows carry an op. Transport → member: a unary call, and for streaming calls open / message /
 * half-close / cancel / writable-changed. Member → transport: a unary result, and for streams a
 * message to send or the end of the call.
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import { strict as assert } from 'node:assert';

/** gRPC status OK. */
export const STATUS_OK = 0;
const STATUS_CANCELLED = 1;
const STATUS_RESOURCE_EXHAUSTED = 8;

/** Row ops, transport → member. */
export const enum CallOp {
  Unary = 1,
  StreamOpen = 2,
  StreamMessage = 3,
  StreamHalfClose = 4,
  StreamCancel = 5,
  /** `code` is 1 when the client's stream can take more, 0 when its send buffer is full. */
  StreamWritable = 6,
}

/** Row ops, member → transport. */
export const enum ResultOp {
  Unary = 1,
  StreamSend = 2,
  StreamEnd = 3,
}

interface Batch {
  readonly ops: number[];
  readonly ids: number[];
  /** Calls: the method index (or writable flag); results: the gRPC status. */
  readonly codes: number[];
  readonly messages: (string | null)[];
  /** Payload i is bytes [offsets[i], offsets[i+1]) of `data`. */
  readonly offsets: number[];
  readonly data: ArrayBuffer;
}

export interface CallBatch extends Batch {
  readonly kind: 'calls';
}

export interface ResultBatch extends Batch {
  readonly kind: 'results';
}

type Port = Pick<MessagePort, 'postMessage'> | Pick<Worker, 'postMessage'>;

const EMPTY = new Uint8Array(0);

/** Accumulates rows during a turn and posts them as one message. */
class BatchWriter {
  private ops: number[] = [];
  private ids: number[] = [];
  private codes: number[] = [];
  private messages: (string | null)[] = [];
  /** A payload, or the parts of one (copied one after the other at flush). */
  private payloads: (Uint8Array | readonly Uint8Array[])[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(
    private readonly port: Port,
    private readonly kind: 'calls' | 'results',
  ) {}

  add(op: number, id: number, code: number, message: string | null, payload: Uint8Array | undefined): void {
    this.ops.push(op);
    this.ids.push(id);
    this.codes.push(code);
    this.messages.push(message);
    const p = payload ?? EMPTY;
    this.payloads.push(p);
    this.bytes += p.length;
    this.schedule();
  }

  /**
   * A row whose payload is the concatenation of `parts` (`bytes` in all): the parts are copied
   * straight into the batch, with no buffer of their own. They must not change until the flush.
   */
  addParts(op: number, id: number, code: number, parts: readonly Uint8Array[], bytes: number): void {
    this.ops.push(op);
    this.ids.push(id);
    this.codes.push(code);
    this.messages.push(null);
    this.payloads.push(parts);
    this.bytes += bytes;
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Posts what has accumulated now (also runs by itself once per turn). */
  readonly flush = (): void => {
    this.scheduled = false;
    const n = this.ids.length;
    if (n === 0) return;
    const data = new ArrayBuffer(this.bytes);
    const view = new Uint8Array(data);
    const offsets = new Array<number>(n + 1);
    let at = 0;
    for (let i = 0; i < n; i++) {
      offsets[i] = at;
      const p = this.payloads[i]!;
      if (p instanceof Uint8Array) {
        view.set(p, at);
        at += p.length;
      } else {
        for (const part of p) {
          view.set(part, at);
          at += part.length;
        }
      }
    }
    offsets[n] = at;
    const msg: CallBatch | ResultBatch = { kind: this.kind, ops: this.ops, ids: this.ids, codes: this.codes, messages: this.messages, offsets, data };
    this.port.postMessage(msg, [data]);
    this.ops = [];
    this.ids = [];
    this.codes = [];
    this.messages = [];
    this.payloads = [];
    this.bytes = 0;
  };
}

function payloadOf(batch: Batch, all: Uint8Array, i: number): Uint8Array {
  return all.subarray(batch.offsets[i]!, batch.offsets[i + 1]!);
}

// ---------------------------------------------------------------------------------------------
// Transport side

export type Answer = (status: number, payload: Uint8Array | undefined, message: string | null) => void;

/** What the transport does with a streaming call's output from the member. */
export interface StreamSink {
  /** Sends one message to the client; returns false when the client's send buffer is full. */
  send(payload: Uint8Array): boolean;
  end(status: number, message: string | null): void;
}

/** The transport's handle on a streaming call in the member. */
export interface StreamHandle {
  message(payload: Uint8Array): void;
  halfClose(): void;
  /** The client went away or the deadline passed. */
  cancel(): void;
  /** The client's send buffer drained. */
  drained(): void;
}

interface OpenStream {
  readonly sink: StreamSink;
  writable: boolean;
  /** Bytes the member sent while the client's buffer was full. */
  unwritableBytes: number;
}

export interface CallBridgeLimits {
  /** Unary calls waiting for an answer; past it `call` returns false. */
  readonly inFlightMax: number;
  /** Streaming calls open at once; past it `openStream` returns undefined. */
  readonly streamsMax: number;
  /** Bytes a stream may be sent after its client stopped reading; past it the stream is ended RESOURCE_EXHAUSTED. */
  readonly streamUnwritableBytesMax: number;
}

/**
 * Transport side: sends calls to the member thread and routes answers back. Every queue is
 * bounded by `limits`.
 */
export class CallBridge {
  private readonly writer: BatchWriter;
  private readonly pending = new Map<number, Answer>();
  private readonly streams = new Map<number, OpenStream>();
  private nextId = 1;

  constructor(
    port: Port,
    private readonly limits: CallBridgeLimits,
  ) {
    this.writer = new BatchWriter(port, 'calls');
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  private newId(): number {
    const id = this.nextId++;
    if (this.nextId > 0x7fffffff) this.nextId = 1;
    return id;
  }

  call(method: number, request: Uint8Array, answer: Answer): boolean {
    if (this.pending.size >= this.limits.inFlightMax) return false;
    const id = this.newId();
    this.pending.set(id, answer);
    this.writer.add(CallOp.Unary, id, method, null, request);
    return true;
  }

  /**
   * Opens a streaming call in the member; undefined when too many are open. `metadata` carries the
   * request headers the member's services read (e.g. `hasleader`).
   */
  openStream(method: number, sink: StreamSink, metadata?: Readonly<Record<string, string>>): StreamHandle | undefined {
    if (this.streams.size >= this.limits.streamsMax) return undefined;
    const id = this.newId();
    const state: OpenStream = { sink, writable: true, unwritableBytes: 0 };
    this.streams.set(id, state);
    this.writer.add(CallOp.StreamOpen, id, method, metadata === undefined ? null : JSON.stringify(metadata), undefined);
    const open = (): boolean => this.streams.get(id) === state;
    return {
      message: (payload) => {
        if (open()) this.writer.add(CallOp.StreamMessage, id, 0, null, payload);
      },
      halfClose: () => {
        if (open()) this.writer.add(CallOp.StreamHalfClose, id, 0, null, undefined);
      },
      cancel: () => {
        if (!open()) return;
        this.streams.delete(id);
        this.writer.add(CallOp.StreamCancel, id, 0, null, undefined);
      },
      drained: () => {
        if (!open() || state.writable) return;
        state.writable = true;
        state.unwritableBytes = 0;
        this.writer.add(CallOp.StreamWritable, id, 1, null, undefined);
      },
    };
  }

  /** Delivers a ResultBatch from the member thread. */
  onResults(batch: ResultBatch): void {
    const all = new Uint8Array(batch.data);
    for (let i = 0; i < batch.ids.length; i++) {
      const id = batch.ids[i]!;
      switch (batch.ops[i]) {
        case ResultOp.Unary: {
          const answer = this.pending.get(id);
          if (answer === undefined) break;
          this.pending.delete(id);
          const status = batch.codes[i]!;
          answer(status, status === STATUS_OK ? payloadOf(batch, all, i) : undefined, batch.messages[i]!);
          break;
        }
        case ResultOp.StreamSend:
          this.deliver(id, payloadOf(batch, all, i));
          break;
        case ResultOp.StreamEnd: {
          const s = this.streams.get(id);
          if (s === undefined) break;
          this.streams.delete(id);
          s.sink.end(batch.codes[i]!, batch.messages[i]!);
          break;
        }
        default:
          assert.fail(`unknown result op ${batch.ops[i]}`);
      }
    }
  }

  private deliver(id: number, payload: Uint8Array): void {
    const s = this.streams.get(id);
    if (s === undefined) return;
    if (!s.writable) {
      s.unwritableBytes += payload.length;
      if (s.unwritableBytes > this.limits.streamUnwritableBytesMax) {
        // The member kept sending to a client that stopped reading: end the call rather than grow.
        this.streams.delete(id);
        s.sink.end(STATUS_RESOURCE_EXHAUSTED, 'etcdserver: stream send buffer full; the client is not reading');
        this.writer.add(CallOp.StreamCancel, id, 0, null, undefined);
        return;
      }
    }
    if (!s.sink.send(payload) && s.writable) {
      s.writable = false;
      this.writer.add(CallOp.StreamWritable, id, 0, null, undefined);
    }
  }

  /** Fails every waiting call and ends every stream (the member thread is gone). */
  failAll(status: number, message: string): void {
    for (const answer of this.pending.values()) answer(status, undefined, message);
    this.pending.clear();
    for (const s of this.streams.values()) s.sink.end(status, message);
    this.streams.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Member side

/** What the member thread does with one unary call: answer now, or later through `reply`. */
export type CallHandler = (request: Uint8Array, reply: Reply) => void;
export type Reply = (status: number, payload: Uint8Array | undefined, message?: string) => void;

/** A streaming call as a service in the member thread sees it. */
export interface MemberStream {
  /** Request headers the transport passed on (e.g. `hasleader`), lowercase names. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Request messages; the bytes are a view: copy to keep. */
  onMessage(cb: (message: Uint8Array) => void): void;
  onHalfClose(cb: () => void): void;
  /** The client is gone (cancelled, deadline, connection closed, or ended for not reading). */
  onCancel(cb: () => void): void;
  /** Called when the client's ability to take more messages changes. */
  onWritableChange(cb: (writable: boolean) => void): void;
  /** False while the client's send buffer is full: stop sending and catch up later. */
  readonly writable: boolean;
  readonly ended: boolean;
  send(message: Uint8Array): void;
  /**
   * Sends one message made of `parts` (`bytes` in all), copied into the outgoing batch at the end
   * of the turn: the parts must not change until then.
   */
  sendParts?(parts: readonly Uint8Array[], bytes: number): void;
  end(status?: number, message?: string): void;
}

export type StreamHandler = (stream: MemberStream) => void;

const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

/** Per method index: a unary handler, or a streaming one. */
export type MethodHandler = { readonly unary: CallHandler } | { readonly stream: StreamHandler };

class MemberStreamImpl implements MemberStream {
  writable = true;
  ended = false;
  private messageCb: ((m: Uint8Array) => void) | undefined;
  private halfCloseCb: (() => void) | undefined;
  private cancelCb: (() => void) | undefined;
  private writableCb: ((w: boolean) => void) | undefined;

  constructor(
    private readonly id: number,
    private readonly writer: BatchWriter,
    private readonly onEnded: (id: number) => void,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  onMessage(cb: (message: Uint8Array) => void): void {
    this.messageCb = cb;
  }
  onHalfClose(cb: () => void): void {
    this.halfCloseCb = cb;
  }
  onCancel(cb: () => void): void {
    this.cancelCb = cb;
  }
  onWritableChange(cb: (writable: boolean) => void): void {
    this.writableCb = cb;
  }
  send(message: Uint8Array): void {
    if (this.ended) return;
    this.writer.add(ResultOp.StreamSend, this.id, 0, null, message);
  }
  sendParts(parts: readonly Uint8Array[], bytes: number): void {
    if (this.ended) return;
    this.writer.addParts(ResultOp.StreamSend, this.id, 0, parts, bytes);
  }
  end(status = STATUS_OK, message?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.writer.add(ResultOp.StreamEnd, this.id, status, status === STATUS_OK ? null : (message ?? ''), undefined);
    this.onEnded(this.id);
  }

  deliver(message: Uint8Array): void {
    if (!this.ended) this.messageCb?.(message);
  }
  halfClosed(): void {
    if (!this.ended) this.halfCloseCb?.();
  }
  cancelled(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnded(this.id);
    this.cancelCb?.();
  }
  setWritable(writable: boolean): void {
    if (this.ended || writable === this.writable) return;
    this.writable = writable;
    this.writableCb?.(writable);
  }
}

/** Member side: runs handlers for incoming batches and batches the answers back. */
export class CallServer {
  private readonly writer: BatchWriter;
  private readonly streams = new Map<number, MemberStreamImpl>();

  constructor(
    port: Port,
    private readonly handlers: readonly MethodHandler[],
    private readonly onHandlerError: (err: unknown) => { status: number; message: string },
  ) {
    this.writer = new BatchWriter(port, 'results');
  }

  /** Posts pending answers now, before the thread blocks (e.g. on a synchronous fsync). */
  flushAnswers(): void {
    this.writer.flush();
  }

  onCalls(batch: CallBatch): void {
    const all = new Uint8Array(batch.data);
    for (let i = 0; i < batch.ids.length; i++) {
      const id = batch.ids[i]!;
      switch (batch.ops[i]) {
        case CallOp.Unary:
          this.unary(id, batch.codes[i]!, payloadOf(batch, all, i));
          break;
        case CallOp.StreamOpen:
          this.open(id, batch.codes[i]!, batch.messages[i] ?? null);
          break;
        case CallOp.StreamMessage:
          this.streams.get(id)?.deliver(payloadOf(batch, all, i));
          break;
        case CallOp.StreamHalfClose:
          this.streams.get(id)?.halfClosed();
          break;
        case CallOp.StreamCancel:
          this.streams.get(id)?.cancelled();
          break;
        case CallOp.StreamWritable:
          this.streams.get(id)?.setWritable(batch.codes[i] === 1);
          break;
        default:
          assert.fail(`unknown call op ${batch.ops[i]}`);
      }
    }
  }

  private unary(id: number, method: number, request: Uint8Array): void {
    const handler = this.handlers[method];
    assert(handler !== undefined && 'unary' in handler, `no unary handler for method ${method}`);
    let answered = false;
    const reply: Reply = (status, payload, message) => {
      assert(!answered, 'a call was answered twice');
      answered = true;
      this.writer.add(ResultOp.Unary, id, status, status === STATUS_OK ? null : (message ?? ''), status === STATUS_OK ? payload : undefined);
    };
    try {
      handler.unary(request, reply);
    } catch (err) {
      if (!answered) {
        const e = this.onHandlerError(err);
        reply(e.status, undefined, e.message);
      }
    }
  }

  private open(id: number, method: number, metadataJson: string | null): void {
    const handler = this.handlers[method];
    assert(handler !== undefined && 'stream' in handler, `no stream handler for method ${method}`);
    const metadata = metadataJson === null ? NO_METADATA : (JSON.parse(metadataJson) as Record<string, string>);
    const stream = new MemberStreamImpl(id, this.writer, (done) => this.streams.delete(done), metadata);
    this.streams.set(id, stream);
    try {
      handler.stream(stream);
    } catch (err) {
      const e = this.onHandlerError(err);
      stream.end(e.status === STATUS_OK ? STATUS_CANCELLED : e.status, e.message);
    }
  }
}
