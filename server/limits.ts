/**
 * Every bound in the member, in one place: its unit is in its name, and its comment says what
 * happens when it is hit. Client-visible limits that etcd makes flags (request bytes, txn ops,
 * quota) live in the configuration instead (server/cli/config.ts).
 */
export const LIMITS = {
  /** Unary calls in flight between the transport and member threads; past it: RESOURCE_EXHAUSTED "etcdserver: too many requests". */
  callsInFlightMax: 65536,
  /** Streaming calls (watch, keep-alive) open at once; past it: RESOURCE_EXHAUSTED "etcdserver: too many requests". */
  streamsOpenMax: 100000,
  /**
   * Bytes the member may send to a stream whose client stopped reading; past it the stream ends
   * RESOURCE_EXHAUSTED. Services stop sending once they see `writable` go false, but that news
   * crosses threads: a busy transport thread lets a watch catch-up (2 MiB batches) run several
   * batches ahead, so the bound leaves room for 32 of them.
   */
  streamUnwritableBytesMax: 64 * 1024 * 1024,
  /** Proposals waiting to be applied; past it: ErrTooManyRequests (etcd bounds the apply gap at 5000 entries). */
  proposalsPendingMax: 20000,
  /** Linearizable reads waiting for the next ReadIndex round; past it: ErrTooManyRequests. */
  readsPendingMax: 65536,
  /** How often waiters past their deadline are failed with ErrTimeout. */
  requestTimeoutSweepMs: 250,
  /** Largest append message sent to a peer (bytes of entries); Raft splits larger batches. */
  raftMessageBytesMax: 1024 * 1024,
  /** Append messages in flight to one peer; past it the leader waits for acknowledgements. */
  raftInflightMessagesMax: 512,
  /** WAL saves up to this size (about 6 puts) fsync synchronously on the member thread: lower latency under light load. Larger ones, which mean many clients, fsync asynchronously so decoding and proposing the next batch overlap the fsync. */
  walBlockingSaveBytesMax: 2 * 1024,
  /** Applied entries after which the store writes its backend batch at once; fewer wait up to storeFlushDelayMs (they are served from memory meanwhile). */
  storeFlushEntriesMax: 256,
  storeFlushDelayMs: 10,
  /** Entries kept in the log after a snapshot so that slow followers can catch up without one (etcd: 5000). */
  snapshotCatchUpEntries: 5000,
} as const;
