/**
 * The lessor: which leases exist, their TTLs, the keys attached to them, and — on the leader
 * ("primary") only — when each expires and when its remaining TTL is due for a checkpoint.
 * etcd 3.4's lease/lessor.go semantics; pure decision logic: time comes in as `nowMs`, and nothing
 * here proposes, sets timers or reads the clock. Changes that must survive a restart (grant,
 * checkpoint, revoke) are written through `LeaseRecordStore` into the MVCC backend's next flush.
 *
 * Who calls what:
 * - apply (every member, in log order): grant, revoke, checkpoint, attach/detach (via KvApplier);
 * - the leader's loop: expired, dueCheckpoints (it proposes revocations and checkpoints);
 * - the API: renew (keep-alive), lookup/remainingTtlSec (TimeToLive), leases (Leases);
 * - leadership changes: promote (expiries start counting), demote (they stop).
 */
import { strict as assert } from 'node:assert';
import { LeaseExistsError, LeaseNotFoundError, LeaseTTLTooLargeError } from './errors';
import { encodeLeaseRecord, type LeaseRecord } from './record';

/** etcd's MaxLeaseTTL: 9,000,000,000 s (about 285 years). */
export const MAX_LEASE_TTL_SEC = 9_000_000_000;
/** etcd: an expired lease whose revocation was proposed is offered again after this long. */
export const EXPIRED_LEASE_RETRY_MS = 3_000;
/** etcd's default checkpoint interval (leaseCheckpointInterval). */
export const DEFAULT_LEASE_CHECKPOINT_INTERVAL_MS = 5 * 60_000;
/** What TimeToLive reports for a lease that never expires here (not primary): Go's MaxInt64 ns in s. */
export const FOREVER_TTL_SEC = 9_223_372_036;

/** Where lease records are persisted (the MVCC store). */
export interface LeaseRecordStore {
  putLease(id: bigint, record: Uint8Array): void;
  deleteLease(id: bigint): void;
}

export interface LessorOptions {
  /** Granted TTLs below this are raised to it (see minLeaseTtlSec). */
  readonly minTtlSec: number;
  /** Checkpoint remaining TTLs this often (leader); undefined: checkpointing is off. */
  readonly checkpointIntervalMs?: number;
  readonly records?: LeaseRecordStore;
}

/**
 * etcd's minimum lease TTL: 1.5 election timeouts, counted in whole heartbeat ticks, rounded up to
 * a second, so that a lease survives a leader election (etcdserver/server.go minTTL).
 */
export function minLeaseTtlSec(opts: { readonly electionTimeoutMs: number; readonly heartbeatIntervalMs: number }): number {
  const electionTicks = Math.floor(opts.electionTimeoutMs / opts.heartbeatIntervalMs);
  return Math.ceil((Math.floor((3 * electionTicks) / 2) * opts.heartbeatIntervalMs) / 1000);
}

/** One lease. Keys are latin1 strings of the key bytes. */
export class Lease {
  /** Seconds left at the last checkpoint; 0: none (the full TTL counts). */
  remainingTtlSec = 0;
  /** When it expires (ms since the epoch); Infinity when not primary. */
  expiryMs = Number.POSITIVE_INFINITY;
  /** Not offered as expired again before this (its revocation was proposed). */
  revokeRetryAtMs = 0;
  /** When its remaining TTL is next due for a checkpoint; Infinity: not scheduled. */
  nextCheckpointMs = Number.POSITIVE_INFINITY;
  readonly keys = new Set<string>();

  constructor(
    readonly id: bigint,
    readonly ttlSec: number,
  ) {}

  /** The TTL the next expiry counts from: the checkpointed remaining TTL, else the granted TTL. */
  get effectiveTtlSec(): number {
    return this.remainingTtlSec > 0 ? this.remainingTtlSec : this.ttlSec;
  }

  /** Attached keys as bytes, in byte order. */
  sortedKeys(): Buffer[] {
    return [...this.keys].sort().map((k) => Buffer.from(k, 'latin1'));
  }
}

/** A checkpoint to propose: lease `id` has `remainingTtlSec` left. */
export interface LeaseCheckpoint {
  readonly id: bigint;
  readonly remainingTtlSec: number;
}

export class Lessor {
  private readonly leaseMap = new Map<bigint, Lease>();
  /** Each attached key's lease (latin1 key), as etcd's itemMap: a put learns a key's old lease here, not from the backend. */
  private readonly keyLeases = new Map<string, bigint>();
  private primary = false;
  private readonly minTtlSec: number;
  private readonly checkpointIntervalMs: number | undefined;
  private readonly records: LeaseRecordStore | undefined;

