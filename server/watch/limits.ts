/**
 * The watch module's bounds (units last; what happens when each is hit is in its comment).
 */
export const WATCH_LIMITS = {
  /** Unsynced watchers served by one catch-up batch (etcd: maxWatchersPerSync); the others wait for the next. */
  catchUpWatchersPerBatch: 512,
  /** Stored changes read from history per catch-up batch (whole revisions, so one huge revision may exceed it); the rest is read by the next batch. */
  catchUpChangesPerBatch: 1000,
  /** And at most about this many bytes of changes per batch (whole revisions): a catch-up of large values stays small. */
  catchUpBytesPerBatch: 2 * 1024 * 1024,
  /** Bytes of events one catch-up batch sends to one stream (at least one watcher's share, then the others wait for the next batch): what a stream may run ahead before it hears that its client stopped reading. */
  catchUpStreamBytesPerBatch: 1024 * 1024,
  /** Watchers one stream may hold; past it the create is refused (canceled, "etcdserver: too many watchers on the stream"). */
  watchersPerStreamMax: 100000,
  /** Period of the progress-notification tick, at most (ms); each stream's own interval is checked at each tick. */
  progressTickMaxMs: 1000,
} as const;
