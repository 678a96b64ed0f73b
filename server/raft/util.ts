/** Small helpers shared by the Raft core: entry sizes, size-limited slices, empty values. */
import { ConfState, Entry, HardState, NONE, Snapshot } from './types';

/** Bytes an entry is counted as when messages and Ready batches are size-limited. */
export function entrySizeBytes(e: Entry): number {
  return e.data.length + 24;
}

/** Bytes of payload an entry adds to the uncommitted tail (the no-op counts as 0). */
export function payloadSizeBytes(e: Entry): number {
  return e.data.length;
}

/**
 * The longest prefix of `ents` whose size is at most `maxBytes`, but always at least one entry
 * (so progress is always possible).
 */
export function limitSize(ents: Entry[], maxBytes: number | undefined): Entry[] {
  if (ents.length === 0 || maxBytes === undefined) return ents;
  let size = entrySizeBytes(ents[0]);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySizeBytes(ents[n]);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });
export const EMPTY_CONF_STATE: ConfState = Object.freeze({ voters: [], learners: [] });
export const EMPTY_BYTES = new Uint8Array(0);

export function emptySnapshot(confState: ConfState = EMPTY_CONF_STATE): Snapshot {
  return { metadata: { index: 0, term: 0, confState }, data: EMPTY_BYTES };
}

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
