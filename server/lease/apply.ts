/**
 * Applies the lease requests of committed entries (etcd's applierV3backend LeaseGrant/LeaseRevoke/
 * LeaseCheckpoint): the lessor changes, and a revocation deletes every attached key in ONE write
 * transaction (one revision, keys in byte order, as etcd's lessor.Revoke). Responses are plain
 * objects shaped as the generated messages; their header carries only the revision after the
 * change (the host fills cluster, member and term).
 */
import type { etcdserverpb as pb } from '../../proto';
import { fromBigInt, toBigInt } from '../../proto';
import type { MvccStore } from '../mvcc/types';
import type { Lessor } from './lessor';

export interface LeaseApplierOptions {
  readonly lessor: Lessor;
  readonly store: MvccStore;
  /** Milliseconds since the epoch: when a lease granted on the leader starts counting. */
  readonly clock: () => number;
}

/** A grant's TTL as a number; anything past the safe range is past MAX_LEASE_TTL_SEC as well. */
function ttlOf(v: pb.ILeaseGrantRequest['TTL']): number {
  const ttl = toBigInt(v ?? 0);
  return ttl > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ttl);
}

export class LeaseApplier {
  private readonly lessor: Lessor;
  private readonly store: MvccStore;
  private readonly clock: () => number;

  constructor(opts: LeaseApplierOptions) {
    this.lessor = opts.lessor;
    this.store = opts.store;
    this.clock = opts.clock;
  }

  /** @throws LeaseExistsError, LeaseTTLTooLargeError (lease/errors.ts) — nothing changes then. */
  grant(req: pb.ILeaseGrantRequest): pb.ILeaseGrantResponse {
    const lease = this.lessor.grant(toBigInt(req.ID ?? 0), ttlOf(req.TTL), this.clock());
    return { header: { revision: this.store.currentRevision }, ID: fromBigInt(lease.id, false), TTL: lease.ttlSec };
  }

  /** @throws LeaseNotFoundError — nothing changes then. */
  revoke(req: pb.ILeaseRevokeRequest): pb.ILeaseRevokeResponse {
    const keys = this.lessor.revoke(toBigInt(req.ID ?? 0));
    if (keys.length > 0) {
      const txn = this.store.write();
      try {
        for (const key of keys) txn.deleteRange(key, undefined);
      } finally {
        txn.end();
      }
    }
    return { header: { revision: this.store.currentRevision } };
  }

  checkpoint(req: pb.ILeaseCheckpointRequest): pb.ILeaseCheckpointResponse {
    const nowMs = this.clock();
    for (const cp of req.checkpoints ?? []) {
      this.lessor.checkpoint(toBigInt(cp.ID ?? 0), Number(toBigInt(cp.remaining_TTL ?? 0)), nowMs);
    }
    return { header: { revision: this.store.currentRevision } };
  }
}
