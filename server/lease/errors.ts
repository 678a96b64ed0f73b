/**
 * The lease module's typed errors. server/errors.ts maps them by class name to etcd's gRPC status
 * and message text (lease/lessor.go: ErrLeaseNotFound, ErrLeaseExists, ErrLeaseTTLTooLarge).
 */

/** The lease does not exist (never granted, revoked, or expired). */
export class LeaseNotFoundError extends Error {
  constructor(readonly leaseId: bigint) {
    super(`lease ${leaseId.toString(16)} not found`);
  }
}

/** A grant named an ID that is already in use. */
export class LeaseExistsError extends Error {
  constructor(readonly leaseId: bigint) {
    super(`lease ${leaseId.toString(16)} already exists`);
  }
}

/** A grant asked for a TTL above MAX_LEASE_TTL_SEC. */
export class LeaseTTLTooLargeError extends Error {
  constructor(readonly ttlSec: bigint) {
    super(`lease TTL ${ttlSec}s is too large`);
  }
}
