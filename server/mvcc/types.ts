/**
 * The multi-version store's contract: what server/apply and server/node use, what server/mvcc
 * implements. Vocabulary is etcd's: a revision is the store's logical clock, incremented once per
 * write transaction that changes something; a key's version counts its modifications since its
 * creation (reset by deletion); createRevision/modRevision are revisions.
 */
import type { Backend, ScanEntry } from './backend';

/** One key at one revision, as etcd's mvccpb.KeyValue. */
export interface KeyValue {
  readonly key: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly value: Buffer;
  /** Lease ID, 0n when none. */
  readonly lease: bigint;
}

/** A KeyValue read from the store together with its mvccpb.KeyValue wire encoding. */
export interface StoredKeyValue extends KeyValue {
  /** The exact mvccpb.KeyValue protobuf bytes of this record: responses copy them as they are. */
  readonly encoded: Buffer;
}

export interface RangeOptions {
  /** Read the store as of this revision; 0 or absent: the current revision. */
  readonly revision?: number;
  /** At most this many kvs are returned (0 or absent: no limit); `count` still counts all. */
  readonly limit?: number;
  /** Count only: `kvs` is empty, `count` is filled (answered from the key index, no backend read). */
  readonly countOnly?: boolean;
}

export interface RangeResult {
  /** Matching keys in ascending key byte order, at most `limit`. */
  readonly kvs: StoredKeyValue[];
  /** Number of matching keys, ignoring `limit`. */
  readonly count: number;
  /** The revision the read saw. */
  readonly revision: number;
}

/**
 * A consistent view of the store. Key ranges follow etcd: `end` absent or empty → the single key
 * `key`; `end` = [0x00] → every key ≥ `key`; otherwise the half-open range [key, end). A `key` of
 * [0x00] with `end` [0x00] is the whole keyspace.
 */
export interface ReadTxn {
  /** The revision this view reads at by default. */
  readonly revision: number;
  /**
   * The last compaction's revision (0: none): history before it is gone; reads at it still work
   * (each key's newest revision ≤ it is kept), as in etcd.
   */
  readonly compactRevision: number;
  /**
   * @throws CompactedError when opts.revision < compactRevision (etcd's rangeKeys: reading at the
   * compact revision itself succeeds); FutureRevisionError when opts.revision > revision.
   */
  range(key: Buffer, end: Buffer | undefined, opts?: RangeOptions): RangeResult;
}

/**
 * A write transaction: all its changes share one new revision (main = previous revision + 1, sub =
 * 0, 1, 2... in order). Ranges inside it see its own earlier changes. `end()` makes them visible to
 * others; a transaction with no changes does not advance the revision.
 */
export interface WriteTxn extends ReadTxn {
  put(key: Buffer, value: Buffer, lease: bigint): void;
  /** Deletes every existing key in the range; returns how many were deleted. */
  deleteRange(key: Buffer, end: Buffer | undefined): number;
  /** Changes made so far in this transaction. */
  readonly changes: number;
  end(): void;
}

export interface CompactResult {
  /** Resolves when the compacted revisions are physically gone from the backend. */
  readonly done: Promise<void>;
}

export interface HashKVResult {
  /**
   * CRC-32C over the revision keys and stored values of every revision ≤ `revision` the store holds
   * (as etcd: after compaction, each key's newest live revision ≤ compactRevision, and all later ones).
   */
  readonly hash: number;
  /** The compact revision the hash starts after. */
  readonly compactRevision: number;
  /** The revision the hash covers up to (the current revision when 0 was asked). */
  readonly revision: number;
}

/** One change of a committed write transaction, as a watch event sees it. */
export interface MvccEvent {
  readonly type: 'put' | 'delete';
  /** The key's bytes as a latin1 string (byte order = string order). */
  readonly key: string;
  /** The revision of the transaction that made the change. */
  readonly modRevision: number;
  /**
   * The mvccpb.KeyValue wire bytes: the whole record for a put; for a delete, as etcd, only the key
   * and the mod revision (the tombstone).
   */
  readonly kv: Buffer;
}

/**
 * Observes committed write transactions: called at `end()` of each write transaction that changed
 * something, in revision order, with its changes in sub-revision order. `currentRevision` is already
 * `revision` when it is called.
 */
export type CommitListener = (events: readonly MvccEvent[], revision: number) => void;

/** What `MvccStore.events` reads. */
export interface EventsQuery {
  /** First revision to read (inclusive). */
  readonly fromRevision: number;
  /** Last revision to read (inclusive); capped at the current revision. */
  readonly toRevision: number;
  /**
   * Only changes to keys in this range (latin1 strings): `end` undefined → the single key `key`;
   * `end` '' → every key ≥ `key`; otherwise [key, end). Absent: every key.
   */
  readonly keyRange?: { readonly key: string; readonly end: string | undefined };
  /**
   * Stop after the revision at which at least this many stored changes (matching or not) have been
   * examined: a batch always holds whole revisions, so it may exceed the limit by one revision.
   */
  readonly limit: number;
  /** Also stop after the revision at which this many bytes of stored changes have been examined. */
  readonly bytesLimit?: number;
}

