/**
 * The one place where 64-bit protobuf integers are converted (see docs/architecture.md, "int64
 * rule"). protobufjs decodes `int64`/`uint64` fields as `Long` (signed or unsigned after the field's
 * type) and encodes `number`, `Long` or a decimal string. Cairn's code uses:
 * - `number` for revisions, versions, counts, terms and indexes: {@link toNumber} (asserted safe);
 * - `bigint` for IDs (lease, member, cluster, watch), which use all 64 bits: {@link toBigInt}, and
 *   {@link fromBigInt} to put them back into a message.
 */
import Long from 'long';

/** A 64-bit field as protobufjs hands it over: a `Long` after decoding, anything the caller set otherwise. */
export type Int64Value = number | Long | null | undefined;

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/**
 * Converts a revision, version, count, term or index to a `number`.
 *
 * @param v the decoded field (a `Long`, signed or unsigned), or a number; `null`/`undefined`
 *   (field absent) read as 0, the proto3 default.
 * @returns the exact value.
 * @throws RangeError if the value is not a safe integer (|v| > 2^53 - 1, or a non-integer number):
 *   such a value is never a valid revision, so it is refused rather than rounded.
 * @example toNumber(resp.header?.revision) // 42
 */
export function toNumber(v: Int64Value): number {
  if (v === null || v === undefined) return 0;
  // Long#toNumber rounds monotonically, so an out-of-range value never rounds into the safe range.
  const n = typeof v === 'number' ? v : v.toNumber();
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`int64: ${typeof v === 'number' ? v : v.toString()} is not a safe integer`);
  }
  return n;
}

/**
 * Converts an ID (lease, member, cluster or watch ID) to a `bigint`, keeping all 64 bits.
 *
 * A `Long` carries its signedness: a `uint64` field (member, cluster IDs) decodes unsigned and gives
 * 0 ≤ id < 2^64; an `int64` field (lease, watch IDs) decodes signed and gives -2^63 ≤ id < 2^63.
 *
 * @param v the decoded field, or a number; `null`/`undefined` (field absent) read as 0n.
 * @returns the exact value.
 * @throws RangeError if `v` is a number that is not a safe integer (it would already have lost bits).
 * @example toBigInt(resp.header?.memberId) // 10276657743932975437n
 */
export function toBigInt(v: Int64Value): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`int64: ${v} is not a safe integer`);
    return BigInt(v);
  }
  const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return v.unsigned ? bits : BigInt.asIntN(64, bits);
}

/**
 * Converts a `bigint` to the `Long` that protobufjs encodes, for ID fields.
 *
 * @param v the value.
 * @param unsigned true for a `uint64` field (member, cluster IDs; range [0, 2^64)), false for an
 *   `int64` field (lease, watch IDs; range [-2^63, 2^63)).
 * @returns a `Long` with the same 64 bits and the given signedness.
 * @throws RangeError if `v` does not fit the field's range.
 * @example PutRequest.create({ key, value, lease: fromBigInt(leaseId, false) })
 */
export function fromBigInt(v: bigint, unsigned: boolean): Long {
  const fits = unsigned ? v >= 0n && v <= UINT64_MAX : v >= INT64_MIN && v <= INT64_MAX;
  if (!fits) throw new RangeError(`int64: ${v} does not fit a${unsigned ? 'n unsigned' : ' signed'} 64-bit field`);
  const bits = BigInt.asUintN(64, v);
  return Long.fromBits(Number(bits & 0xffffffffn) | 0, Number(bits >> 32n) | 0, unsigned);
}
