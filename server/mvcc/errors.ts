/**
 * The multi-version store's operating errors. server/errors.ts maps them (by class name) to gRPC
 * status and etcd's message text; the messages here are etcd's mvcc error texts.
 */

/** A read, watch or compaction asked for a revision that compaction has removed. */
export class CompactedError extends Error {
  constructor(
    /** The revision asked for. */
    readonly revision: number,
    /** The store's compact revision at the time. */
    readonly compactRevision: number,
  ) {
    super('mvcc: required revision has been compacted');
    this.name = 'CompactedError';
  }
}

/** A read or compaction asked for a revision greater than the store's current revision. */
export class FutureRevisionError extends Error {
  constructor(
    /** The revision asked for. */
    readonly revision: number,
    /** The store's current revision at the time. */
    readonly currentRevision: number,
  ) {
    super('mvcc: required revision is a future revision');
    this.name = 'FutureRevisionError';
  }
}
