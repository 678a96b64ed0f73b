/**
 * Unary gRPC calls straight on `node:http2`, one HTTP/2 session per endpoint.
 *
 * Why: profiled against etcd 3.4, a put through `@grpc/grpc-js` costs ~100–115 µs of client CPU,
 * of which the SDK's own work (validation, protobuf encode/decode, bigint conversion) is ~3 µs;
 * the rest is grpc-js's call stack (interceptors, filters, load-balancer pick, metadata objects,
 * retry buffering) on top of node's HTTP/2. The same call made directly on `node:http2` costs
 * ~50 µs. Streams (watch, lease keep-alive, lock) stay on grpc-js, whose stream handling the SDK
 * relies on; unary calls are the hot path and simple enough to do here.
 *
 * The wire protocol is gRPC over HTTP/2 (PROTOCOL-HTTP2.md): a POST to `/<service>/<method>` with
 * `content-type: application/grpc`, `te: trailers`, an optional `grpc-timeout`, one length-prefixed
 * message; the answer is one length-prefixed message and trailers with `grpc-status` and a
 * percent-encoded `grpc-message` (or a trailers-only response carrying them in the headers).
 *
 * Failures are reported as `{ code, details }` objects shaped like grpc-js's ServiceError, with
 * grpc-js's texts where the SDK's error classification depends on them: `No connection
 * established. Last error: …` when the request certainly never reached the server (connection or
 * TLS handshake failed before the server spoke, or the server refused the stream), `Connection
 * dropped` when it may have.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { GrpcStatus } from '../proto/grpc-status';

/** A failed call, shaped like grpc-js's ServiceError (what `fromGrpcError` reads). */
export interface UnaryFailure {
  code: number;
  details: string;
  message: string;
}

/** Options of a {@link UnaryTransport}. */
export interface UnaryTransportOptions {
  /** `host:port`. */
  address: string;
  /** TLS material; undefined for cleartext (HTTP/2 prior knowledge). */
  tls?: { ca: Buffer | null; cert: Buffer | null; key: Buffer | null };
  /** Pings on the session every `timeMs`; the session is dropped when one is not answered within `timeoutMs`. */
  keepalive?: { timeMs: number; timeoutMs: number };
}

const {
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_STATUS,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_TE,
  NGHTTP2_CANCEL,
  NGHTTP2_REFUSED_STREAM,
} = http2.constants;

/** Flow-control window for responses: large ranges arrive without waiting for WINDOW_UPDATEs. */
const windowBytes = 16 * 1024 * 1024;

function failure(code: number, details: string): UnaryFailure {
  return { code, details, message: `${code} ${details}` };
}

function notSent(reason: string): UnaryFailure {
  return failure(GrpcStatus.UNAVAILABLE, `No connection established. Last error: ${reason}`);
}

