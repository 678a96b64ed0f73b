/**
 * The SDK's public value types (key-values, response headers) and their conversion from the
 * decoded protobuf messages. 64-bit integers become `bigint` through proto/int64.ts only.
 */
import Long from 'long';
import { etcdserverpb as pb, fromBigInt, mvccpb, toBigInt, toNumber } from '../proto/index';
import type { Int64Value } from '../proto/int64';
import { Namespace, asBuffer } from './bytes';
import { InvalidArgumentError } from './errors';

/**
 * One key-value as the server holds it at some revision.
 * @example const kv = await client.get('greeting').kv(); console.log(kv?.value.toString(), kv?.modRevision);
 */
export interface KeyValue {
  /** The key (without the namespace prefix in a namespace view). */
  readonly key: Buffer;
  /** The value; empty for a `keysOnly` read. */
  readonly value: Buffer;
  /** The revision of the put that created the key (since its last deletion). */
  readonly createRevision: bigint;
  /** The revision of the last put to the key. */
  readonly modRevision: bigint;
  /** The number of puts since the key was created (1 for a new key). */
  readonly version: bigint;
  /** The lease the key is attached to; 0n for none. */
  readonly lease: bigint;
}

/**
 * The header every response carries.
 * @example const { header } = await client.getAll().prefix('a/').exec(); console.log(header.revision);
 */
export interface ResponseHeader {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  /** The store's revision when the request was served. */
  readonly revision: bigint;
  readonly raftTerm: bigint;
}

/** An int64 the caller may give as a bigint or a safe integer number. */
export type Int64Input = bigint | number;

/** Converts a caller's revision/ID to what protobufjs encodes; throws InvalidArgumentError when out of range. */
export function int64Field(v: Int64Input, what: string, options: { min?: bigint } = {}): Long | number {
  const min = options.min ?? 0n;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new InvalidArgumentError(`${what} must be an integer (got ${v})`);
    if (BigInt(v) < min) throw new InvalidArgumentError(`${what} must be ≥ ${min} (got ${v})`);
    return v;
  }
  if (typeof v !== 'bigint') throw new InvalidArgumentError(`${what} must be a bigint or an integer number`);
  if (v < min) throw new InvalidArgumentError(`${what} must be ≥ ${min} (got ${v})`);
  try {
    return fromBigInt(v, false);
  } catch {
    throw new InvalidArgumentError(`${what} does not fit in 64 bits (got ${v})`);
  }
}

/** Decodes an int64 field to bigint. */
export function big(v: Int64Value): bigint {
  return toBigInt(v);
}

/** Decodes a count (int64, always small) to a number; throws RangeError if unsafe. */
export function count(v: Int64Value): number {
  return toNumber(v);
}

/** Converts a decoded header. */
export function toHeader(h: pb.ResponseHeader.$Properties | null | undefined): ResponseHeader {
  return {
    clusterId: toBigInt(h?.clusterId),
    memberId: toBigInt(h?.memberId),
    revision: toBigInt(h?.revision),
    raftTerm: toBigInt(h?.raftTerm),
  };
}

/** Converts a decoded KeyValue, removing the namespace prefix from its key. */
export function toKeyValue(kv: mvccpb.KeyValue.$Properties, ns: Namespace): KeyValue {
  return {
    key: ns.strip(asBuffer(kv.key)),
    value: asBuffer(kv.value),
    createRevision: toBigInt(kv.createRevision),
    modRevision: toBigInt(kv.modRevision),
    version: toBigInt(kv.version),
    lease: toBigInt(kv.lease),
  };
}