  constructor(opts: LessorOptions) {
    assert(Number.isSafeInteger(opts.minTtlSec) && opts.minTtlSec > 0, `bad minimum lease TTL ${opts.minTtlSec}`);
    this.minTtlSec = opts.minTtlSec;
    this.checkpointIntervalMs = opts.checkpointIntervalMs;
    this.records = opts.records;
  }

  get isPrimary(): boolean {
    return this.primary;
  }

  get size(): number {
    return this.leaseMap.size;
  }

  get checkpointing(): boolean {
    return this.checkpointIntervalMs !== undefined;
  }

  exists(id: bigint): boolean {
    return this.leaseMap.has(id);
  }

  lookup(id: bigint): Lease | undefined {
    return this.leaseMap.get(id);
  }

  /**
   * Grants lease `id` (≠ 0) with `ttlSec`, raised to the minimum TTL. On the primary it expires
   * `ttl` from `nowMs`; elsewhere it never expires until a promote.
   * @throws LeaseTTLTooLargeError above MAX_LEASE_TTL_SEC; LeaseExistsError when `id` is in use.
   */
  grant(id: bigint, ttlSec: number, nowMs: number): Lease {
    assert(id !== 0n, 'lease ID 0 means "no lease"');
    if (ttlSec > MAX_LEASE_TTL_SEC) throw new LeaseTTLTooLargeError(BigInt(ttlSec));
    if (this.leaseMap.has(id)) throw new LeaseExistsError(id);
    const lease = new Lease(id, Math.max(ttlSec, this.minTtlSec));
    this.leaseMap.set(id, lease);
    if (this.primary) {
      this.refresh(lease, nowMs, 0);
      this.scheduleCheckpoint(lease, nowMs);
    }
    this.persist(lease);
    return lease;
  }

  /**
   * Removes lease `id` and returns its keys (byte order), which the caller deletes in one revision.
   * @throws LeaseNotFoundError
   */
  revoke(id: bigint): Buffer[] {
    const lease = this.leaseMap.get(id);
    if (lease === undefined) throw new LeaseNotFoundError(id);
    this.leaseMap.delete(id);
    this.records?.deleteLease(id);
    return lease.sortedKeys();
  }

  /**
   * Records a checkpoint of lease `id`'s remaining TTL (0 clears it). As etcd, the expiry itself is
   * not moved: the remaining TTL counts from the next promote (a restart or a new leader).
   * Unknown leases are ignored (revoked after the checkpoint was proposed).
   */
  checkpoint(id: bigint, remainingTtlSec: number, nowMs: number): void {
    const lease = this.leaseMap.get(id);
    if (lease === undefined) return;
    lease.remainingTtlSec = Math.max(0, remainingTtlSec);
    if (this.primary) this.scheduleCheckpoint(lease, nowMs);
    this.persist(lease);
  }

  /**
   * Renews lease `id` on the primary: it expires its full TTL from `nowMs`. `clearCheckpoint` says
   * a checkpointed remaining TTL must be cleared through the log (checkpoint with 0), as etcd does.
   * A lease already expired is as good as revoked (its revocation is under way): not found.
   * @throws LeaseNotFoundError
   */
  renew(id: bigint, nowMs: number): { ttlSec: number; clearCheckpoint: boolean } {
    assert(this.primary, 'renew on a lessor that is not primary');
    const lease = this.leaseMap.get(id);
    if (lease === undefined || lease.expiryMs <= nowMs) throw new LeaseNotFoundError(id);
    const clearCheckpoint = this.checkpointing && lease.remainingTtlSec > 0;
    this.refresh(lease, nowMs, 0);
    lease.revokeRetryAtMs = 0;
    this.scheduleCheckpoint(lease, nowMs);
    return { ttlSec: lease.ttlSec, clearCheckpoint };
  }

  /** Seconds left for TimeToLive, truncated as etcd's int64(Remaining().Seconds()). */
  remainingTtlSec(lease: Lease, nowMs: number): number {
    if (lease.expiryMs === Number.POSITIVE_INFINITY) return FOREVER_TTL_SEC;
    return Math.trunc((lease.expiryMs - nowMs) / 1000);
  }

  attach(id: bigint, key: Buffer): void {
    const lease = this.leaseMap.get(id);
    // KvApplier checks existence before a put; a key restored with a lease that is gone is ignored.
    if (lease === undefined) return;
    const k = key.toString('latin1');
    lease.keys.add(k);
    this.keyLeases.set(k, id);
  }

  detach(id: bigint, key: Buffer): void {
    const k = key.toString('latin1');
    this.leaseMap.get(id)?.keys.delete(k);
    if (this.keyLeases.get(k) === id) this.keyLeases.delete(k);
  }

