/**
 * One gRPC call on one HTTP/2 stream: the {@link ServerCall} a handler sees, and the stream events
 * that drive it.
 *
 * Lean by design (this runs 10k times a second on the transport thread): one object per call, the
 * stream listeners are shared functions that find the call through a symbol property on the stream
 * (no closures per call), response headers and OK trailers are preallocated, and a message goes
 * out as one write of prefix + payload.
 */
import type * as http2 from 'node:http2';
import type { DeadlineWheel, Expirable } from './deadline';
import { FRAME_COPY_MAX_BYTES, FRAME_PREFIX_BYTES, frameMessage, framePrefix, MessageDecoder, type MessageSink } from './framing';
import { encodeGrpcMessage, Status, type CallStatus } from './status';

/**
 * A call as its handler sees it, for all four kinds. Callbacks should be registered synchronously in
 * the handler; messages that arrive before `onMessage` is registered are queued.
 */
export interface ServerCall {
  /** The method path, e.g. '/etcdserverpb.KV/Range'. */
  readonly path: string;
  /** The request headers as received ('authorization', 'token', 'hasleader', ...; '-bin' values stay base64). */
  readonly metadata: http2.IncomingHttpHeaders;
  /** Absolute deadline in `Date.now()` milliseconds, from `grpc-timeout`; Infinity if none. */
  readonly deadlineMs: number;
  /** True once the client cancelled, the deadline passed or the connection closed. */
  readonly cancelled: boolean;
  /** True once the call has ended (by `end`/`sendResponse`, an error, or cancellation). */
  readonly ended: boolean;
  /** Streaming requests: called per request message. The buffer may be a view: copy it to keep it. */
  onMessage(cb: (message: Buffer) => void): void;
  /** Streaming requests: the client has sent its last message. */
  onHalfClose(cb: () => void): void;
  /** The call was cancelled (client RST_STREAM, deadline, connection closed); not called after `end`. */
  onCancel(cb: () => void): void;
  /** Sends one response message (headers first if needed). Returns {@link writable}. */
  sendMessage(bytes: Uint8Array): boolean;
  /** Unary helper: one response message, then OK trailers. */
  sendResponse(bytes: Uint8Array): void;
  /** Ends the call with `status` (default OK). Later calls are ignored. */
  end(status?: CallStatus): void;
  /**
   * False while more than the server's `streamSendBufferBytes` wait in the stream's send buffer (or
   * the call ended); {@link onDrain} then fires once the buffer is empty.
   */
  writable(): boolean;
  /** Called when a stream that was not writable drains. */
  onDrain(cb: () => void): void;
}

/** The request kinds of a method, as in the .proto (`stream` on request and/or response). */
export type MethodKind = 'unary' | 'server-stream' | 'client-stream' | 'bidi';

/** Handler of a method whose request is one message ('unary', 'server-stream'). */
export type UnaryRequestHandler = (call: ServerCall, request: Buffer) => void;
/** Handler of a method whose request is a stream ('client-stream', 'bidi'): use `call.onMessage`. */
export type StreamRequestHandler = (call: ServerCall) => void;

/** What a call needs from its server. */
export interface CallHost {
  readonly receiveBytesMax: number;
  readonly sendBytesMax: number;
  /** Bytes a call may have waiting in its stream's send buffer before it reports not writable. */
  readonly sendBufferBytesMax: number;
  readonly wheel: DeadlineWheel;
  /** A handler or callback threw: log it (the call is answered INTERNAL). */
  handlerFailed(call: ServerCall, err: unknown): void;
}

const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = {
  ':status': 200,
  'content-type': 'application/grpc',
  'grpc-accept-encoding': 'identity',
};
const OK_TRAILERS: http2.OutgoingHttpHeaders = { 'grpc-status': '0' };
const OK_TRAILERS_ONLY: http2.OutgoingHttpHeaders = { ...RESPONSE_HEADERS, 'grpc-status': '0' };
const RESPOND_WITH_TRAILERS: http2.ServerStreamResponseOptions = { waitForTrailers: true, sendDate: false } as http2.ServerStreamResponseOptions;
const RESPOND_AND_END: http2.ServerStreamResponseOptions = { endStream: true, sendDate: false } as http2.ServerStreamResponseOptions;

