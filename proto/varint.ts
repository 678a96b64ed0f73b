/**
 * Protobuf base-128 varints, for the few messages Cairn encodes by hand on hot paths (Range
 * responses, stored KeyValues, watch events, peer messages). Numbers are non-negative safe
 * integers; 64-bit values that may be negative (int64 two's complement) or past 2^53 are bigints.
 */

/** Bytes the varint of `n` (a non-negative safe integer) takes. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes the varint of `n` (a non-negative safe integer) at `pos`; returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Bytes the varint of a 64-bit value takes (negative int64: 10, as two's complement). */
export function varintSizeBigint(n: bigint): number {
  let u = BigInt.asUintN(64, n);
  let size = 1;
  while (u >= 128n) {
    u >>= 7n;
    size++;
  }
  return size;
}

/** Writes the varint of a 64-bit value at `pos`; returns the position after it. */
export function writeVarintBigint(buf: Uint8Array, pos: number, n: bigint): number {
  let u = BigInt.asUintN(64, n);
  while (u >= 128n) {
    buf[pos++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  buf[pos++] = Number(u);
  return pos;
}