  /** The lease `key` is attached to (0n: none), from memory. */
  leaseOf(key: Buffer): bigint {
    return this.keyLeases.size === 0 ? 0n : (this.keyLeases.get(key.toString('latin1')) ?? 0n);
  }

  /**
   * This member became the leader: every lease expires its (checkpointed or full) TTL plus
   * `extendMs` from `nowMs` (etcd extends by an election timeout, so that clients can reach the new
   * leader before their leases run out).
   */
  promote(nowMs: number, extendMs: number): void {
    this.primary = true;
    for (const lease of this.leaseMap.values()) {
      this.refresh(lease, nowMs, extendMs);
      lease.revokeRetryAtMs = 0;
      this.scheduleCheckpoint(lease, nowMs);
    }
  }

  /** This member is no longer the leader: leases stop expiring here. */
  demote(): void {
    this.primary = false;
    for (const lease of this.leaseMap.values()) {
      lease.expiryMs = Number.POSITIVE_INFINITY;
      lease.nextCheckpointMs = Number.POSITIVE_INFINITY;
    }
  }

  /**
   * Up to `limit` leases expired at `nowMs` whose revocation is not already under way, earliest
   * expiry first. Each returned lease is not offered again for EXPIRED_LEASE_RETRY_MS (the
   * proposal may be lost; then it is proposed again).
   */
  expired(nowMs: number, limit: number): bigint[] {
    if (!this.primary) return [];
    const due: Lease[] = [];
    for (const lease of this.leaseMap.values()) {
      if (lease.expiryMs <= nowMs && lease.revokeRetryAtMs <= nowMs) due.push(lease);
    }
    due.sort((a, b) => a.expiryMs - b.expiryMs);
    const chosen = due.slice(0, limit);
    for (const lease of chosen) lease.revokeRetryAtMs = nowMs + EXPIRED_LEASE_RETRY_MS;
    return chosen.map((l) => l.id);
  }

  /**
   * Up to `limit` checkpoints due at `nowMs` (etcd's findDueScheduledCheckpoints): leases neither
   * expired nor at their full TTL, with the remaining TTL rounded up to a second. A lease returned
   * is rescheduled when its checkpoint is applied.
   */
  dueCheckpoints(nowMs: number, limit: number): LeaseCheckpoint[] {
    if (!this.primary || !this.checkpointing) return [];
    const out: LeaseCheckpoint[] = [];
    for (const lease of this.leaseMap.values()) {
      if (out.length >= limit) break;
      if (lease.nextCheckpointMs > nowMs) continue;
      lease.nextCheckpointMs = Number.POSITIVE_INFINITY;
      if (lease.expiryMs <= nowMs) continue;
      const remainingTtlSec = Math.ceil((lease.expiryMs - nowMs) / 1000);
      if (remainingTtlSec >= lease.ttlSec) continue;
      out.push({ id: lease.id, remainingTtlSec });
    }
    return out;
  }

  /** Every lease, earliest expiry first (then by ID), as etcd's Leases. */
  leases(): Lease[] {
    return [...this.leaseMap.values()].sort((a, b) => a.expiryMs - b.expiryMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Restores a persisted lease at startup (before any promote). */
  /**
   * Forgets every lease (the state machine was replaced by a Raft snapshot; `restore` follows).
   * Only a member that is not primary installs snapshots.
   */
  reset(): void {
    assert(!this.primary, 'a primary lessor is never reset');
    this.leaseMap.clear();
    this.keyLeases.clear();
  }

  restore(id: bigint, record: LeaseRecord): void {
    assert(!this.leaseMap.has(id), `lease ${id.toString(16)} restored twice`);
    assert(!this.primary, 'restore after promote');
    const lease = new Lease(id, record.ttlSec);
    lease.remainingTtlSec = record.remainingTtlSec;
    this.leaseMap.set(id, lease);
  }

  private refresh(lease: Lease, nowMs: number, extendMs: number): void {
    lease.expiryMs = nowMs + extendMs + lease.effectiveTtlSec * 1000;
  }

  private scheduleCheckpoint(lease: Lease, nowMs: number): void {
    const interval = this.checkpointIntervalMs;
    if (interval === undefined) return;
    // etcd: only when the lease lasts longer than one interval.
    lease.nextCheckpointMs = lease.expiryMs - nowMs > interval ? nowMs + interval : Number.POSITIVE_INFINITY;
  }

  private persist(lease: Lease): void {
    this.records?.putLease(lease.id, encodeLeaseRecord({ ttlSec: lease.ttlSec, remainingTtlSec: lease.remainingTtlSec }));
  }
}