const kCall = Symbol('grpcCall');
type CallStream = http2.ServerHttp2Stream & { [kCall]: GrpcCall };

function onStreamData(this: CallStream, chunk: Buffer): void {
  this[kCall].receive(chunk);
}
function onStreamEnd(this: CallStream): void {
  this[kCall].receiveEnd();
}
function onStreamClose(this: CallStream): void {
  this[kCall].streamClosed();
}
function onStreamError(this: CallStream): void {
  // A peer reset with an error code, or a write after close. 'close' follows and cancels the call.
}
function onWantTrailers(this: CallStream): void {
  this.sendTrailers(this[kCall].trailers);
}
function flushCallFrames(call: GrpcCall): void {
  call.flushFrames();
}
/** A tick's first buffer is as large as the last tick's frames, up to this (then grown by doubling). */
const PENDING_HINT_MAX_BYTES = 64 * 1024;
function onStreamDrain(this: CallStream): void {
  this[kCall].drained();
}

/** Builds the headers of an error status (trailers, or trailers-only with `withHeaders`). */
export function statusHeaders(status: CallStatus, withHeaders: boolean): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = withHeaders ? { ...RESPONSE_HEADERS } : {};
  out['grpc-status'] = String(status.code);
  if (status.message !== undefined && status.message !== '') out['grpc-message'] = encodeGrpcMessage(status.message);
  return out;
}

/** Answers a stream with a trailers-only status and discards whatever the client still sends. */
export function rejectStream(stream: http2.ServerHttp2Stream, status: CallStatus): void {
  stream.on('error', onStreamError);
  if (!stream.destroyed && !stream.closed && !stream.headersSent) stream.respond(statusHeaders(status, true), RESPOND_AND_END);
  stream.resume();
}

const KIND_UNARY_REQUEST = 0;
const KIND_STREAM_REQUEST = 1;

/** The {@link ServerCall} implementation. Created by the server per stream. */
export class GrpcCall implements ServerCall, MessageSink, Expirable {
  cancelled = false;
  ended = false;
  wheelSlot = -1;
  wheelIndex = -1;
  /** Trailers to send when the stream asks for them. */
  trailers: http2.OutgoingHttpHeaders = OK_TRAILERS;

  private readonly requestKind: number;
  private readonly decoder: MessageDecoder;
  private request: Buffer | null = null;
  private requestCount = 0;
  private headersSent = false;
  private halfClosed = false;
  private closed = false;
  private messageCb: ((message: Buffer) => void) | null = null;
  private halfCloseCb: (() => void) | null = null;
  private cancelCb: (() => void) | null = null;
  private drainCb: (() => void) | null = null;
  private queued: Buffer[] | null = null;
  /** More than `sendBufferBytesMax` was buffered; cleared by the stream's next 'drain'. */
  private blocked = false;
  private drainListened = false;
  /** Framed messages not yet written (the first `pendingBytes` bytes), written at the end of the tick. */
  private pending: Buffer | null = null;
  private pendingBytes = 0;
  /** The size of the last tick's frames: the next tick's buffer starts that large. */
  private lastFlushBytes = 0;

  constructor(
    private readonly host: CallHost,
    private readonly stream: http2.ServerHttp2Stream,
    readonly path: string,
    readonly metadata: http2.IncomingHttpHeaders,
    readonly deadlineMs: number,
    kind: MethodKind,
    private readonly unaryHandler: UnaryRequestHandler | null,
  ) {
    this.requestKind = kind === 'unary' || kind === 'server-stream' ? KIND_UNARY_REQUEST : KIND_STREAM_REQUEST;
    this.decoder = new MessageDecoder(host.receiveBytesMax);
    (stream as CallStream)[kCall] = this;
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    stream.on('close', onStreamClose);
    stream.on('error', onStreamError);
    if (deadlineMs !== Infinity) host.wheel.add(this);
  }

  // ---- ServerCall ----

