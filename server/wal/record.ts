/**
 * The WAL record: `u32 length | u32 crc32c | u8 kind | payload`, little-endian. `length` counts
 * kind + payload (so a real record has length ≥ 1 and a zero length field marks the end of the log
 * in a preallocated segment); the CRC-32C covers kind + payload.
 *
 * The kind byte's low 7 bits name the kind; its high bit (SAVE_END_FLAG) marks the last record of
 * one save (one write + one fdatasync). Open uses it to tell a torn write (damage confined to the
 * final, unfinished save) from corruption in the middle of the log.
 *
 * Payloads (integers u64 little-endian unless noted):
 * - metadata: opaque bytes given by the host (cluster id, member id)
 * - entry: term, index, type u8, data (the rest)
 * - hard state: term, vote, commit
 * - snapshot marker: index, term
 */
import type { Entry, EntryType, HardState } from '../raft/types';
import { crc32c } from './crc32c';
import { assert } from './errors';

export const RECORD_HEADER_BYTES = 8;
/** Largest `length` field accepted (kind + payload). Larger values are treated as damage. */
export const RECORD_LENGTH_MAX = 1 << 30;

export enum RecordKind {
  Metadata = 1,
  Entry = 2,
  HardState = 3,
  Snapshot = 4,
}

export const SAVE_END_FLAG = 0x80;
const KIND_MASK = 0x7f;

export const ENTRY_FIXED_BYTES = 17;
export const HARD_STATE_BYTES = 24;
export const SNAPSHOT_MARKER_BYTES = 16;

/** A snapshot marker: the log up to and including `index` (of `term`) is covered by a snapshot. */
export interface SnapshotMarker {
  readonly index: number;
  readonly term: number;
}

const TWO_POW_32 = 0x1_0000_0000;
/** Scratch buffers larger than this are dropped after use rather than kept. */
const SCRATCH_KEPT_BYTES_MAX = 4 * 1024 * 1024;
const SCRATCH_INITIAL_BYTES = 64 * 1024;

function putU64(buf: Buffer, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `u64 field must be a safe non-negative integer, got ${value}`);
  buf.writeUInt32LE(value % TWO_POW_32, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_POW_32), offset + 4);
}

/** Reads a u64 that must be a safe integer; returns -1 when it is not (damage or a foreign writer). */
export function readU64(buf: Buffer, offset: number): number {
  const hi = buf.readUInt32LE(offset + 4);
  if (hi > 0x1fffff) return -1;
  return hi * TWO_POW_32 + buf.readUInt32LE(offset);
}

/**
 * Encodes records into one reusable buffer, so that a whole save becomes one write call.
 * Not reentrant: the WAL serializes saves, and each save consumes the bytes before the next begins.
 */
export class RecordEncoder {
  private buffer: Buffer = Buffer.allocUnsafe(SCRATCH_INITIAL_BYTES);
  /** Bytes encoded since the last reset. */
  length = 0;

  reset(): void {
    this.length = 0;
    if (this.buffer.length > SCRATCH_KEPT_BYTES_MAX) this.buffer = Buffer.allocUnsafe(SCRATCH_INITIAL_BYTES);
  }

  /** The encoded bytes; valid until the next reset or add. */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  addEntry(entry: Entry, saveEnd: boolean): void {
    const p = this.begin(ENTRY_FIXED_BYTES + entry.data.length);
    putU64(this.buffer, p, entry.term);
    putU64(this.buffer, p + 8, entry.index);
    this.buffer[p + 16] = entry.type;
    this.buffer.set(entry.data, p + ENTRY_FIXED_BYTES);
    this.finish(RecordKind.Entry, saveEnd);
  }

  addHardState(hardState: HardState, saveEnd: boolean): void {
    const p = this.begin(HARD_STATE_BYTES);
    putU64(this.buffer, p, hardState.term);
    assert(hardState.vote >= 0n && hardState.vote < 1n << 64n, `vote must fit in u64, got ${hardState.vote}`);
    this.buffer.writeBigUInt64LE(hardState.vote, p + 8);
    putU64(this.buffer, p + 16, hardState.commit);
    this.finish(RecordKind.HardState, saveEnd);
  }

  addSnapshot(marker: SnapshotMarker, saveEnd: boolean): void {
    const p = this.begin(SNAPSHOT_MARKER_BYTES);
    putU64(this.buffer, p, marker.index);
    putU64(this.buffer, p + 8, marker.term);
    this.finish(RecordKind.Snapshot, saveEnd);
  }

  addMetadata(metadata: Uint8Array, saveEnd: boolean): void {
    const p = this.begin(metadata.length);
    this.buffer.set(metadata, p);
    this.finish(RecordKind.Metadata, saveEnd);
  }

