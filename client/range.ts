/**
 * Which keys a request covers (one key, a prefix, `[key, rangeEnd)`, from a key on, all keys) and
 * the options of a Range, validated and turned into the request, before anything is sent.
 */
import { etcdserverpb as pb } from '../proto/index';
import { Bytes, Namespace, ZERO_BYTE, prefixEnd, toBuffer, toKey } from './bytes';
import { InvalidArgumentError } from './errors';
import { Int64Input, int64Field } from './types';

/**
 * The keys a request covers.
 * - `{ key }`: one key; `{ key, rangeEnd }`: the half-open range `[key, rangeEnd)`.
 * - `{ prefix }`: every key that starts with `prefix` (`''`: every key).
 * - `{ fromKey }`: every key ≥ `fromKey`.
 * - `{ all: true }`: every key.
 * @example client.deleteRange({ prefix: 'jobs/' })
 */
export type KeySelector =
  | { readonly key: Bytes; readonly rangeEnd?: Bytes }
  | { readonly prefix: Bytes }
  | { readonly fromKey: Bytes }
  | { readonly all: true };

/** A selector given as a plain key means that one key. */
export type KeyOrSelector = Bytes | KeySelector;

/** The stored `[key, rangeEnd)` of a selector in a namespace; `rangeEnd` empty for one key. */
export interface ResolvedRange {
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
}

/**
 * Resolves a selector in a namespace.
 * @throws InvalidArgumentError for an empty key, or a selector that names more than one form.
 */
export function resolveSelector(sel: KeyOrSelector, ns: Namespace): ResolvedRange {
  if (typeof sel === 'string' || sel instanceof Uint8Array) return { key: ns.key(toKey(sel)), rangeEnd: Buffer.alloc(0) };
  if (sel === null || typeof sel !== 'object') throw new InvalidArgumentError('expected a key or a key selector');
  const forms = ['key', 'prefix', 'fromKey', 'all'].filter((f) => (sel as Record<string, unknown>)[f] !== undefined);
  if (forms.length !== 1) throw new InvalidArgumentError(`a key selector needs exactly one of key, prefix, fromKey, all (got ${forms.join(', ') || 'none'})`);
  if ('prefix' in sel && sel.prefix !== undefined) {
    const p = ns.key(toBuffer(sel.prefix));
    if (p.length === 0) return { key: ZERO_BYTE, rangeEnd: ZERO_BYTE };
    return { key: p, rangeEnd: prefixEnd(p) };
  }
  if ('all' in sel && sel.all !== undefined) {
    if (sel.all !== true) throw new InvalidArgumentError('all must be true');
    if (ns.prefix.length === 0) return { key: ZERO_BYTE, rangeEnd: ZERO_BYTE };
    return { key: ns.prefix, rangeEnd: prefixEnd(ns.prefix) };
  }
  if ('fromKey' in sel && sel.fromKey !== undefined) {
    const from = toBuffer(sel.fromKey);
    return { key: ns.key(from.length === 0 ? ZERO_BYTE : from), rangeEnd: ns.rangeEnd(ZERO_BYTE) };
  }
  const s = sel as { key: Bytes; rangeEnd?: Bytes };
  const key = toKey(s.key);
  if (s.rangeEnd === undefined) return { key: ns.key(key), rangeEnd: Buffer.alloc(0) };
  const end = toBuffer(s.rangeEnd);
  if (end.length === 0) throw new InvalidArgumentError('rangeEnd must not be empty (omit it for one key)');
  if (!(end.length === 1 && end[0] === 0) && Buffer.compare(end, key) <= 0) {
    throw new InvalidArgumentError('rangeEnd must be greater than key (the range [key, rangeEnd) would be empty)');
  }
  return { key: ns.key(key), rangeEnd: ns.rangeEnd(end) };
}

/** What a range is sorted by. */
export type SortTarget = 'key' | 'version' | 'createRevision' | 'modRevision' | 'value';
/** Sort direction. */
export type SortOrder = 'ascend' | 'descend';

