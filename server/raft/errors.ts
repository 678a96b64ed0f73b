/**
 * Operating errors of the Raft core, each with a stable `code`. Programmer errors are
 * RaftAssertionError (assert.ts) instead.
 */

/** The requested index is older than the first index kept: it was compacted into a snapshot. */
export class CompactedError extends Error {
  override readonly name = 'CompactedError';
  readonly code = 'ERR_RAFT_COMPACTED';
  constructor(message = 'requested index is unavailable due to compaction') {
    super(message);
  }
}

/** The requested index is newer than the last index stored. */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
  readonly code = 'ERR_RAFT_UNAVAILABLE';
  constructor(message = 'requested entry at index is unavailable') {
    super(message);
  }
}

/** The snapshot offered is older than the snapshot already held. */
export class SnapshotOutOfDateError extends Error {
  override readonly name = 'SnapshotOutOfDateError';
  readonly code = 'ERR_RAFT_SNAPSHOT_OUT_OF_DATE';
  constructor(message = 'requested index is older than the existing snapshot') {
    super(message);
  }
}

/**
 * A Storage implementation may throw this from `snapshot()` while it prepares one; the leader
 * retries later.
 */
export class SnapshotTemporarilyUnavailableError extends Error {
  override readonly name = 'SnapshotTemporarilyUnavailableError';
  readonly code = 'ERR_RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE';
  constructor(message = 'snapshot is temporarily unavailable') {
    super(message);
  }
}

/**
 * A proposal (or ReadIndex request) was not accepted: there is no known leader, a leader transfer
 * is in progress, this member was removed, or the uncommitted log is over its byte limit. The
 * caller may retry later.
 */
export class ProposalDroppedError extends Error {
  override readonly name = 'ProposalDroppedError';
  readonly code = 'ERR_RAFT_PROPOSAL_DROPPED';
  constructor(message = 'raft proposal dropped') {
    super(message);
  }
}
