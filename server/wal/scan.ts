/**
 * Walks the records of one segment file and decides where its log ends: at a zero length field
 * followed only by zeros (the normal end in a preallocated segment), at the end of the file, or at
 * a bad record. In the last segment a bad record is a torn tail when nothing valid follows it, or
 * when everything valid that follows belongs to the same unfinished save (the disk may persist the
 * pages of one write out of order); anything else is corruption in the middle of the log.
 */
import { WalCorruptError } from './errors';
import { checkRecordAt, RECORD_HEADER_BYTES, type RecordView } from './record';

export interface SegmentTear {
  /** Offset of the first bad byte: the log is cut here. */
  readonly offset: number;
  /** Offset just past the last non-zero byte at or after `offset` (what a repair zeroes). */
  readonly nonZeroEnd: number;
  readonly reason: string;
}

export interface SegmentScan {
  /** Offset just past the last good record: where the next record goes. */
  readonly end: number;
  /** Set when the tail of the last segment was torn and must be cut at `tear.offset`. */
  readonly tear?: SegmentTear;
}

const ZERO_PROBE_BYTES = 64 * 1024;
const zeroProbe = Buffer.alloc(ZERO_PROBE_BYTES);

/** Offset of the first non-zero byte in buf[from, end), or -1. Skips zero runs with memcmp. */
export function findNonZero(buf: Buffer, from: number): number {
  let p = from;
  while (p < buf.length) {
    const n = Math.min(ZERO_PROBE_BYTES, buf.length - p);
    if (zeroProbe.compare(buf, p, p + n, 0, n) === 0) {
      p += n;
      continue;
    }
    for (let i = p; i < p + n; i++) if (buf[i] !== 0) return i;
  }
  return -1;
}

/** Offset just past the last non-zero byte of buf[from, end), or `from` if all are zero. */
function nonZeroEnd(buf: Buffer, from: number): number {
  let end = buf.length;
  while (end > from) {
    const n = Math.min(ZERO_PROBE_BYTES, end - from);
    if (zeroProbe.compare(buf, end - n, end, 0, n) === 0) {
      end -= n;
      continue;
    }
    for (let i = end - 1; i >= end - n; i--) if (buf[i] !== 0) return i + 1;
  }
  return from;
}

/**
 * Scans `buf` (the whole content of segment `file`), calling `onRecord` for each good record in
 * order. `onRecord` may throw (e.g. WalCorruptError for records that contradict each other).
 * @throws WalCorruptError for a bad record in a non-last segment, or one followed by a later save.
 */
export function scanSegment(
  buf: Buffer,
  file: string,
  isLast: boolean,
  onRecord: (record: RecordView, offset: number) => void,
): SegmentScan {
  let offset = 0;
  let reason: string;
  for (;;) {
    if (offset === buf.length) return { end: offset };
    const left = buf.length - offset;
    const lengthField = left >= 4 ? buf.readUInt32LE(offset) : -1;
    if (lengthField === 0 || left < RECORD_HEADER_BYTES + 1) {
      const nonZero = findNonZero(buf, offset);
      if (nonZero < 0) return { end: offset };
      reason =
        lengthField === 0
          ? `non-zero byte at offset ${nonZero} after the end-of-log marker`
          : `record header cut short (${left} bytes left in file)`;
      break;
    }
    const record = checkRecordAt(buf, offset);
    if (typeof record === 'string') {
      reason = record;
      break;
    }
    onRecord(record, offset);
    offset = record.end;
  }
  if (!isLast) throw new WalCorruptError(file, offset, `${reason} in a segment that is not the last one`);
  const laterSave = findLaterSave(buf, offset);
  if (laterSave >= 0) {
    throw new WalCorruptError(file, offset, `${reason}; a later save follows at byte offset ${laterSave}`);
  }
  return { end: offset, tear: { offset, nonZeroEnd: nonZeroEnd(buf, offset), reason } };
}

/**
 * Looks for valid records after the bad one at `badOffset`. Returns the offset of a valid record
 * that follows a save-end record (proof that a whole save was written after the damage, so the
 * damage is not a torn final write), or -1.
 */
function findLaterSave(buf: Buffer, badOffset: number): number {
  let scanFrom = badOffset + 1;
  let sawSaveEnd = false;
  for (;;) {
    const nonZero = findNonZero(buf, scanFrom);
    if (nonZero < 0) return -1;
    // A record's length field is non-zero, so a record starting here has its first non-zero byte
    // within its first four bytes.
    let found: RecordView | undefined;
    let at = Math.max(scanFrom, nonZero - 3);
    for (; at <= nonZero; at++) {
      const record = checkRecordAt(buf, at);
      if (typeof record !== 'string') {
        found = record;
        break;
      }
    }
    if (found === undefined) {
      scanFrom = nonZero + 1;
      continue;
    }
    if (sawSaveEnd) return at;
    sawSaveEnd = found.saveEnd;
    scanFrom = found.end;
  }
}
