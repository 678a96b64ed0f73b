/**
 * A watcher's key range, with keys as latin1 strings (one char per byte, so string order is byte
 * order), as etcd's watch: `end` undefined → the single key `key`; `end` '' → every key ≥ `key`;
 * otherwise the half-open range [key, end).
 */
export interface KeyRange {
  readonly key: string;
  readonly end: string | undefined;
}

/** True when `k` is in `range`. */
export function rangeContains(range: KeyRange, k: string): boolean {
  if (range.end === undefined) return k === range.key;
  if (k < range.key) return false;
  return range.end === '' || k < range.end;
}