  onMessage(cb: (message: Buffer) => void): void {
    this.messageCb = cb;
    const queued = this.queued;
    if (queued === null) return;
    this.queued = null;
    for (const m of queued) if (!this.ended) this.invoke(cb, m);
    if (this.halfClosed && this.halfCloseCb !== null && !this.ended) this.invoke(this.halfCloseCb, undefined);
  }

  onHalfClose(cb: () => void): void {
    this.halfCloseCb = cb;
  }

  onCancel(cb: () => void): void {
    this.cancelCb = cb;
  }

  onDrain(cb: () => void): void {
    this.listenDrain();
    this.drainCb = cb;
  }

  writable(): boolean {
    return !this.ended && !this.blocked;
  }

  sendMessage(bytes: Uint8Array): boolean {
    if (this.ended) return false;
    if (bytes.length > this.host.sendBytesMax) {
      this.end({ code: Status.RESOURCE_EXHAUSTED, message: `grpc: trying to send message larger than max (${bytes.length} vs. ${this.host.sendBytesMax})` });
      return false;
    }
    const s = this.stream;
    if (s.destroyed || s.closed) return false;
    if (!this.headersSent) this.respondHeaders(s);
    if (bytes.length <= FRAME_COPY_MAX_BYTES) {
      // Messages sent in one tick (a watch event fanned out to every watcher of the stream) go out
      // as one write: one buffer, one native write, instead of a buffer and a write each.
      this.appendFrame(bytes);
    } else {
      this.flushFrames();
      s.cork();
      s.write(framePrefix(bytes.length));
      s.write(bytes);
      s.uncork();
    }
    // Not node's 16 KiB high-water mark: one event fanned out to a hundred watchers of a stream is
    // more than that, and a stream that turned not writable on every such burst sent its watchers
    // to catch-up from history (measured: half of the watch responses of the fan-out benchmark were
    // sent while "not writable"). Past the bound node's needDrain is set too (the bound is above
    // the high-water mark), so 'drain' follows once the buffer is empty; until then the call stays
    // not writable.
    if (!this.blocked && s.writableLength + this.pendingBytes > this.host.sendBufferBytesMax) {
      this.blocked = true;
      this.listenDrain();
    }
    return !this.blocked;
  }

  sendResponse(bytes: Uint8Array): void {
    if (this.ended) return;
    if (bytes.length > this.host.sendBytesMax) {
      this.end({ code: Status.RESOURCE_EXHAUSTED, message: `grpc: trying to send message larger than max (${bytes.length} vs. ${this.host.sendBytesMax})` });
      return;
    }
    this.flushFrames();
    this.finish();
    const s = this.stream;
    if (s.destroyed || s.closed) return;
    if (!this.headersSent) this.respondHeaders(s);
    if (bytes.length <= FRAME_COPY_MAX_BYTES) {
      s.end(frameMessage(bytes));
    } else {
      s.write(framePrefix(bytes.length));
      s.end(bytes);
    }
  }

  end(status?: CallStatus): void {
    if (this.ended) return;
    this.flushFrames();
    this.finish();
    const s = this.stream;
    if (s.destroyed || s.closed) return;
    const ok = status === undefined || (status.code === Status.OK && !status.message);
    if (!this.headersSent) {
      // Trailers-only response: one HEADERS frame with END_STREAM.
      this.headersSent = true;
      s.respond(ok ? OK_TRAILERS_ONLY : statusHeaders(status!, true), RESPOND_AND_END);
    } else {
      this.trailers = ok ? OK_TRAILERS : statusHeaders(status!, false);
      s.end();
    }
  }

  // ---- stream events ----

  receive(chunk: Buffer): void {
    if (this.ended) return;
    this.decoder.push(chunk, this);
  }

