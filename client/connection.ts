/**
 * The connection: one grpc-js channel per endpoint, round-robin over healthy endpoints, failover,
 * deadlines and cancellation, retries where they are safe, and the auth token.
 *
 * Retry rule (as etcd's clientv3): a call marked `read` (ranges, status, lists: repeating it
 * changes nothing) is retried on the next endpoint after any `retryable` error; a `write` is retried
 * only when the error proves the server did not apply it (`notApplied`: the request was never sent,
 * or the server rejected it before proposing, as `etcdserver: too many requests`).
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import { etcdserverpb as pb } from '../proto/index';
import { MethodDescriptor, methodByPath } from '../proto/methods';
import { UnaryTransport } from './unary-transport';
import {
  AbortedError,
  AuthOldRevisionError,
  ClientClosedError,
  EtcdError,
  InvalidArgumentError,
  InvalidAuthTokenError,
  TlsError,
  UnavailableError,
  fromGrpcError,
} from './errors';
import { GrpcStatus } from '../proto/grpc-status';

/** TLS material: PEM text or bytes, or a path to a PEM file. */
export type PemSource = string | Buffer | { path: string };

/** Options of a {@link Connection} (and of the client). */
export interface ConnectionOptions {
  /**
   * Endpoints: `http://host:port`, `https://host:port` (TLS) or `host:port`. Calls go round-robin
   * over those that are healthy.
   */
  endpoints: string | readonly string[];
  /** TLS: the CA to trust and, for client-certificate auth, the certificate and its key (both or neither). */
  tls?: { ca?: PemSource; cert?: PemSource; key?: PemSource };
  /** User and password: the client authenticates (etcd Auth/Authenticate) and refreshes the token when the server refuses it. */
  auth?: { username: string; password: string };
  /** gRPC keepalive pings on idle connections. */
  keepalive?: { timeMs?: number; timeoutMs?: number; permitWithoutCalls?: boolean };
  /** Deadline of each unary call (including its retries) unless the call gives one; default none. */
  callTimeoutMs?: number;
  /**
   * Retries of safe calls: how many attempts in all (default 5) and the first backoff (default 50 ms,
   * doubling, at most 1 s). A call with a deadline whose request never reached a server (no
   * connection) is retried until its deadline, whatever `attemptsMax` says.
   */
  retry?: { attemptsMax?: number; backoffMs?: number; backoffMaxMs?: number };
  /** Watches (and the keep-alive stream) ask for `hasleader`: the server cancels them when it loses its leader, and the client moves on. Default false. */
  requireLeader?: boolean;
  /** Extra grpc-js channel options (streams always, unary calls with `unaryTransport: 'grpc-js'`). */
  grpcOptions?: grpc.ChannelOptions;
  /**
   * How unary calls travel: `'http2'` (default) sends them straight on `node:http2`, one session
   * per endpoint, at about half the client CPU of `@grpc/grpc-js`; `'grpc-js'` uses grpc-js channels
   * as streams do (and honours `grpcOptions`). Watches, keep-alives and lock calls always use grpc-js.
   */
  unaryTransport?: 'http2' | 'grpc-js';
}

/** Options every call takes. */
export interface CallOptions {
  /** Deadline of this call in ms (retries included); overrides the client's `callTimeoutMs`. */
  timeoutMs?: number;
  /** Cancels the call: it rejects with {@link AbortedError}. */
  signal?: AbortSignal;
}

/** Whether a call may be repeated: a read always, a write only when it certainly was not applied. */
export type CallSafety = 'read' | 'write';

/** One endpoint and its health. */
export class Endpoint {
  /** Consecutive failures; 0 when healthy. */
  failures = 0;
  /** The endpoint is skipped until this time (ms since the epoch). */
  downUntilMs = 0;

  constructor(
    readonly url: string,
    readonly client: grpc.Client,
    /** The lean unary transport, unless the client asked for grpc-js. */
    readonly unary: UnaryTransport | undefined,
  ) {}
}

function method(path: string): MethodDescriptor {
  const d = methodByPath(path);
  if (d === undefined) throw new Error(`proto/methods.ts has no ${path}`);
  return d;
}

