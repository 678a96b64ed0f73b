/**
 * Segment file names: `<seq:016x>-<firstIndex:016x>.wal`. `seq` counts segments from 0 without
 * gaps; `firstIndex` is one past the last log index at the moment the segment was started, so
 * every live entry of earlier segments has an index below it (what releaseTo relies on). It need
 * not increase from one segment to the next: an overwrite can shorten the log before a cut.
 */

const SEGMENT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
/** Suffix of files being prepared (zero-filled) by the pipeline; never part of the log. */
export const PREPARING_SUFFIX = '.wal.tmp';

export interface SegmentName {
  readonly seq: number;
  readonly firstIndex: number;
  readonly name: string;
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function segmentName(seq: number, firstIndex: number): SegmentName {
  return { seq, firstIndex, name: `${hex16(seq)}-${hex16(firstIndex)}.wal` };
}

/** Parses a segment file name; undefined for any other file. */
export function parseSegmentName(name: string): SegmentName | undefined {
  const m = SEGMENT_NAME.exec(name);
  if (m === null) return undefined;
  const seq = parseInt(m[1], 16);
  const firstIndex = parseInt(m[2], 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(firstIndex)) return undefined;
  return { seq, firstIndex, name };
}
