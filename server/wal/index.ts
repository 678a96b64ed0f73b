/** server/wal: the write-ahead log. Public surface of the package. */
export { Wal, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MIN } from './wal';
export type { WalCreateOptions, WalOpenOptions, WalOpenResult, WalRepair } from './wal';
export type { SnapshotMarker } from './record';
export { WalCorruptError, WalAssertionError } from './errors';
export { crc32c } from './crc32c';