/** The methods the SDK calls, by service and name, e.g. `RPC.KV.Range`. */
export const RPC = {
  KV: {
    Range: method('/etcdserverpb.KV/Range'),
    Put: method('/etcdserverpb.KV/Put'),
    DeleteRange: method('/etcdserverpb.KV/DeleteRange'),
    Txn: method('/etcdserverpb.KV/Txn'),
    Compact: method('/etcdserverpb.KV/Compact'),
  },
  Watch: {
    Watch: method('/etcdserverpb.Watch/Watch'),
  },
  Lease: {
    LeaseGrant: method('/etcdserverpb.Lease/LeaseGrant'),
    LeaseRevoke: method('/etcdserverpb.Lease/LeaseRevoke'),
    LeaseKeepAlive: method('/etcdserverpb.Lease/LeaseKeepAlive'),
    LeaseTimeToLive: method('/etcdserverpb.Lease/LeaseTimeToLive'),
    LeaseLeases: method('/etcdserverpb.Lease/LeaseLeases'),
  },
  Cluster: {
    MemberAdd: method('/etcdserverpb.Cluster/MemberAdd'),
    MemberRemove: method('/etcdserverpb.Cluster/MemberRemove'),
    MemberUpdate: method('/etcdserverpb.Cluster/MemberUpdate'),
    MemberList: method('/etcdserverpb.Cluster/MemberList'),
    MemberPromote: method('/etcdserverpb.Cluster/MemberPromote'),
  },
  Maintenance: {
    Alarm: method('/etcdserverpb.Maintenance/Alarm'),
    Status: method('/etcdserverpb.Maintenance/Status'),
    Defragment: method('/etcdserverpb.Maintenance/Defragment'),
    Hash: method('/etcdserverpb.Maintenance/Hash'),
    HashKV: method('/etcdserverpb.Maintenance/HashKV'),
    Snapshot: method('/etcdserverpb.Maintenance/Snapshot'),
    MoveLeader: method('/etcdserverpb.Maintenance/MoveLeader'),
  },
  Auth: {
    AuthEnable: method('/etcdserverpb.Auth/AuthEnable'),
    AuthDisable: method('/etcdserverpb.Auth/AuthDisable'),
    AuthStatus: method('/etcdserverpb.Auth/AuthStatus'),
    Authenticate: method('/etcdserverpb.Auth/Authenticate'),
    UserAdd: method('/etcdserverpb.Auth/UserAdd'),
    UserGet: method('/etcdserverpb.Auth/UserGet'),
    UserList: method('/etcdserverpb.Auth/UserList'),
    UserDelete: method('/etcdserverpb.Auth/UserDelete'),
    UserChangePassword: method('/etcdserverpb.Auth/UserChangePassword'),
    UserGrantRole: method('/etcdserverpb.Auth/UserGrantRole'),
    UserRevokeRole: method('/etcdserverpb.Auth/UserRevokeRole'),
    RoleAdd: method('/etcdserverpb.Auth/RoleAdd'),
    RoleGet: method('/etcdserverpb.Auth/RoleGet'),
    RoleList: method('/etcdserverpb.Auth/RoleList'),
    RoleDelete: method('/etcdserverpb.Auth/RoleDelete'),
    RoleGrantPermission: method('/etcdserverpb.Auth/RoleGrantPermission'),
    RoleRevokePermission: method('/etcdserverpb.Auth/RoleRevokePermission'),
  },
} as const;

const identity = (b: Buffer): Buffer => b;

function readPem(source: PemSource | undefined, name: string): Buffer | null {
  if (source === undefined) return null;
  let pem: Buffer;
  if (typeof source === 'object' && !Buffer.isBuffer(source)) {
    if (typeof source.path !== 'string' || source.path === '') throw new InvalidArgumentError(`${name}: expected PEM text, a Buffer or { path }`);
    try {
      pem = fs.readFileSync(source.path);
    } catch (e) {
      throw new InvalidArgumentError(`${name}: cannot read ${source.path}: ${(e as Error).message}`);
    }
  } else if (Buffer.isBuffer(source) || typeof source === 'string') {
    pem = Buffer.isBuffer(source) ? source : Buffer.from(source);
  } else {
    throw new InvalidArgumentError(`${name}: expected PEM text, a Buffer or { path }`);
  }
  if (!pem.includes('-----BEGIN ')) throw new InvalidArgumentError(`${name}: not PEM (no -----BEGIN line)`);
  return pem;
}

function readTls(tls: ConnectionOptions['tls']): { ca: Buffer | null; cert: Buffer | null; key: Buffer | null } {
  return { ca: readPem(tls?.ca, 'tls.ca'), key: readPem(tls?.key, 'tls.key'), cert: readPem(tls?.cert, 'tls.cert') };
}

