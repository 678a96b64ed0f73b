/**
 * A lean gRPC server on node:http2: routing, request validation and call set-up. Protocol only:
 * it never decodes protobuf; handlers get request bytes and send response bytes.
 *
 * Wire behaviour follows "gRPC over HTTP2" (PROTOCOL-HTTP2.md) and grpc-go's server messages:
 * POST only (else HTTP 405), content-type application/grpc[+proto|;...] (else HTTP 415), identity
 * encoding only, `grpc-timeout` deadlines, size limits, status in `grpc-status`/`grpc-message`
 * trailers (trailers-only when nothing was sent). Measured against @grpc/grpc-js on this machine,
 * see docs/architecture.md.
 */
import type * as http2 from 'node:http2';
import { GrpcCall, rejectStream, type CallHost, type MethodKind, type ServerCall, type StreamRequestHandler, type UnaryRequestHandler } from './call';
import { DeadlineWheel, parseGrpcTimeoutMs } from './deadline';
import { Status } from './status';

export { Status, type CallStatus } from './status';
export type { MethodKind, ServerCall, StreamRequestHandler, UnaryRequestHandler } from './call';

export interface GrpcServerOptions {
  /** Largest request message accepted; larger → RESOURCE_EXHAUSTED. */
  readonly maxReceiveMessageBytes: number;
  /** Largest response message sent; larger → the call ends RESOURCE_EXHAUSTED. */
  readonly maxSendMessageBytes: number;
  /**
   * Bytes a streaming call may have waiting to be sent (the client is slow, or its flow-control
   * window is closed) before `writable()` turns false. Default {@link STREAM_SEND_BUFFER_BYTES}.
   */
  readonly streamSendBufferBytes?: number;
  /** Structured log sink (handler failures). Default: one JSON line on stderr. */
  readonly log?: (obj: Record<string, unknown>) => void;
}

interface Method {
  readonly kind: MethodKind;
  readonly unary: UnaryRequestHandler | null;
  readonly stream: StreamRequestHandler | null;
}

/** True for the gRPC content types: application/grpc, application/grpc+proto, application/grpc;... */
export function isGrpcContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || !contentType.startsWith('application/grpc')) return false;
  if (contentType.length === 16) return true;
  const next = contentType.charCodeAt(16);
  return next === 0x2b /* + */ || next === 0x3b /* ; */;
}

/**
 * The gRPC server. Register methods with {@link addMethod}, then feed it HTTP/2 streams with
 * {@link handleStream} (see `createClientListener` in ../listener.ts).
 *
 * @example
 * const grpc = new GrpcServer({ maxReceiveMessageBytes: 1.5 * 1024 * 1024 + 4096, maxSendMessageBytes: 2 ** 31 - 1 });
 * grpc.addMethod('/etcdserverpb.KV/Range', 'unary', (call, request) => call.sendResponse(answer(request)));
 */
/** Default of {@link GrpcServerOptions.streamSendBufferBytes}. */
export const STREAM_SEND_BUFFER_BYTES = 1024 * 1024;

export class GrpcServer implements CallHost {
  readonly receiveBytesMax: number;
  readonly sendBytesMax: number;
  readonly sendBufferBytesMax: number;
  readonly wheel = new DeadlineWheel({ slotMs: 10, slotCount: 1024 });
  private readonly log: (obj: Record<string, unknown>) => void;
  private readonly methods = new Map<string, Method>();
  private readonly services = new Set<string>();

  constructor(opts: GrpcServerOptions) {
    if (!(opts.maxReceiveMessageBytes >= 0) || !(opts.maxSendMessageBytes >= 0)) throw new Error('message size limits must be >= 0');
    this.receiveBytesMax = opts.maxReceiveMessageBytes;
    this.sendBytesMax = opts.maxSendMessageBytes;
    this.sendBufferBytesMax = opts.streamSendBufferBytes ?? STREAM_SEND_BUFFER_BYTES;
    this.log = opts.log ?? ((obj) => process.stderr.write(JSON.stringify(obj) + '\n'));
  }