  private recordStart = 0;

  /** Reserves a record with `payloadBytes` of payload; returns the payload's offset. */
  private begin(payloadBytes: number): number {
    const recordLength = 1 + payloadBytes;
    assert(recordLength <= RECORD_LENGTH_MAX, `record of ${recordLength} bytes exceeds ${RECORD_LENGTH_MAX}`);
    const needed = this.length + RECORD_HEADER_BYTES + recordLength;
    if (needed > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    this.recordStart = this.length;
    this.length = needed;
    return this.recordStart + RECORD_HEADER_BYTES + 1;
  }

  private finish(kind: RecordKind, saveEnd: boolean): void {
    const s = this.recordStart;
    const b = this.buffer;
    b[s + 8] = kind | (saveEnd ? SAVE_END_FLAG : 0);
    b.writeUInt32LE(this.length - s - RECORD_HEADER_BYTES, s);
    b.writeUInt32LE(crc32c(b, s + RECORD_HEADER_BYTES, this.length), s + 4);
  }
}

/** A record that passed its checks: header, bounds, CRC, known kind and payload size. */
export interface RecordView {
  readonly kind: RecordKind;
  readonly saveEnd: boolean;
  /** Offset of the payload (after the kind byte). */
  readonly payloadStart: number;
  /** Offset just past the record. */
  readonly end: number;
}

/**
 * Checks the record at `offset` of `buf`. Returns the record, or a reason string if it is bad.
 * The caller handles a zero length field (the end of the log) before calling.
 */
export function checkRecordAt(buf: Buffer, offset: number): RecordView | string {
  const left = buf.length - offset;
  if (left < RECORD_HEADER_BYTES + 1) return `record header cut short (${left} bytes left in file)`;
  const length = buf.readUInt32LE(offset);
  if (length === 0) return 'zero length field';
  if (length > RECORD_LENGTH_MAX) return `record length ${length} exceeds the maximum ${RECORD_LENGTH_MAX}`;
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > buf.length) return `record of length ${length} runs past the end of the file (${buf.length} bytes)`;
  const stored = buf.readUInt32LE(offset + 4);
  const computed = crc32c(buf, offset + RECORD_HEADER_BYTES, end);
  if (stored !== computed) {
    return `checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`;
  }
  const kindByte = buf[offset + RECORD_HEADER_BYTES];
  const kind = kindByte & KIND_MASK;
  const payloadBytes = length - 1;
  switch (kind) {
    case RecordKind.Metadata:
      break;
    case RecordKind.Entry:
      if (payloadBytes < ENTRY_FIXED_BYTES) return `entry record payload of ${payloadBytes} bytes is too short`;
      break;
    case RecordKind.HardState:
      if (payloadBytes !== HARD_STATE_BYTES) return `hard state record payload has ${payloadBytes} bytes`;
      break;
    case RecordKind.Snapshot:
      if (payloadBytes !== SNAPSHOT_MARKER_BYTES) return `snapshot record payload has ${payloadBytes} bytes`;
      break;
    default:
      return `unknown record kind ${kind}`;
  }
  return { kind, saveEnd: (kindByte & SAVE_END_FLAG) !== 0, payloadStart: offset + RECORD_HEADER_BYTES + 1, end };
}

/** Decodes an entry payload. Its `data` is a view into `buf`: copy it before `buf` is reused or dropped. */
export function decodeEntry(buf: Buffer, record: RecordView): Entry | string {
  const p = record.payloadStart;
  const term = readU64(buf, p);
  const index = readU64(buf, p + 8);
  if (term < 0 || index < 0) return 'entry term or index is not a safe integer';
  const type = buf[p + 16] as EntryType;
  const data = new Uint8Array(buf.buffer, buf.byteOffset + p + ENTRY_FIXED_BYTES, record.end - p - ENTRY_FIXED_BYTES);
  return { term, index, type, data };
}

export function decodeHardState(buf: Buffer, record: RecordView): HardState | string {
  const p = record.payloadStart;
  const term = readU64(buf, p);
  const commit = readU64(buf, p + 16);
  if (term < 0 || commit < 0) return 'hard state term or commit is not a safe integer';
  return { term, vote: buf.readBigUInt64LE(p + 8), commit };
}

export function decodeSnapshot(buf: Buffer, record: RecordView): SnapshotMarker | string {
  const p = record.payloadStart;
  const index = readU64(buf, p);
  const term = readU64(buf, p + 8);
  if (index < 0 || term < 0) return 'snapshot marker index or term is not a safe integer';
  return { index, term };
}

export function decodeMetadata(buf: Buffer, record: RecordView): Uint8Array {
  return new Uint8Array(buf.subarray(record.payloadStart, record.end));
}
