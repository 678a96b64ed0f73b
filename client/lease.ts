/**
 * Leases: grant with automatic keep-alive over one shared LeaseKeepAlive stream per client, revoke,
 * time-to-live, the list of leases, and a `'lost'` event when a lease cannot be kept.
 *
 * Keep-alive timing: each lease sends a keep-alive every TTL/3 (at least every 500 ms apart). A
 * keep-alive answered with TTL t extends the lease's known expiry to (send time + t). When that
 * expiry passes without a newer answer, or the server answers TTL ≤ 0 (expired or revoked), the
 * lease is lost: `'lost'` is emitted once and keep-alives stop.
 */
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { etcdserverpb as pb } from '../proto/index';
import { Bytes } from './bytes';
import { CallOptions, Connection, Endpoint, RPC } from './connection';
import { EtcdError, InvalidArgumentError, LeaseLostError, LeaseNotFoundError, UnavailableError, fromGrpcError } from './errors';
import type { KVView } from './client';
import type { PutOptions, PutResult } from './kv';
import { ResponseHeader, big, int64Field, toHeader } from './types';

/**
 * Options of a lease.
 * @example client.lease(10, { autoKeepAlive: false })
 */
export interface LeaseOptions {
  /** Keep the lease alive until revoked or released (default true). */
  autoKeepAlive?: boolean;
  /** Ask for this ID (default: the server picks one). */
  id?: bigint;
}

/**
 * A lease's remaining time, as the server reports it.
 * @example const { ttl, keys } = await lease.timeToLive({ keys: true });
 */
export interface LeaseTimeToLive {
  readonly header: ResponseHeader;
  readonly id: bigint;
  /** Seconds left; -1 when the lease has expired or does not exist. */
  readonly ttl: number;
  /** The TTL it was granted with, in seconds. */
  readonly grantedTtl: number;
  /** The keys attached to it, when asked for. */
  readonly keys: Buffer[];
}

const ttlMaxSeconds = 9_000_000_000;

/**
 * A lease: keys put with it are deleted when it expires or is revoked. `client.lease(ttl)` grants it
 * (lazily, on first use) and keeps it alive. Events: `'keepalive'` ({ ttl }), `'lost'`
 * ({@link LeaseLostError}).
 * @example
 * const lease = client.lease(10);
 * lease.on('lost', (err) => console.error(err.message));
 * await lease.put('service/me', 'http://10.0.0.1:8080');
 * // ... on shutdown:
 * await lease.revoke();
 */
export class Lease extends EventEmitter {
  private granted: Promise<bigint> | undefined;
  private leaseId: bigint | undefined;
  private expiresAtMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private state: 'new' | 'alive' | 'lost' | 'revoked' | 'released' = 'new';

  /** @internal made by `client.lease()`. */
  constructor(
    private readonly conn: Connection,
    private readonly keeper: LeaseKeeper,
    private readonly view: KVView,
    /** The TTL asked for, in seconds. */
    readonly ttlSeconds: number,
    private readonly options: LeaseOptions = {},
  ) {
    super();
    if (!(Number.isSafeInteger(ttlSeconds) && ttlSeconds > 0 && ttlSeconds <= ttlMaxSeconds)) {
      throw new InvalidArgumentError(`lease TTL must be a positive whole number of seconds (got ${ttlSeconds})`);
    }
    if (options.id !== undefined) int64Field(options.id, 'lease id', { min: 1n });
  }

  /** The lease's ID once granted. @example console.log(lease.id?.toString(16)) */
  get id(): bigint | undefined {
    return this.leaseId;
  }

  /**
   * The endpoint (as given in the client's `endpoints`) whose stream carries this lease's keep-alives
   * now; undefined while no stream is open (the client's leases share one stream).
   * @example console.log('kept alive through', lease.keepAliveEndpoint);
   */
  get keepAliveEndpoint(): string | undefined {
    return this.state === 'alive' ? this.keeper.endpointUrl : undefined;
  }

  /** True after the lease was lost (expired, revoked elsewhere, or not kept alive in time). @example if (lease.lost) reconnect(); */
  get lost(): boolean {
    return this.state === 'lost';
  }

  /**
   * Grants the lease (once; later calls return the same ID) and starts keeping it alive.
   * @returns the lease ID.
   * @example const id = await client.lease(30).grant();
   */
  grant(options: CallOptions = {}): Promise<bigint> {
    if (this.granted === undefined) {
      const req = { TTL: this.ttlSeconds, ID: this.options.id === undefined ? 0 : int64Field(this.options.id, 'lease id') };
      const sentAtMs = Date.now();
      this.granted = this.conn.unary<pb.LeaseGrantResponse>(RPC.Lease.LeaseGrant, req, options, 'write').then((resp) => {
        if (resp.error) throw new EtcdError(resp.error);
        const id = big(resp.ID);
        this.leaseId = id;
        if (this.state === 'new') {
          this.state = 'alive';
          this.expiresAtMs = sentAtMs + Number(big(resp.TTL)) * 1000;
          if (this.options.autoKeepAlive !== false) this.startKeepAlive();
        }
        return id;
      });
    }
    return this.granted;
  }

