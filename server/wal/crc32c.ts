/**
 * CRC-32C (Castagnoli; reflected polynomial 0x82F63B78), the checksum of every WAL record.
 * Table-driven, slicing-by-8: eight bytes per step through eight 256-entry tables. It is on the
 * hot path of every save (write) and of every open (read), so it avoids allocation and bigint.
 */

const POLYNOMIAL_REFLECTED = 0x82f63b78;

/** tables[s * 256 + b]: the CRC contribution of byte b seen s bytes before the end of an 8-byte step. */
const tables: Uint32Array = buildTables();

function buildTables(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REFLECTED : c >>> 1;
    t[b] = c >>> 0;
  }
  for (let b = 0; b < 256; b++) {
    let c = t[b];
    for (let s = 1; s < 8; s++) {
      c = (t[c & 0xff] ^ (c >>> 8)) >>> 0;
      t[s * 256 + b] = c;
    }
  }
  return t;
}

/**
 * CRC-32C of `data[start, end)`. Pass a previous result as `crc` to continue a running checksum:
 * `crc32c(b, 0, b.length, crc32c(a)) === crc32c(concat(a, b))`.
 * @returns the checksum as an unsigned 32-bit number.
 * @example crc32c(Buffer.from('123456789')) === 0xe3069283
 */
export function crc32c(data: Uint8Array, start = 0, end = data.length, crc = 0): number {
  const t = tables;
  let c = ~crc | 0;
  let i = start;
  const end8 = start + ((end - start) & ~7);
  while (i < end8) {
    const lo = c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    const hi = data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
    c =
      t[1792 + (lo & 0xff)] ^
      t[1536 + ((lo >>> 8) & 0xff)] ^
      t[1280 + ((lo >>> 16) & 0xff)] ^
      t[1024 + (lo >>> 24)] ^
      t[768 + (hi & 0xff)] ^
      t[512 + ((hi >>> 8) & 0xff)] ^
      t[256 + ((hi >>> 16) & 0xff)] ^
      t[hi >>> 24];
    i += 8;
  }
  while (i < end) c = t[(c ^ data[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
