/**
 * The client listener: one TCP port serving HTTP/2 cleartext (gRPC clients connect with prior
 * knowledge) and HTTP/1.1 (/health, /version, /metrics, the JSON gateway), as etcd does. The first
 * bytes of a connection decide: the HTTP/2 connection preface goes to node's http2 server, anything
 * else to its http server. On HTTP/2, gRPC streams go to the {@link GrpcServer}; other requests
 * (e.g. GET /health over h2) reach the same HTTP handler through node's http2 compatibility API.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { AuthorityPatchingStream, ConnectionSniffer, EMPTY_SETTINGS_FRAME, H2_PREFACE, type SniffResult } from './grpc/authority';
import { isGrpcContentType, type GrpcServer } from './grpc/server';

/** Handles a plain HTTP request: HTTP/1.1 objects, or http2's compatibility objects over h2. */
export type HttpHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface ClientListenerOptions {
  /** Address to bind, e.g. '127.0.0.1'. */
  readonly host: string;
  /** Port to bind; 0 picks a free one (see the returned `port`). */
  readonly port: number;
  readonly grpc: GrpcServer;
  /** HTTP/1.1 requests, and non-gRPC HTTP/2 requests. */
  readonly http1: HttpHandler;
  /** Overrides of the HTTP/2 settings below. */
  readonly http2Settings?: http2.Settings;
  /** On close, sessions still busy after this long are destroyed. Default 2000. */
  readonly closeGraceMs?: number;
  /** A connection that sends nothing for this long before its first bytes is dropped. Default 10000. */
  readonly firstBytesTimeoutMs?: number;
}

export interface ClientListener {
  /** The bound port. */
  readonly port: number;
  /** Stops accepting, sends GOAWAY to HTTP/2 sessions and lets calls finish, destroys what is left after the grace period. */
  close(): Promise<void>;
}

/** An HTTP/2 client that has sent no request this long after its preface is handed to nghttp2 unread. */
const IDLE_HANDOVER_MS = 1000;
/** Bytes enough to decide; HTTP/1 methods differ from 'PRI *' within them. */
const PREFACE_DECIDE_BYTES = 14;

/**
 * HTTP/2 settings. Windows are large so that one stream or connection is not throttled by flow
 * control on a local network (etcd clients send up to 1.5 MiB requests and read large ranges); the
 * stream limit follows etcd (math.MaxUint32 there).
 */
const DEFAULT_SETTINGS: http2.Settings = {
  maxConcurrentStreams: 0xffffffff,
  initialWindowSize: 4 * 1024 * 1024,
  maxFrameSize: 16 * 1024,
  maxHeaderListSize: 64 * 1024,
};
/** Connection-level receive window (the settings above only cover streams). */
const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;
/** node's per-session memory cap for nghttp2 buffers, in MB (default 10); past it streams are refused. */
const SESSION_MEMORY_MB = 64;

/**
 * Starts the client listener.
 * @example
 * const l = await createClientListener({ host: '127.0.0.1', port: 2379, grpc, http1: (req, res) => res.end('ok') });
 * // ... later
 * await l.close();
 */
export async function createClientListener(opts: ClientListenerOptions): Promise<ClientListener> {
  const graceMs = opts.closeGraceMs ?? 2000;
  const firstBytesTimeoutMs = opts.firstBytesTimeoutMs ?? 10_000;
  const grpc = opts.grpc;

  const h2 = http2.createServer({
    settings: { ...DEFAULT_SETTINGS, ...opts.http2Settings },
    maxSessionMemory: SESSION_MEMORY_MB,
  });
  // The compatibility API only for non-gRPC streams: a server that never listens, fed by hand.
  const compat = http2.createServer(opts.http1 as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const h1 = http.createServer(opts.http1 as http.RequestListener);
  // A gateway watch may send its request body for as long as it watches: no whole-request timeout
  // (Node's default cuts a request off after 5 minutes). Headers still have to arrive in time.
  h1.requestTimeout = 0;

  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<net.Socket>();

  h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    if (isGrpcContentType(headers['content-type'])) grpc.handleStream(stream, headers);
    else compat.emit('stream', stream, headers, flags, rawHeaders);
  });
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.once('connect', () => {
      if (!session.destroyed) session.setLocalWindowSize(SESSION_WINDOW_BYTES);
    });
  });
  h2.on('sessionError', () => {
    // The session is destroyed by node; its streams' 'close' cancels their calls.
  });
  h1.on('clientError', (_err, socket: net.Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  const tcp = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', noop);
    socket.setTimeout(firstBytesTimeoutMs, () => socket.destroy());
    let head: Buffer | null = null;
    let sniffer: ConnectionSniffer | null = null;
    let idleTimer: NodeJS.Timeout | null = null;
    let handedOver = false;
    const handOver = (r: SniffResult): void => {
      if (r.kind === 'undecided' || handedOver) return;
      handedOver = true;
      socket.removeListener('data', onData);
      socket.pause();
      socket.setTimeout(0);
      if (idleTimer !== null) clearTimeout(idleTimer);
      if (r.kind === 'native') {
        // node's http2 session takes over the socket's handle and first feeds it what is buffered.
        socket.unshift(r.bytes);
        h2.emit('connection', socket);
      } else {
        h2.emit('connection', new AuthorityPatchingStream(socket, r.bytes));
      }
    };
    const onData = (chunk: Buffer): void => {
      if (sniffer !== null) {
        handOver(sniffer.push(chunk));
        if (!handedOver && idleTimer === null && sniffer.acknowledged) {
          const s = sniffer;
          idleTimer = setTimeout(() => handOver(s.giveUp()), IDLE_HANDOVER_MS);
        }
        return;
      }
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE_DECIDE_BYTES);
      const isH2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && head.length < PREFACE_DECIDE_BYTES) return; // wait for more
      if (isH2) {
        // grpc-go waits for the server's SETTINGS before its first request: send ours now, then
        // look at the first request's :authority (see grpc/authority.ts).
        socket.write(EMPTY_SETTINGS_FRAME);
        sniffer = new ConnectionSniffer();
        onData(head);
        return;
      }
      socket.removeListener('data', onData);
      socket.pause();
      socket.setTimeout(0);
      // The http server consumes the handle in C++ and stays paused; resuming emits the buffered
      // head through its 'data' path (next tick) before the handle's next read arrives.
      socket.unshift(head);
      h1.emit('connection', socket);
      socket.resume();
    };
    socket.on('data', onData);
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(opts.port, opts.host, () => {
      tcp.removeListener('error', reject);
      resolve();
    });
  });
  const port = (tcp.address() as net.AddressInfo).port;

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const s of sessions) s.close();
      h1.closeIdleConnections();
      const drained = (async () => {
        while (sockets.size > 0) await new Promise((r) => setTimeout(r, 20));
      })();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([drained, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
      await stopped;
    })());

  return { port, close };
}

function noop(): void {}