function tlsCredentials(pems: { ca: Buffer | null; cert: Buffer | null; key: Buffer | null }): grpc.ChannelCredentials {
  const { ca, key, cert } = pems;
  try {
    // grpc-js builds the secure context here: a bad certificate or a key that does not match fails now.
    return grpc.credentials.createSsl(ca, key, cert);
  } catch (e) {
    throw new InvalidArgumentError(`tls: ${(e as Error).message}`);
  }
}

function parseEndpoint(url: string): { address: string; secure: boolean } {
  const m = /^(?:(https?):\/\/)?([^/\s]+?)\/?$/.exec(url);
  if (m === null || !/:\d+$/.test(m[2]!)) throw new InvalidArgumentError(`bad endpoint '${url}': expected http(s)://host:port or host:port`);
  return { address: m[2]!, secure: m[1] === 'https' };
}

/** A call's `timeoutMs`, when given, must be a positive finite number of ms. */
function checkTimeout(timeoutMs: number | undefined): void {
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new InvalidArgumentError(`timeoutMs must be a positive number of milliseconds (got ${String(timeoutMs)})`);
  }
}

/** Encodes a message to a Buffer (grpc-js wants Buffers). */
export function encodeMessage(codec: MethodDescriptor['requestType'], message: object): Buffer {
  const u = codec.encode(message).finish();
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Sleeps `ms`, rejecting with AbortedError if `signal` fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError(signal.reason));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A bidi or server stream opened on one endpoint. */
export interface OpenedStream<S> {
  readonly stream: S;
  readonly endpoint: Endpoint;
}

/**
 * Channels to the endpoints and the call machinery every service wrapper uses. Internal: the
 * public surface is the client.
 */
export class Connection {
  readonly endpoints: readonly Endpoint[];
  readonly requireLeader: boolean;
  private next = 0;
  private closed = false;
  private token: string | undefined;
  private tokenRefresh: Promise<string> | undefined;
  private readonly callTimeoutMs: number | undefined;
  private readonly attemptsMax: number;
  private readonly backoffMs: number;
  private readonly backoffMaxMs: number;
  private readonly closeHooks = new Set<() => void>();