  /**
   * Puts `key = value` attached to this lease (granting it first if needed).
   * @example await lease.put('service/a', 'up');
   */
  async put(key: Bytes, value: Bytes, options: Omit<PutOptions, 'lease' | 'ignoreLease'> = {}): Promise<PutResult> {
    const id = await this.grant();
    return this.view.put(key, value, { ...options, lease: id });
  }

  /**
   * Sends one keep-alive now and returns the TTL the server granted.
   * @throws LeaseLostError when the lease no longer exists.
   * @example const ttl = await lease.keepAliveOnce();
   */
  async keepAliveOnce(): Promise<number> {
    const id = await this.grant();
    const ttl = await this.keeper.keepAliveOnce(id);
    if (ttl <= 0) {
      const err = new LeaseLostError(id, 'lease expired or revoked');
      this.markLost(err);
      throw err;
    }
    this.onKeepAlive(ttl, Date.now());
    return ttl;
  }

  /**
   * The lease's remaining TTL (and its keys with `keys: true`).
   * @example const { ttl } = await lease.timeToLive();
   */
  async timeToLive(options: { keys?: boolean } & CallOptions = {}): Promise<LeaseTimeToLive> {
    const id = await this.grant();
    return leaseTimeToLive(this.conn, id, options);
  }

  /**
   * Revokes the lease: its keys are deleted at once. Keep-alives stop.
   * @example await lease.revoke();
   */
  async revoke(options: CallOptions = {}): Promise<void> {
    if (this.granted === undefined) {
      this.state = 'revoked';
      return;
    }
    const id = await this.granted;
    this.stopKeepAlive('revoked');
    try {
      await this.conn.unary<pb.LeaseRevokeResponse>(RPC.Lease.LeaseRevoke, { ID: int64Field(id, 'lease id') }, options, 'read');
    } catch (e) {
      if (!(e instanceof LeaseNotFoundError)) throw e;
    }
  }

  /**
   * Stops keeping the lease alive without revoking it: it expires after its TTL.
   * @example lease.release();
   */
  release(): void {
    this.stopKeepAlive('released');
  }

  /** @internal a keep-alive sent at `sentAtMs` was answered with `ttl` seconds. */
  onKeepAlive(ttl: number, sentAtMs: number): void {
    if (this.state !== 'alive') return;
    if (ttl <= 0) {
      this.markLost(new LeaseLostError(this.leaseId!, 'lease expired or revoked'));
      return;
    }
    this.expiresAtMs = Math.max(this.expiresAtMs, sentAtMs + ttl * 1000);
    if (this.listenerCount('keepalive') > 0) this.emit('keepalive', { ttl });
  }

  /** @internal */
  markLost(err: LeaseLostError): void {
    if (this.state !== 'alive' && this.state !== 'new') return;
    this.stopKeepAlive('lost');
    if (this.listenerCount('lost') > 0) this.emit('lost', err);
  }

  private startKeepAlive(): void {
    const id = this.leaseId!;
    const periodMs = Math.max(500, Math.floor((this.ttlSeconds * 1000) / 3));
    this.keeper.add(id, this);
    const tick = (): void => {
      if (this.state !== 'alive') return;
      if (Date.now() >= this.expiresAtMs) {
        this.markLost(new LeaseLostError(id, 'no keep-alive got through before the TTL ran out'));
        return;
      }
      this.keeper.send(id);
      this.timer = setTimeout(tick, Math.min(periodMs, Math.max(50, this.expiresAtMs - Date.now())));
    };
    this.timer = setTimeout(tick, periodMs);
    this.keeper.send(id);
  }

  private stopKeepAlive(state: 'lost' | 'revoked' | 'released'): void {
    this.state = state;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.leaseId !== undefined) this.keeper.delete(this.leaseId, this);
  }
}

/** LeaseTimeToLive for `id`. */
export async function leaseTimeToLive(conn: Connection, id: bigint, options: { keys?: boolean } & CallOptions): Promise<LeaseTimeToLive> {
  const resp = await conn.unary<pb.LeaseTimeToLiveResponse>(
    RPC.Lease.LeaseTimeToLive,
    { ID: int64Field(id, 'lease id'), keys: options.keys === true },
    options,
    'read',
  );
  return {
    header: toHeader(resp.header),
    id: big(resp.ID),
    ttl: Number(big(resp.TTL)),
    grantedTtl: Number(big(resp.grantedTTL)),
    keys: (resp.keys ?? []).map((k) => Buffer.from(k)),
  };
}