/** The gRPC code of an HTTP status without `grpc-status` (gRPC's http-grpc-status-mapping). */
function codeOfHttpStatus(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

function decodeGrpcMessage(raw: unknown): string {
  if (typeof raw !== 'string') return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** `grpc-timeout` for a remaining time in ms (at most 8 digits, as the spec demands). */
function grpcTimeout(ms: number): string {
  const m = Math.max(1, Math.ceil(ms));
  return m < 1e8 ? `${m}m` : `${Math.ceil(m / 1000)}S`;
}

/** One HTTP/2 session to the endpoint, with what is known about it. */
interface Session {
  readonly h2: http2.ClientHttp2Session;
  /** The server has sent its SETTINGS: from then on a request may have reached it. */
  serverSpoke: boolean;
  /** Resolves once connected; rejects with a not-sent failure. */
  readonly connected: Promise<void>;
  active: number;
  pingTimer: NodeJS.Timeout | undefined;
  /** The session's error, if it failed ("Error: <message>"). */
  lastError: string | undefined;
}

/**
 * Unary calls to one endpoint over one HTTP/2 session, opened on first use and again after it
 * fails. Internal to the connection.
 */
export class UnaryTransport {
  private session: Session | undefined;
  private closed = false;
  private readonly authority: string;
  private readonly tlsOptions: SecureContextOptions & { servername?: string; ALPNProtocols: string[] } | undefined;

  constructor(private readonly options: UnaryTransportOptions) {
    const tls = options.tls;
    this.authority = `${tls === undefined ? 'http' : 'https'}://${options.address}`;
    if (tls !== undefined) {
      const host = options.address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      this.tlsOptions = {
        ALPNProtocols: ['h2'],
        ...(tls.ca === null ? {} : { ca: tls.ca }),
        ...(tls.cert === null ? {} : { cert: tls.cert }),
        ...(tls.key === null ? {} : { key: tls.key }),
        // SNI must not be an IP address (RFC 6066); node warns and will ignore it.
        ...(net.isIP(host) === 0 ? { servername: host } : {}),
      };
    }
  }

  /** Closes the session; calls in flight fail. */
  close(): void {
    this.closed = true;
    this.drop(this.session, undefined);
  }

  private drop(s: Session | undefined, err: Error | undefined): void {
    if (s === undefined) return;
    if (this.session === s) this.session = undefined;
    if (s.pingTimer !== undefined) clearInterval(s.pingTimer);
    if (!s.h2.destroyed) s.h2.destroy(err);
  }

  private open(): Session {
    const existing = this.session;
    if (existing !== undefined && !existing.h2.destroyed && !existing.h2.closed) return existing;
    const h2 = http2.connect(this.authority, {
      settings: { initialWindowSize: windowBytes, enablePush: false },
      ...(this.tlsOptions ?? {}),
    });
    let resolveConnected!: () => void;
    let rejectConnected!: (f: UnaryFailure) => void;
    const connected = new Promise<void>((resolve, reject) => {
      resolveConnected = resolve;
      rejectConnected = reject;
    });
    connected.catch(() => undefined);
    const s: Session = { h2, serverSpoke: false, connected, active: 0, pingTimer: undefined, lastError: undefined };
    this.session = s;
    h2.once('connect', () => {
      try {
        h2.setLocalWindowSize(windowBytes);
      } catch {
        // Not fatal: the default window only slows large responses.
      }
      resolveConnected();
    });
    h2.once('remoteSettings', () => {
      s.serverSpoke = true;
    });
    h2.on('error', (err: Error) => {
      s.lastError = `${err.name}: ${err.message}`;
      rejectConnected(notSent(s.lastError));
      this.drop(s, undefined);
    });
    h2.once('close', () => {
      rejectConnected(notSent('connection closed'));
      this.drop(s, undefined);
    });
    h2.on('goaway', () => {
      // No new streams on this session; the next call opens another.
      if (this.session === s) this.session = undefined;
    });
    const ka = this.options.keepalive;
    if (ka !== undefined) {
      s.pingTimer = setInterval(() => {
        if (h2.destroyed) return;
        const timer = setTimeout(() => this.drop(s, new Error('keepalive ping not answered')), ka.timeoutMs);
        try {
          h2.ping((err) => {
            clearTimeout(timer);
            if (err) this.drop(s, err);
          });
        } catch {
          clearTimeout(timer);
        }
      }, ka.timeMs);
      s.pingTimer.unref();
    }
    h2.unref(); // an idle client does not keep the process alive (as grpc-js)
    return s;
  }

  /**
   * One unary call: sends `message` (already encoded) to `path` with `metadata` as headers.
   * @returns the response message's bytes.
   * @throws a {@link UnaryFailure}.
   */
  call(path: string, message: Buffer, metadata: Record<string, string>, deadline: number | undefined, signal: AbortSignal | undefined): Promise<Buffer> {
    if (this.closed) return Promise.reject(failure(GrpcStatus.CANCELLED, 'Channel has been shut down'));
    return new Promise<Buffer>((resolve, reject) => {
      const s = this.open();
      if (s.active++ === 0) s.h2.ref(); // a call in progress keeps the process alive
      let settled = false;
      let stream: http2.ClientHttp2Stream | undefined;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err: UnaryFailure | undefined, body?: Buffer): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        if (signal !== undefined) signal.removeEventListener('abort', onAbort);
        if (--s.active === 0 && !s.h2.destroyed) s.h2.unref();
        if (err !== undefined) reject(err);
        else resolve(body!);
      };
      const cancel = (f: UnaryFailure): void => {
        if (stream !== undefined && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
        finish(f);
      };
      const onAbort = (): void => cancel(failure(GrpcStatus.CANCELLED, 'Cancelled on client'));
      if (signal !== undefined) signal.addEventListener('abort', onAbort, { once: true });
      if (deadline !== undefined) {
        timer = setTimeout(() => cancel(failure(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded')), Math.max(0, deadline - Date.now()));
      }
      const send = (): void => {
        if (settled) return;
        if (s.h2.destroyed || s.h2.closed) {
          finish(notSent('connection closed'));
          return;
        }
        const headers: http2.OutgoingHttpHeaders = {
          [HTTP2_HEADER_METHOD]: 'POST',
          [HTTP2_HEADER_PATH]: path,
          [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
          [HTTP2_HEADER_TE]: 'trailers',
          ...metadata,
        };
        if (deadline !== undefined) headers['grpc-timeout'] = grpcTimeout(deadline - Date.now());
        let st: http2.ClientHttp2Stream;
        try {
          st = s.h2.request(headers, { endStream: false });
        } catch (e) {
          finish(notSent((e as Error).message));
          return;
        }
        stream = st;
        const frame = Buffer.allocUnsafe(5 + message.length);
        frame[0] = 0;
        frame.writeUInt32BE(message.length, 1);
        message.copy(frame, 5);
        st.end(frame);

        let httpStatus = 0;
        let grpcStatus: number | undefined;
        let grpcMessage = '';
        const chunks: Buffer[] = [];
        let bytes = 0;
        st.on('response', (h: http2.IncomingHttpHeaders) => {
          httpStatus = Number(h[HTTP2_HEADER_STATUS] ?? 0);
          if (h['grpc-status'] !== undefined) {
            // Trailers-only response.
            grpcStatus = Number(h['grpc-status']);
            grpcMessage = decodeGrpcMessage(h['grpc-message']);
          }
        });
        st.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          bytes += chunk.length;
        });
        st.on('trailers', (t: http2.IncomingHttpHeaders) => {
          if (t['grpc-status'] !== undefined) {
            grpcStatus = Number(t['grpc-status']);
            grpcMessage = decodeGrpcMessage(t['grpc-message']);
          }
        });
        let streamError: string | undefined;
        st.on('error', (e: Error) => {
          streamError = `${e.name}: ${e.message}`; // the outcome is decided on 'close'
        });
        st.on('close', () => {
          if (settled) return;
          if (grpcStatus === undefined) {
            if (st.rstCode === NGHTTP2_REFUSED_STREAM) finish(notSent('stream refused by the server'));
            else if (httpStatus !== 0 && httpStatus !== 200) finish(failure(codeOfHttpStatus(httpStatus), `Received HTTP status code ${httpStatus}`));
            else if (!s.serverSpoke) {
              // The server never sent its SETTINGS, so it took no request. The session's own error
              // (e.g. a TLS alert refusing the client certificate) may come a turn later: wait for it.
              setImmediate(() => finish(notSent(s.lastError ?? streamError ?? 'connection closed before the server answered')));
            } else finish(failure(GrpcStatus.UNAVAILABLE, 'Connection dropped'));
            return;
          }
          if (grpcStatus !== GrpcStatus.OK) {
            finish(failure(grpcStatus, grpcMessage));
            return;
          }
          const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes);
          if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
            finish(failure(GrpcStatus.INTERNAL, body.length >= 1 && body[0] !== 0 ? 'compressed responses are not supported' : 'malformed response message'));
            return;
          }
          finish(undefined, body.subarray(5));
        });
      };
      if (s.h2.connecting) {
        s.connected.then(send, (f: UnaryFailure) => finish(f));
      } else {
        send();
      }
    });
  }
}