const SORT_TARGET: Record<SortTarget, number> = { key: 0, version: 1, createRevision: 2, modRevision: 3, value: 4 };
const SORT_ORDER: Record<SortOrder | 'none', number> = { none: 0, ascend: 1, descend: 2 };

/**
 * Options of a Range (etcd's RangeRequest fields).
 * @example client.getAll().prefix('a/').options({ limit: 10, sort: { target: 'modRevision', order: 'descend' } })
 */
export interface RangeOptions {
  /** At most this many keys (0: no limit). */
  limit?: number;
  /** Read the store as of this revision (0: the latest). */
  revision?: Int64Input;
  /** Sort order and target; default: by key, ascending. */
  sort?: { target: SortTarget; order: SortOrder };
  /** Serve from the member's local state without a quorum round (may be stale). */
  serializable?: boolean;
  /** Return keys without values. */
  keysOnly?: boolean;
  /** Return only the count. */
  countOnly?: boolean;
  /** Only keys whose mod revision is ≥ this. */
  minModRevision?: Int64Input;
  /** Only keys whose mod revision is ≤ this. */
  maxModRevision?: Int64Input;
  /** Only keys whose create revision is ≥ this. */
  minCreateRevision?: Int64Input;
  /** Only keys whose create revision is ≤ this. */
  maxCreateRevision?: Int64Input;
}

function checkMinMax(min: Int64Input | undefined, max: Int64Input | undefined, what: string): void {
  if (min !== undefined && max !== undefined && max !== 0 && max !== 0n && BigInt(min) > BigInt(max)) {
    throw new InvalidArgumentError(`min${what} (${min}) is greater than max${what} (${max})`);
  }
}

/**
 * Builds a RangeRequest for `range` with `options`.
 * @throws InvalidArgumentError for bad options, before anything is sent.
 */
export function buildRangeRequest(range: ResolvedRange, options: RangeOptions): pb.RangeRequest.$Properties {
  const o = options;
  if (o.limit !== undefined && !(Number.isSafeInteger(o.limit) && o.limit >= 0)) throw new InvalidArgumentError(`limit must be a non-negative integer (got ${o.limit})`);
  if (o.keysOnly === true && o.countOnly === true) throw new InvalidArgumentError('keysOnly and countOnly cannot go together');
  if (o.sort !== undefined && (!(o.sort.target in SORT_TARGET) || !(o.sort.order in SORT_ORDER))) {
    throw new InvalidArgumentError(`bad sort ${JSON.stringify(o.sort)}`);
  }
  checkMinMax(o.minModRevision, o.maxModRevision, 'ModRevision');
  checkMinMax(o.minCreateRevision, o.maxCreateRevision, 'CreateRevision');
  const req: pb.RangeRequest.$Properties = { key: range.key, rangeEnd: range.rangeEnd };
  if (o.limit !== undefined && o.limit !== 0) req.limit = o.limit;
  if (o.revision !== undefined) req.revision = int64Field(o.revision, 'revision');
  if (o.sort !== undefined) {
    req.sortTarget = SORT_TARGET[o.sort.target];
    req.sortOrder = SORT_ORDER[o.sort.order];
  }
  if (o.serializable === true) req.serializable = true;
  if (o.keysOnly === true) req.keysOnly = true;
  if (o.countOnly === true) req.countOnly = true;
  if (o.minModRevision !== undefined) req.minModRevision = int64Field(o.minModRevision, 'minModRevision');
  if (o.maxModRevision !== undefined) req.maxModRevision = int64Field(o.maxModRevision, 'maxModRevision');
  if (o.minCreateRevision !== undefined) req.minCreateRevision = int64Field(o.minCreateRevision, 'minCreateRevision');
  if (o.maxCreateRevision !== undefined) req.maxCreateRevision = int64Field(o.maxCreateRevision, 'maxCreateRevision');
  return req;
}