  /**
   * Registers a method. 'unary' and 'server-stream' handlers run once the request message and the
   * client's half-close have arrived, and get the request bytes; 'client-stream' and 'bidi' handlers
   * run when the call starts and read messages with `call.onMessage`.
   * @throws Error if `path` is not '/package.Service/Method' or is already registered.
   */
  addMethod(path: string, kind: 'unary' | 'server-stream', handler: UnaryRequestHandler): void;
  addMethod(path: string, kind: 'client-stream' | 'bidi', handler: StreamRequestHandler): void;
  addMethod(path: string, kind: MethodKind, handler: UnaryRequestHandler | StreamRequestHandler): void {
    const slash = path.lastIndexOf('/');
    if (path[0] !== '/' || slash <= 1 || slash === path.length - 1) throw new Error(`bad gRPC method path ${JSON.stringify(path)}`);
    if (this.methods.has(path)) throw new Error(`gRPC method ${path} registered twice`);
    const unaryRequest = kind === 'unary' || kind === 'server-stream';
    this.methods.set(path, {
      kind,
      unary: unaryRequest ? (handler as UnaryRequestHandler) : null,
      stream: unaryRequest ? null : (handler as StreamRequestHandler),
    });
    this.services.add(path.slice(1, slash));
  }

  /** Serves one HTTP/2 stream as a gRPC call (the http2 server's 'stream' event). */
  handleStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    if (headers[':method'] !== 'POST') return this.rejectHttp(stream, 405);
    if (!isGrpcContentType(headers['content-type'])) return this.rejectHttp(stream, 415);
    const path = headers[':path'] ?? '';
    const method = this.methods.get(path);
    if (method === undefined) return rejectStream(stream, { code: Status.UNIMPLEMENTED, message: this.unknownMethodMessage(path) });
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      return rejectStream(stream, { code: Status.UNIMPLEMENTED, message: `grpc: Decompressor is not installed for grpc-encoding ${JSON.stringify(encoding)}` });
    }
    let deadlineMs = Infinity;
    const timeout = headers['grpc-timeout'];
    if (timeout !== undefined) {
      const ms = parseGrpcTimeoutMs(timeout as string);
      if (Number.isNaN(ms)) return rejectStream(stream, { code: Status.INTERNAL, message: `grpc: malformed grpc-timeout ${JSON.stringify(timeout)}` });
      if (ms <= 0) return rejectStream(stream, { code: Status.DEADLINE_EXCEEDED, message: 'context deadline exceeded' });
      deadlineMs = Date.now() + ms;
    }
    const call = new GrpcCall(this, stream, path, headers, deadlineMs, method.kind, method.unary);
    if (method.stream !== null) {
      try {
        method.stream(call);
      } catch (err) {
        this.handlerFailed(call, err);
        call.end({ code: Status.INTERNAL, message: 'internal error' });
      }
    }
  }

  /** @internal A handler threw; logged here, the call is answered INTERNAL by the caller. */
  handlerFailed(call: ServerCall, err: unknown): void {
    this.log({
      level: 'error',
      msg: 'gRPC handler failed',
      method: call.path,
      err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err),
    });
  }

  /** Stops the deadline timer (calls still open keep their deadlines unenforced). */
  close(): void {
    this.wheel.stop();
  }

  private unknownMethodMessage(path: string): string {
    const slash = path.lastIndexOf('/');
    if (path[0] !== '/' || slash <= 0) return `malformed method name: ${JSON.stringify(path)}`;
    const service = path.slice(1, slash);
    if (!this.services.has(service)) return `unknown service ${service}`;
    return `unknown method ${path.slice(slash + 1)} for service ${service}`;
  }

  private rejectHttp(stream: http2.ServerHttp2Stream, status: number): void {
    stream.on('error', noop);
    if (!stream.destroyed && !stream.headersSent) stream.respond({ ':status': status, 'content-type': 'text/plain' }, { endStream: true });
    stream.resume();
  }
}

function noop(): void {}
