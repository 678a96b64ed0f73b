/**
 * The Raft core's data types: the contract between the pure core (server/raft), the WAL
 * (server/wal), the transport and the host loop (server/node). Shapes follow etcd-io/raft's raftpb.
 * Terms and indexes are `number` (safe integers); member IDs are `bigint` (etcd's IDs use 64 bits).
 */

/** A member ID. 0n means "none". */
export type MemberId = bigint;
export const NONE: MemberId = 0n;

export enum EntryType {
  Normal = 0,
  ConfChange = 1,
}

/** One Raft log entry. An entry with empty `data` and type Normal is a leader's no-op. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must be on stable storage before a member answers any message (Raft §5, Figure 2). */
export interface HardState {
  readonly term: number;
  readonly vote: MemberId;
  readonly commit: number;
}

export interface ConfState {
  readonly voters: readonly MemberId[];
  readonly learners: readonly MemberId[];
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export enum ConfChangeType {
  AddNode = 0,
  RemoveNode = 1,
  UpdateNode = 2,
  AddLearnerNode = 3,
}

/** A membership change, carried in a ConfChange entry (encoded by server/raft/confchange.ts). */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: MemberId;
  readonly context: Uint8Array;
}

export enum MessageType {
  MsgHup = 0,
  MsgBeat = 1,
  MsgProp = 2,
  MsgApp = 3,
  MsgAppResp = 4,
  MsgVote = 5,
  MsgVoteResp = 6,
  MsgSnap = 7,
  MsgHeartbeat = 8,
  MsgHeartbeatResp = 9,
  MsgUnreachable = 10,
  MsgSnapStatus = 11,
  MsgCheckQuorum = 12,
  MsgTransferLeader = 13,
  MsgTimeoutNow = 14,
  MsgReadIndex = 15,
  MsgReadIndexResp = 16,
  MsgPreVote = 17,
  MsgPreVoteResp = 18,
}

export interface Message {
  readonly type: MessageType;
  readonly to: MemberId;
  readonly from: MemberId;
  readonly term: number;
  /** For MsgApp: the term of the entry at `index`. For votes: the candidate's last log term. */
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly snapshot?: Snapshot;
  readonly reject: boolean;
  readonly rejectHint: number;
  /** Opaque bytes: ReadIndex request contexts, campaign type for transfers. */
  readonly context?: Uint8Array;
}

export enum StateType {
  Follower = 0,
  Candidate = 1,
  Leader = 2,
  PreCandidate = 3,
}

/** Volatile state, reported in a Ready when it changed. */
export interface SoftState {
  readonly lead: MemberId;
  readonly state: StateType;
}

/** Answer to a ReadIndex request: once applied ≥ index, a linearizable read may be served. */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

/**
 * Everything the host must do, in order: persist `snapshot`, `entries` and `hardState` (fsync once
 * when `mustSync`), send `messages`, apply `committedEntries`, then call `advance`.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly readStates: readonly ReadState[];
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  /** Set when the Ready carries entries, a snapshot, or a new term or vote: fsync before sending. */
  readonly mustSync: boolean;
}

/**
 * The log as the host has stored it, read by the core. Implementations: MemoryStorage
 * (server/raft/storage.ts); the host keeps it in step with the WAL.
 */
export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at most `maxBytes` of data (at least one entry). Throws CompactedError / UnavailableError. */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /** The term of the entry at index i (firstIndex-1 ≤ i ≤ lastIndex). Throws CompactedError / UnavailableError. */
  term(i: number): number;
  lastIndex(): number;
  firstIndex(): number;
  snapshot(): Snapshot;
}
