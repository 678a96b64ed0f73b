/**
 * A minimal gRPC client on `node:http2`, for load generation: unary calls only, raw message bytes in
 * and out, no generated code, no per-call promises. A call is one HTTP/2 stream: POST with
 * `content-type: application/grpc` and `te: trailers`, the request as one 5-byte-prefixed message,
 * and the status read from `grpc-status`/`grpc-message` (trailers, or headers for a trailers-only
 * response). It costs a fraction of `@grpc/grpc-js`'s CPU per call, so the generator is not what
 * limits a measurement on a small machine.
 */
import * as http2 from 'node:http2';

/** gRPC status codes used by the client itself (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

const GRPC_STATUS_NAMES: Record<number, string> = {
  0: 'OK',
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
  16: 'UNAUTHENTICATED',
};

/** `14` → `UNAVAILABLE`. */
export function grpcStatusName(status: number): string {
  return GRPC_STATUS_NAMES[status] ?? `STATUS_${status}`;
}

/**
 * The outcome of one unary call. `status` is the gRPC status (0 = OK); transport failures are
 * reported as `UNAVAILABLE`/`INTERNAL`/`CANCELLED` with a message, as gRPC clients do. `response`
 * is the response message (without its 5-byte prefix) when `status` is OK.
 */
export type UnaryCallback = (status: number, message: string, response: Buffer | null) => void;

/** Raised when a connection cannot be established. */
export class ConnectError extends Error {
  constructor(
    readonly url: string,
    cause: string,
  ) {
    super(`cannot connect to ${url}: ${cause}`);
    this.name = 'ConnectError';
  }
}

export interface ConnectOptions {
  /** Give up connecting after this long. Default 5000. */
  connectTimeoutMs?: number;
}

const GRPC_PREFIX_BYTES = 5;

/** Frames a message: 1 byte compressed flag (0), 4 bytes big-endian length, the message. */
export function frameGrpcMessage(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(GRPC_PREFIX_BYTES + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, GRPC_PREFIX_BYTES);
  return framed;
}

/** One HTTP/2 connection carrying concurrent unary calls. */
export class GrpcConnection {
  private readonly headersByPath = new Map<string, http2.OutgoingHttpHeaders>();
  private lostReason: string | null = null;

  private constructor(
    readonly url: string,
    private readonly session: http2.ClientHttp2Session,
  ) {
    session.on('error', (err: Error) => {
      this.lostReason ??= err.message;
    });
    session.on('goaway', (code: number) => {
      this.lostReason ??= `server sent GOAWAY (code ${code})`;
    });
    session.on('close', () => {
      this.lostReason ??= 'connection closed';
    });
  }