/**
 * The client's LeaseKeepAlive stream, shared by every lease; reopened on the next endpoint when it
 * fails. Internal.
 */
export class LeaseKeeper {
  private stream: grpc.ClientDuplexStream<pb.LeaseKeepAliveRequest.$Properties, pb.LeaseKeepAliveResponse> | undefined;
  private endpoint: Endpoint | undefined;
  private opening = false;
  private failures = 0;
  private readonly leases = new Map<bigint, Lease>();
  /** Send times of keep-alives not yet answered, per lease (oldest first). */
  private readonly sentAt = new Map<bigint, number[]>();
  private readonly once = new Map<bigint, ((ttl: number) => void)[]>();
  private closed = false;

  constructor(private readonly conn: Connection) {
    conn.onClose(() => {
      this.closed = true;
      for (const l of [...this.leases.values()]) l.release();
      this.drop();
    });
  }

  /** The endpoint of the open keep-alive stream, if any. */
  get endpointUrl(): string | undefined {
    return this.stream === undefined ? undefined : this.endpoint?.url;
  }

  add(id: bigint, lease: Lease): void {
    this.leases.set(id, lease);
  }

  delete(id: bigint, lease: Lease): void {
    if (this.leases.get(id) === lease) this.leases.delete(id);
    this.sentAt.delete(id);
    if (this.leases.size === 0 && this.once.size === 0) this.drop();
  }

  /** Sends a keep-alive for `id` (opening the stream if needed). */
  send(id: bigint): void {
    if (this.closed) return;
    if (this.stream === undefined) {
      void this.open();
      return;
    }
    const times = this.sentAt.get(id) ?? [];
    times.push(Date.now());
    if (times.length > 16) times.shift();
    this.sentAt.set(id, times);
    this.stream.write({ ID: int64Field(id, 'lease id') });
  }

  /** Sends one keep-alive and resolves with the TTL answered. */
  keepAliveOnce(id: bigint): Promise<number> {
    return new Promise((resolve) => {
      const list = this.once.get(id) ?? [];
      list.push(resolve);
      this.once.set(id, list);
      if (this.stream === undefined) void this.open().then(() => this.send(id));
      else this.send(id);
    });
  }

  private async open(): Promise<void> {
    if (this.opening || this.closed || this.stream !== undefined) return;
    this.opening = true;
    try {
      const { stream, endpoint } = await this.conn.openBidi<pb.LeaseKeepAliveRequest.$Properties, pb.LeaseKeepAliveResponse>(
        RPC.Lease.LeaseKeepAlive,
        this.conn.requireLeader,
      );
      this.stream = stream;
      this.endpoint = endpoint;
      stream.on('data', (resp: pb.LeaseKeepAliveResponse) => this.onResponse(resp));
      stream.on('error', (e: unknown) => this.onFailure(fromGrpcError(e)));
      stream.on('end', () => this.onFailure(new UnavailableError('keep-alive stream ended by the server', false)));
      for (const id of this.leases.keys()) this.send(id);
    } catch (e) {
      this.onFailure(fromGrpcError(e));
    } finally {
      this.opening = false;
    }
  }

  private onResponse(resp: pb.LeaseKeepAliveResponse): void {
    if (this.endpoint !== undefined) this.conn.markUp(this.endpoint);
    this.failures = 0;
    const id = big(resp.ID);
    const ttl = Number(big(resp.TTL));
    const sent = this.sentAt.get(id)?.shift() ?? Date.now();
    this.leases.get(id)?.onKeepAlive(ttl, sent);
    const waiters = this.once.get(id);
    if (waiters !== undefined) {
      this.once.delete(id);
      for (const w of waiters) w(ttl);
    }
  }

  private onFailure(err: EtcdError): void {
    if (this.endpoint !== undefined && err.retryable) this.conn.markDown(this.endpoint);
    this.drop();
    this.sentAt.clear();
    if (this.closed || (this.leases.size === 0 && this.once.size === 0)) return;
    this.failures++;
    setTimeout(() => void this.open(), Math.min(50 * 2 ** this.failures, 1_000)).unref();
  }

  private drop(): void {
    const s = this.stream;
    this.stream = undefined;
    if (s !== undefined) {
      s.removeAllListeners();
      s.on('error', () => undefined);
      s.cancel();
    }
  }
}

/**
 * One lease in the list of leases.
 * @example for (const { id } of await client.leases()) console.log(id);
 */
export interface LeaseStatus {
  readonly id: bigint;
}

/** LeaseLeases: every lease the server holds. */
export async function listLeases(conn: Connection, options: CallOptions): Promise<LeaseStatus[]> {
  const resp = await conn.unary<pb.LeaseLeasesResponse>(RPC.Lease.LeaseLeases, {}, options, 'read');
  return (resp.leases ?? []).map((l) => ({ id: big(l.ID) }));
}