/** A bounded slice of history. */
export interface EventsBatch {
  /** Matching changes in revision order. */
  readonly events: MvccEvent[];
  /** The first revision the batch did not cover (toRevision + 1 when it covered everything). */
  readonly nextRevision: number;
}

/** The meta records a store keeps (see MvccStore.putMetaRecord). */
export type MetaRecordName = 'alarms' | 'members';

export interface MvccStore {
  readonly currentRevision: number;
  readonly compactRevision: number;
  /** The last Raft index whose effects are in this store (persisted with each flush). */
  readonly consistentIndex: number;
  /** A view at the current revision. Valid until the next write transaction ends. */
  read(): ReadTxn;
  /** At most one write transaction is open at a time (asserted). */
  write(): WriteTxn;
  /** Records that Raft entries up to `index` have been applied; stored by the next flush. */
  setConsistentIndex(index: number): void;
  /**
   * Writes every change since the previous flush, with the consistent index and meta, as one backend
   * batch (not fsynced: the WAL is the durability point). Flushes run one after another. Reads are
   * answered correctly before the flush completes.
   */
  flush(): Promise<void>;
  /**
   * Makes everything flushed so far durable (fsync of the backend). Called before the WAL before
   * the consistent index is released, so that a restart never needs the released entries.
   */
  sync(): Promise<void>;
  /**
   * Compacts history: every revision < `revision` is dropped, except the newest revision of each
   * key that is not a deletion. The key index is compacted at once; the backend in bounded batches.
   * @throws CompactedError when revision ≤ compactRevision; FutureRevisionError when > currentRevision.
   */
  compact(revision: number): CompactResult;
  /** Hash of all key-value history in (compactRevision, revision]; equal on members with equal history. */
  /**
   * Hash of the key-value history in (compactRevision, revision]. `revision` 0 means the current
   * revision and is never refused, as in etcd; an explicit revision ≤ compactRevision throws
   * CompactedError, one past the current revision FutureRevisionError.
   */
  hashKV(revision: number): Promise<HashKVResult>;
  /** Size of the backend on disk in bytes (approximate), and in use. */
  dbSize(): Promise<{ sizeBytes: number; sizeInUseBytes: number }>;
  close(): Promise<void>;
  /** Registers `listener` for every later committed write transaction (see CommitListener). */
  onCommit(listener: CommitListener): void;
  /**
   * Reads committed changes from history (backend and not yet flushed values), in revision order.
   * Watch semantics as etcd's: history from `fromRevision` is gone when fromRevision < compactRevision.
   * @throws CompactedError when fromRevision < compactRevision (also when a compaction ran during the read).
   */
  events(query: EventsQuery): Promise<EventsBatch>;
  /**
   * Lease records (server/lease), kept under their own key prefix and written by the next flush in
   * the same batch as the consistent index, so that lease state matches the applied log.
   */
  putLease(id: bigint, record: Uint8Array): void;
  deleteLease(id: bigint): void;
  /** Every lease record, flushed first; in ID byte order (two's complement, big-endian). */
  leases(): Promise<{ readonly id: bigint; readonly record: Uint8Array }[]>;
  /**
   * A small piece of member state kept beside the data as one opaque record: the raised alarms
   * (server/apply/quota.ts), the members' published attributes (server/node/membership.ts).
   * Written by the next flush in the same batch as the consistent index, so it is as current as
   * the applied log; `metaRecord` sees a put at once (undefined: never stored).
   */
  putMetaRecord(name: MetaRecordName, record: Uint8Array): void;
  metaRecord(name: MetaRecordName): Uint8Array | undefined;
  /**
   * Online defragmentation: flushes, then compacts the backend's whole key range (LevelDB's
   * compactRange), so obsolete versions and deletions are dropped from the files. Reads and writes
   * keep being served while it runs.
   */
  defragment(): Promise<void>;
  /**
   * A view of the whole backend as of now, for a Raft snapshot: flushes, then fixes the view, so it
   * holds exactly the changes applied before the call (the caller applies nothing meanwhile).
   */
  openSnapshot(): Promise<AsyncIterable<ScanEntry[]>>;
  /**
   * Replaces the backend with the one `open` returns (a received snapshot: the old backend is closed
   * before `open` runs, so it may move directories) and rebuilds the key index, revisions and
   * consistent index from it. Commit listeners stay registered; they see no events for the jump.
   */
  restore(open: () => Promise<Backend>): Promise<void>;
}