  /**
   * Opens a connection to `url` (`http://host:port`; TLS is not supported).
   * @throws ConnectError when the connection cannot be made within the timeout.
   */
  static connect(url: string, options: ConnectOptions = {}): Promise<GrpcConnection> {
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:') return Promise.reject(new ConnectError(url, `unsupported scheme ${parsed.protocol} (only http:// is supported)`));
    return new Promise((resolve, reject) => {
      const session = http2.connect(parsed.origin, { settings: { enablePush: false } });
      const timer = setTimeout(() => {
        session.destroy();
        reject(new ConnectError(url, `no connection after ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (err: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        session.destroy();
        reject(new ConnectError(url, err.code ?? err.message));
      };
      session.once('error', onError);
      session.once('connect', () => {
        clearTimeout(timer);
        session.off('error', onError);
        resolve(new GrpcConnection(url, session));
      });
    });
  }

  /** Why the connection is no longer usable, or null while it is. */
  get lost(): string | null {
    if (this.lostReason === null && (this.session.closed || this.session.destroyed)) this.lostReason = 'connection closed';
    return this.lostReason;
  }

  /**
   * Starts a unary call of `path` (`/package.Service/Method`) with `request` as the message bytes
   * (unframed). `callback` is called exactly once. Returns the stream, so that the caller can cancel
   * it (`stream.close(http2.constants.NGHTTP2_CANCEL)`), or null when the connection is lost (the
   * callback has then already been called with `UNAVAILABLE`).
   */
  unary(path: string, request: Uint8Array, callback: UnaryCallback): http2.ClientHttp2Stream | null {
    const lost = this.lost;
    if (lost !== null) {
      callback(GrpcStatus.UNAVAILABLE, lost, null);
      return null;
    }
    let headers = this.headersByPath.get(path);
    if (headers === undefined) {
      headers = { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' };
      this.headersByPath.set(path, headers);
    }
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.session.request(headers);
    } catch (err) {
      this.lostReason ??= (err as Error).message;
      callback(GrpcStatus.UNAVAILABLE, (err as Error).message, null);
      return null;
    }
    new UnaryCall(stream, callback);
    stream.end(frameGrpcMessage(request));
    return stream;
  }

  /**
   * Opens a long-lived bidirectional streaming call of `path`: `send` writes length-prefixed
   * messages, `handlers.onMessage` receives each response message as it arrives, and
   * `handlers.onEnd` is called exactly once with the call's gRPC status. Returns null when the
   * connection is lost (`onEnd` has then already been called with `UNAVAILABLE`).
   */
  bidi(path: string, handlers: BidiHandlers): BidiCall | null {
    const lost = this.lost;
    if (lost !== null) {
      handlers.onEnd(GrpcStatus.UNAVAILABLE, lost);
      return null;
    }
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    } catch (err) {
      this.lostReason ??= (err as Error).message;
      handlers.onEnd(GrpcStatus.UNAVAILABLE, (err as Error).message);
      return null;
    }
    return new BidiCall(stream, handlers);
  }

  /** Closes the connection; calls still in flight fail with `UNAVAILABLE` or `CANCELLED`. */
  close(): Promise<void> {
    this.lostReason ??= 'connection closed by the client';
    if (this.session.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.session.destroy();
        resolve();
      }, 1000);
      this.session.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Tears the connection down at once. */
  destroy(): void {
    this.lostReason ??= 'connection destroyed by the client';
    this.session.destroy();
  }
}

/** What a call's response headers and trailers said, and the stream's error: the status a call ends with. */
class CallStatus {
  protected httpStatus = 0;
  /** -1 until a grpc-status arrives. */
  protected grpcStatus = -1;
  protected grpcMessage = '';
  protected streamError: string | null = null;

  protected onHeaders(headers: http2.IncomingHttpHeaders, initial: boolean): void {
    if (initial) this.httpStatus = Number(headers[':status'] ?? 0);
    const status = headers['grpc-status'];
    if (status !== undefined) {
      this.grpcStatus = Number(status);
      const message = headers['grpc-message'];
      if (typeof message === 'string') this.grpcMessage = decodeGrpcMessage(message);
    }
  }
}

/** The state of one call's stream; settles its callback once. */
class UnaryCall extends CallStatus {
  private chunks: Buffer[] = [];
  private settled = false;

  constructor(
    private readonly stream: http2.ClientHttp2Stream,
    private readonly callback: UnaryCallback,
  ) {
    super();
    stream.on('response', (headers) => this.onHeaders(headers, true));
    stream.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    stream.on('trailers', (trailers) => this.onHeaders(trailers, false));
    stream.on('error', (err: Error) => {
      this.streamError ??= err.message;
    });
    stream.on('close', () => this.finish());
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    const cb = this.callback;
    if (this.grpcStatus === -1) {
      const rst = this.stream.rstCode;
      if (rst === http2.constants.NGHTTP2_CANCEL) return cb(GrpcStatus.CANCELLED, 'stream cancelled', null);
      if (this.streamError !== null) return cb(GrpcStatus.UNAVAILABLE, this.streamError, null);
      if (rst !== undefined && rst !== http2.constants.NGHTTP2_NO_ERROR) return cb(GrpcStatus.UNAVAILABLE, `stream reset with code ${rst}`, null);
      if (this.httpStatus !== 200) return cb(GrpcStatus.INTERNAL, `HTTP status ${this.httpStatus} without grpc-status`, null);
      return cb(GrpcStatus.INTERNAL, 'response ended without grpc-status', null);
    }
    if (this.grpcStatus !== GrpcStatus.OK) return cb(this.grpcStatus, this.grpcMessage, null);
    const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    if (data.length < GRPC_PREFIX_BYTES) return cb(GrpcStatus.INTERNAL, `OK response carries ${data.length} bytes, no message`, null);
    if (data[0] !== 0) return cb(GrpcStatus.INTERNAL, 'compressed response message (not negotiated)', null);
    const length = data.readUInt32BE(1);
    if (data.length !== GRPC_PREFIX_BYTES + length) return cb(GrpcStatus.INTERNAL, `response framing: ${data.length} bytes for a ${length}-byte message`, null);
    cb(GrpcStatus.OK, '', data.subarray(GRPC_PREFIX_BYTES));
  }
}

export interface BidiHandlers {
  onMessage(message: Buffer): void;
  onEnd(status: number, message: string): void;
}

/** One bidirectional streaming call: length-prefixed messages both ways on one HTTP/2 stream. */
export class BidiCall extends CallStatus {
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(
    readonly stream: http2.ClientHttp2Stream,
    private readonly handlers: BidiHandlers,
  ) {
    super();
    stream.on('response', (headers) => this.onHeaders(headers, true));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('trailers', (trailers) => this.onHeaders(trailers, false));
    stream.on('error', (err: Error) => {
      this.streamError ??= err.message;
    });
    stream.on('close', () => this.finish());
  }

  /** Sends one message; false when the call has ended. */
  send(message: Uint8Array): boolean {
    if (this.ended || this.stream.destroyed || this.stream.writableEnded) return false;
    this.stream.write(frameGrpcMessage(message));
    return true;
  }

  /** Half-closes: no more messages from this side; the server then ends the call. */
  end(): void {
    if (!this.stream.writableEnded && !this.stream.destroyed) this.stream.end();
  }

  /** Cancels the call (RST_STREAM CANCEL). */
  cancel(): void {
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  private onData(chunk: Buffer): void {
    let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (data.length >= GRPC_PREFIX_BYTES) {
      const length = data.readUInt32BE(1);
      if (data.length < GRPC_PREFIX_BYTES + length) break;
      if (data[0] !== 0) {
        this.streamError ??= 'compressed response message (not negotiated)';
        this.cancel();
        return;
      }
      const message = data.subarray(GRPC_PREFIX_BYTES, GRPC_PREFIX_BYTES + length);
      data = data.subarray(GRPC_PREFIX_BYTES + length);
      if (!this.ended) this.handlers.onMessage(message);
    }
    this.pending = data.length === 0 ? Buffer.alloc(0) : Buffer.from(data);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    const end = this.handlers.onEnd;
    if (this.grpcStatus !== -1) return end(this.grpcStatus, this.grpcMessage);
    const rst = this.stream.rstCode;
    if (this.streamError !== null) return end(GrpcStatus.INTERNAL, this.streamError);
    if (rst === http2.constants.NGHTTP2_CANCEL) return end(GrpcStatus.CANCELLED, 'stream cancelled');
    if (rst !== undefined && rst !== http2.constants.NGHTTP2_NO_ERROR) return end(GrpcStatus.UNAVAILABLE, `stream reset with code ${rst}`);
    if (this.httpStatus !== 200) return end(GrpcStatus.INTERNAL, `HTTP status ${this.httpStatus} without grpc-status`);
    end(GrpcStatus.INTERNAL, 'stream ended without grpc-status');
  }
}

/** grpc-message is percent-encoded (gRPC over HTTP/2 spec). */
function decodeGrpcMessage(message: string): string {
  if (!message.includes('%')) return message;
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}

/** The endpoints of a load: one URL, or several (the members of a cluster). */
export type Endpoints = string | string[];

/** The list form of `endpoints`. @throws RangeError when empty. */
export function endpointList(endpoints: Endpoints): string[] {
  const list = typeof endpoints === 'string' ? [endpoints] : endpoints;
  if (list.length === 0) throw new RangeError('no endpoint');
  return list;
}

/** `endpoints` rotated so that its first element is the `offset`-th (connection k of a share that starts at global connection `offset`). */
export function rotateEndpoints(endpoints: Endpoints, offset: number): string[] {
  const list = endpointList(endpoints);
  return list.map((_, j) => list[(offset + j) % list.length]!);
}

/** Opens `count` connections, connection i to endpoint i mod N (spread over a cluster's members), all or none. @throws ConnectError */
export async function connectAll(endpoints: Endpoints, count: number, options: ConnectOptions = {}): Promise<GrpcConnection[]> {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`connection count must be a positive integer, got ${count}`);
  const urls = endpointList(endpoints);
  const settled = await Promise.allSettled(Array.from({ length: count }, (_, i) => GrpcConnection.connect(urls[i % urls.length]!, options)));
  const connections = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure !== undefined) {
    for (const c of connections) c.destroy();
    throw failure.reason;
  }
  return connections;
}