  receiveEnd(): void {
    this.halfClosed = true;
    if (this.ended) return;
    if (this.decoder.midMessage) {
      this.end({ code: Status.INTERNAL, message: 'grpc: request stream ended in the middle of a message' });
      return;
    }
    if (this.requestKind === KIND_UNARY_REQUEST) {
      if (this.request === null) {
        this.end({ code: Status.UNIMPLEMENTED, message: 'grpc: no request message for a unary request' });
        return;
      }
      const request = this.request;
      this.request = null;
      try {
        this.unaryHandler!(this, request);
      } catch (err) {
        this.fail(err);
      }
      return;
    }
    if (this.halfCloseCb !== null && this.queued === null) this.invoke(this.halfCloseCb, undefined);
  }

  streamClosed(): void {
    this.closed = true;
    this.decoder.stop();
    if (this.ended) return;
    this.finish();
    this.cancelled = true;
    this.fireCancel();
  }

  drained(): void {
    this.blocked = false;
    if (this.drainCb !== null && !this.ended) this.invoke(this.drainCb, undefined);
  }

  // ---- MessageSink ----

  onDecodedMessage(message: Buffer): void {
    if (this.requestKind === KIND_UNARY_REQUEST) {
      if (++this.requestCount > 1) {
        this.end({ code: Status.UNIMPLEMENTED, message: 'grpc: more than one request message for a unary request' });
        return;
      }
      this.request = message;
      return;
    }
    const cb = this.messageCb;
    if (cb !== null) this.invoke(cb, message);
    else (this.queued ??= []).push(message);
  }

  onDecodeError(code: Status, message: string): void {
    this.end({ code, message });
  }

  // ---- Expirable ----

  expire(): void {
    if (this.ended) return;
    this.cancelled = true;
    this.end({ code: Status.DEADLINE_EXCEEDED, message: 'context deadline exceeded' });
    this.fireCancel();
  }

  // ---- internals ----

  private respondHeaders(s: http2.ServerHttp2Stream): void {
    this.headersSent = true;
    s.respond(RESPONSE_HEADERS, RESPOND_WITH_TRAILERS);
    s.on('wantTrailers', onWantTrailers);
  }

  /** Frames `payload` into the bytes to write at the end of this tick. */
  private appendFrame(payload: Uint8Array): void {
    const need = this.pendingBytes + FRAME_PREFIX_BYTES + payload.length;
    let buf = this.pending;
    if (buf === null || buf.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, buf === null ? Math.min(this.lastFlushBytes, PENDING_HINT_MAX_BYTES) : buf.length * 2));
      if (buf !== null) buf.copy(grown, 0, 0, this.pendingBytes);
      buf = grown;
      this.pending = grown;
    }
    if (this.pendingBytes === 0) process.nextTick(flushCallFrames, this);
    let at = this.pendingBytes;
    buf[at] = 0;
    buf.writeUInt32BE(payload.length, at + 1);
    at += FRAME_PREFIX_BYTES;
    buf.set(payload, at);
    this.pendingBytes = at + payload.length;
  }

  /** Writes the frames appended in this tick (also runs by itself at the end of the tick). */
  flushFrames(): void {
    const n = this.pendingBytes;
    if (n === 0) return;
    const buf = this.pending!;
    // The written buffer belongs to the stream now; the next tick's frames go to a new one.
    this.pending = null;
    this.pendingBytes = 0;
    this.lastFlushBytes = n;
    const s = this.stream;
    if (!s.destroyed && !s.closed && !this.ended) s.write(n === buf.length ? buf : buf.subarray(0, n));
  }

  private listenDrain(): void {
    if (this.drainListened) return;
    this.drainListened = true;
    this.stream.on('drain', onStreamDrain);
  }

  /** Marks the call ended: no more sends, callbacks or deadline. */
  private finish(): void {
    this.ended = true;
    this.decoder.stop();
    this.queued = null;
    if (this.wheelSlot >= 0) this.host.wheel.remove(this);
  }

  private fireCancel(): void {
    const cb = this.cancelCb;
    this.cancelCb = null;
    if (cb === null) return;
    try {
      cb();
    } catch (err) {
      this.host.handlerFailed(this, err);
    }
  }

  private invoke<T>(cb: (arg: T) => void, arg: T): void {
    try {
      cb(arg);
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    this.host.handlerFailed(this, err);
    this.end({ code: Status.INTERNAL, message: 'internal error' });
  }
}
