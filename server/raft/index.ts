/** The pure Raft core: public surface. */
export * from './types';
export { RawNode } from './rawnode';
export type { RawNodeOptions, Status, ProgressStatus } from './rawnode';
export type { RaftConfig } from './raft';
export { READ_INDEX_REQUESTS_MAX } from './raft';
export { MemoryStorage } from './storage';
export type { MemoryStorageOptions } from './storage';
export {
  CompactedError,
  UnavailableError,
  ProposalDroppedError,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
} from './errors';
export { RaftAssertionError } from './assert';
export { encodeConfChange, decodeConfChange, ConfChangeDecodeError } from './confchange';
export { seededRandom, seeded } from './random';
export type { Random } from './random';
export { ProgressState } from './tracker/progress';
