/**
 * The transport's bounds and timings, each with its unit and what happens when it is hit. Defaults
 * follow etcd's rafthttp where it has one (4096 queued messages per stream, 100 ms dial retry).
 */
export interface TransportLimits {
  /** Messages waiting to be written to one peer, per lane (msg, app). Past it: the message is dropped and the peer reported unreachable. */
  readonly queueMessagesMax: number;
  /** Bytes of encoded messages waiting for one peer, per lane. Past it: drop, as above (a lone message larger than this still goes). */
  readonly queueBytesMax: number;
  /** Bytes of snapshot data per chunk; each chunk carries its own CRC-32C. */
  readonly snapshotChunkBytes: number;
  /** First reconnect delay after a failure; doubles per failure, with jitter in [½, 1] of the delay. */
  readonly backoffMinMs: number;
  /** Largest reconnect delay. */
  readonly backoffMaxMs: number;
  /** A connection attempt that has no accepted stream after this long fails (then backoff). */
  readonly dialTimeoutMs: number;
  /** How often a connected lane pings its peer. */
  readonly pingIntervalMs: number;
  /** A ping unanswered this long marks the connection dead (then reconnect). */
  readonly pingTimeoutMs: number;
  /** Largest encoded message sent or accepted. Larger: dropped by the sender, stream reset by the receiver. */
  readonly messageBytesMax: number;
  /** Encoded messages coalesced into one stream write (a larger single message is written alone). */
  readonly writeBatchBytesMax: number;
  /**
   * Largest encoded message a lane builds by merging queued messages (merge.ts); a merge that
   * would pass it queues the message on its own instead.
   */
  readonly mergeBytesMax: number;
  /** Largest snapshot accepted by a receiver (bytes of data). Larger: refused with 413. */
  readonly snapshotBytesMax: number;
  /** A snapshot transfer with no progress for this long fails (onSnapshotStatus false). */
  readonly snapshotIdleTimeoutMs: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = Object.freeze({
  queueMessagesMax: 4096,
  queueBytesMax: 64 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  backoffMinMs: 50,
  backoffMaxMs: 2000,
  dialTimeoutMs: 1000,
  pingIntervalMs: 1000,
  pingTimeoutMs: 3000,
  messageBytesMax: 128 * 1024 * 1024,
  writeBatchBytesMax: 256 * 1024,
  mergeBytesMax: 1024 * 1024,
  snapshotBytesMax: 4 * 1024 * 1024 * 1024 - 1,
  snapshotIdleTimeoutMs: 10_000,
});

/** Defaults overridden by `partial`, checked for sense. */
export function resolveLimits(partial: Partial<TransportLimits> | undefined): TransportLimits {
  const limits = { ...DEFAULT_TRANSPORT_LIMITS, ...partial };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`transport limit ${name} must be a positive integer, got ${value}`);
  }
  if (limits.backoffMaxMs < limits.backoffMinMs) throw new RangeError('transport limit backoffMaxMs must be ≥ backoffMinMs');
  if (limits.snapshotChunkBytes > 0xffffffff) throw new RangeError('transport limit snapshotChunkBytes must fit in 32 bits');
  return limits;
}

/** Delay before reconnect attempt number `failures` (1 = first retry): exponential with jitter. */
export function backoffDelayMs(limits: TransportLimits, failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(limits.backoffMaxMs, limits.backoffMinMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** What the transport logs through: pino's Logger fits. */
export interface TransportLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