  /** @throws InvalidArgumentError for bad endpoints or TLS options, before connecting. */
  constructor(private readonly options: ConnectionOptions) {
    const urls = typeof options.endpoints === 'string' ? [options.endpoints] : [...options.endpoints];
    if (urls.length === 0) throw new InvalidArgumentError('endpoints must not be empty');
    const parsed = urls.map(parseEndpoint);
    const secure = options.tls !== undefined || parsed.some((p) => p.secure);
    if (parsed.some((p) => p.secure) && urls.some((u) => u.startsWith('http://'))) {
      throw new InvalidArgumentError('endpoints mix http:// and https://');
    }
    if ((options.tls?.cert === undefined) !== (options.tls?.key === undefined)) {
      throw new InvalidArgumentError('tls.cert and tls.key go together');
    }
    if (options.auth !== undefined && (options.auth.username === '' || typeof options.auth.password !== 'string')) {
      throw new InvalidArgumentError('auth needs a non-empty username and a password');
    }
    for (const [name, v] of [
      ['callTimeoutMs', options.callTimeoutMs],
      ['retry.attemptsMax', options.retry?.attemptsMax],
      ['keepalive.timeMs', options.keepalive?.timeMs],
      ['keepalive.timeoutMs', options.keepalive?.timeoutMs],
    ] as const) {
      if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new InvalidArgumentError(`${name} must be a positive integer`);
    }
    for (const [name, v] of [
      ['retry.backoffMs', options.retry?.backoffMs],
      ['retry.backoffMaxMs', options.retry?.backoffMaxMs],
    ] as const) {
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new InvalidArgumentError(`${name} must be a non-negative number`);
    }
    if (options.unaryTransport !== undefined && options.unaryTransport !== 'http2' && options.unaryTransport !== 'grpc-js') {
      throw new InvalidArgumentError(`unaryTransport must be 'http2' or 'grpc-js'`);
    }
    const pems = secure ? readTls(options.tls) : undefined;
    const credentials = pems !== undefined ? tlsCredentials(pems) : grpc.credentials.createInsecure();
    const ka = options.keepalive;
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
      ...(ka === undefined
        ? {}
        : {
            'grpc.keepalive_time_ms': ka.timeMs ?? 30_000,
            'grpc.keepalive_timeout_ms': ka.timeoutMs ?? 10_000,
            'grpc.keepalive_permit_without_calls': ka.permitWithoutCalls === false ? 0 : 1,
          }),
      ...options.grpcOptions,
    };
    const lean = (options.unaryTransport ?? 'http2') === 'http2';
    this.endpoints = parsed.map(
      (p, i) =>
        new Endpoint(
          urls[i]!,
          new grpc.Client(p.address, credentials, channelOptions),
          lean
            ? new UnaryTransport({
                address: p.address,
                ...(pems === undefined ? {} : { tls: pems }),
                ...(ka === undefined ? {} : { keepalive: { timeMs: ka.timeMs ?? 30_000, timeoutMs: ka.timeoutMs ?? 10_000 } }),
              })
            : undefined,
        ),
    );
    this.requireLeader = options.requireLeader ?? false;
    this.callTimeoutMs = options.callTimeoutMs;
    this.attemptsMax = options.retry?.attemptsMax ?? 5;
    this.backoffMs = options.retry?.backoffMs ?? 50;
    this.backoffMaxMs = options.retry?.backoffMaxMs ?? 1_000;
  }

  /** True after {@link close}. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The next healthy endpoint, round-robin; when all are down, the one that comes back first. */
  pick(): Endpoint {
    const eps = this.endpoints;
    const n = eps.length;
    if (n === 1) return eps[0]!;
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const ep = eps[(this.next + i) % n]!;
      if (ep.downUntilMs <= now) {
        this.next = (this.next + i + 1) % n;
        return ep;
      }
    }
    return eps.reduce((a, b) => (b.downUntilMs < a.downUntilMs ? b : a));
  }

  /** Records a transport failure: the endpoint is skipped for a backoff that grows with repeated failures. */
  markDown(ep: Endpoint): void {
    ep.failures++;
    ep.downUntilMs = Date.now() + Math.min(this.backoffMs * 2 ** ep.failures, this.backoffMaxMs * 4);
  }

  /** Records a success. */
  markUp(ep: Endpoint): void {
    if (ep.failures !== 0) {
      ep.failures = 0;
      ep.downUntilMs = 0;
    }
  }

  /** Registers a hook run by {@link close} (watchers, keep-alives); returns its removal. */
  onClose(hook: () => void): () => void {
    this.closeHooks.add(hook);
    return () => this.closeHooks.delete(hook);
  }

  /** Closes every channel; pending and later calls fail with ClientClosedError. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const hook of [...this.closeHooks]) hook();
    this.closeHooks.clear();
    for (const ep of this.endpoints) {
      ep.client.close();
      ep.unary?.close();
    }
  }

  /** Throws ClientClosedError after close. */
  assertOpen(): void {
    if (this.closed) throw new ClientClosedError();
  }

  /** The metadata of a call: the auth token and, for streams that ask, `hasleader`. */
  async metadata(requireLeader = false): Promise<grpc.Metadata> {
    const md = new grpc.Metadata();
    if (this.options.auth !== undefined) md.set('token', this.token ?? (await this.refreshToken()));
    if (requireLeader) md.set('hasleader', 'true');
    return md;
  }

  /** Authenticates again (one request at a time for all callers) and returns the new token. */
  refreshToken(): Promise<string> {
    const auth = this.options.auth;
    if (auth === undefined) return Promise.reject(new InvalidArgumentError('no auth configured'));
    if (this.tokenRefresh === undefined) {
      this.token = undefined;
      this.tokenRefresh = this.unaryRaw<pb.AuthenticateResponse>(RPC.Auth.Authenticate, { name: auth.username, password: auth.password }, {}, 'read', false)
        .then((resp) => (this.token = resp.token))
        .finally(() => (this.tokenRefresh = undefined));
    }
    return this.tokenRefresh;
  }

  /**
   * One unary call with retries per `safety`, the deadline and signal of `options`, and the auth
   * token. Resolves with the decoded response.
   * @throws one of the errors of ./errors (never a raw grpc error).
   */
  unary<Res>(method: MethodDescriptor, request: object, options: CallOptions, safety: CallSafety): Promise<Res> {
    return this.unaryRaw<Res>(method, request, options, safety, this.options.auth !== undefined);
  }

  private async unaryRaw<Res>(
    method: MethodDescriptor,
    request: object,
    options: CallOptions,
    safety: CallSafety,
    withToken: boolean,
  ): Promise<Res> {
    if (this.closed) throw new ClientClosedError();
    const signal = options.signal;
    if (signal?.aborted) throw new AbortedError(signal.reason);
    checkTimeout(options.timeoutMs);
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    const bytes = encodeMessage(method.requestType, request);
    let refreshedToken = false;
    for (let attempt = 1; ; attempt++) {
      const ep = this.pick();
      try {
        const md = withToken ? await this.metadata() : undefined;
        const res = await this.callOnce<Res>(ep, method, bytes, md, deadline, signal);
        this.markUp(ep);
        return res;
      } catch (raw) {
        const err = fromGrpcError(raw);
        if (this.closed) throw new ClientClosedError();
        if (err instanceof UnavailableError) this.markDown(ep);
        if (withToken && !refreshedToken && (err instanceof InvalidAuthTokenError || err instanceof AuthOldRevisionError)) {
          refreshedToken = true;
          await this.refreshToken();
          attempt--;
          continue;
        }
        const safe = safety === 'read' ? err.retryable : err.retryable && err.notApplied;
        // A request that never reached a server (no connection yet, e.g. a member restarting) is
        // tried again for as long as the call's deadline allows; others get `attemptsMax` tries.
        // A failed TLS handshake is a configuration problem: waiting does not heal it.
        const untilDeadline = err.notApplied && deadline !== undefined && !(err instanceof TlsError);
        const outOfAttempts = attempt >= Math.max(this.attemptsMax, 1) && !untilDeadline;
        if (!safe || outOfAttempts || signal?.aborted) throw err;
        const backoff = Math.min(this.backoffMs * 2 ** (attempt - 1), this.backoffMaxMs);
        if (deadline !== undefined && Date.now() + backoff >= deadline) throw err;
        await sleep(backoff, signal);
      }
    }
  }

  private callOnce<Res>(
    ep: Endpoint,
    method: MethodDescriptor,
    bytes: Buffer,
    md: grpc.Metadata | undefined,
    deadline: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Res> {
    if (ep.unary !== undefined) {
      const headers: Record<string, string> = {};
      if (md !== undefined) for (const [k, v] of Object.entries(md.getMap())) headers[k] = typeof v === 'string' ? v : v.toString('base64');
      return ep.unary.call(method.path, bytes, headers, deadline, signal).then(
        (body) => {
          try {
            return method.responseType.decode(body) as Res;
          } catch (e) {
            throw { code: GrpcStatus.INTERNAL, details: `failed to parse the response: ${(e as Error).message}`, message: 'response decode failed' };
          }
        },
        (err: unknown) => {
          throw signal?.aborted ? new AbortedError(signal.reason) : err;
        },
      );
    }
    return new Promise<Res>((resolve, reject) => {
      const decode = method.responseType.decode;
      let onAbort: (() => void) | undefined;
      const call = ep.client.makeUnaryRequest<Buffer, Res>(
        method.path,
        identity,
        (b: Buffer) => decode(b) as Res,
        bytes,
        md ?? new grpc.Metadata(),
        deadline === undefined ? {} : { deadline },
        (err, res) => {
          if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
          if (err !== null) reject(signal?.aborted ? new AbortedError(signal.reason) : err);
          else resolve(res as Res);
        },
      );
      if (signal !== undefined) {
        onAbort = () => call.cancel();
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  /** Opens a bidi stream on the next healthy endpoint (or `endpoint`), with the token and `hasleader` as asked. */
  async openBidi<Req extends object, Res>(
    method: MethodDescriptor,
    requireLeader: boolean,
    endpoint?: Endpoint,
  ): Promise<OpenedStream<grpc.ClientDuplexStream<Req, Res>>> {
    this.assertOpen();
    const ep = endpoint ?? this.pick();
    const md = await this.metadata(requireLeader);
    this.assertOpen();
    const decode = method.responseType.decode;
    const stream = ep.client.makeBidiStreamRequest<Req, Res>(
      method.path,
      (m: Req) => encodeMessage(method.requestType, m),
      (b: Buffer) => decode(b) as Res,
      md,
    );
    return { stream, endpoint: ep };
  }

  /** Opens a server stream on the next healthy endpoint. */
  async openServerStream<Res>(
    method: MethodDescriptor,
    request: object,
    options: CallOptions,
  ): Promise<OpenedStream<grpc.ClientReadableStream<Res>>> {
    this.assertOpen();
    if (options.signal?.aborted) throw new AbortedError(options.signal.reason);
    checkTimeout(options.timeoutMs);
    const ep = this.pick();
    const md = await this.metadata(false);
    const decode = method.responseType.decode;
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    const stream = ep.client.makeServerStreamRequest<Buffer, Res>(
      method.path,
      identity,
      (b: Buffer) => decode(b) as Res,
      encodeMessage(method.requestType, request),
      md,
      timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs },
    );
    if (options.signal !== undefined) {
      const signal = options.signal;
      const onAbort = (): void => stream.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      stream.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return { stream, endpoint: ep };
  }
}

/** Re-exported for wrappers that build typed errors from stream failures. */
export { EtcdError };
