/**
 * Just enough HPACK (RFC 7541) to read, and patch in place, the header blocks a client sends: the
 * canonical Huffman code, the static table's names, and a decoder that tracks the dynamic table.
 * Used only where node's nghttp2 would refuse a request (see authority.ts), never on the fast path.
 */

/**
 * Huffman code lengths per symbol 0..256 (256 = EOS), RFC 7541 Appendix B. The code is canonical:
 * codes are assigned in order of (length, symbol), so the lengths define it.
 */
const HUFFMAN_LENGTHS: readonly number[] = (() => {
  const len = new Array<number>(257).fill(0);
  const set = (bits: number, symbols: (number | string)[]): void => {
    for (const s of symbols) len[typeof s === 'string' ? s.charCodeAt(0) : s] = bits;
  };
  const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);
  const chars = (s: string): string[] => s.split('');
  set(5, chars('012aceiost'));
  set(6, chars(' %-./3456789=A_bdfghlmnpru'));
  set(7, chars(':BCDEFGHIJKLMNOPQRSTUVWYjkqvwxyz'));
  set(8, chars('&*,;XZ'));
  set(10, chars('!"()?'));
  set(11, chars("'+|"));
  set(12, chars('#>'));
  set(13, [0, ...chars('$@[]~')]);
  set(14, chars('^}'));
  set(15, chars('<`{'));
  set(19, ['\\', 195, 208]);
  set(20, [128, 130, 131, 162, 184, 194, 224, 226]);
  set(21, [153, 161, 167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230]);
  set(22, [129, 132, 133, 134, 136, 146, 154, 156, 160, 163, 164, 169, 170, 173, 178, 181, 185, 186, 187, 189, 190, 196, 198, 228, 232, 233]);
  set(23, [1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152, 155, 157, 158, 165, 166, 168, 174, 175, 180, 182, 183, 188, 191, 197, 231, 239]);
  set(24, [9, 142, 144, 145, 148, 159, 171, 206, 215, 225, 236, 237]);
  set(25, [199, 207, 234, 235]);
  set(26, [192, 193, 200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242, 243, 255]);
  set(27, [203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245, 246, 247, 248, 250, 251, 252, 253, 254]);
  set(28, [...range(2, 8), 11, 12, ...range(14, 21), ...range(23, 31), 127, 220, 249]);
  set(30, [10, 13, 22, 256]);
  return len;
})();

/** The canonical code: per length, the first code and where its symbols start in `sorted`. */
interface Canonical {
  readonly codes: readonly number[];
  readonly sorted: readonly number[];
  readonly firstCode: readonly number[];
  readonly firstIndex: readonly number[];
  readonly count: readonly number[];
}

const HUFFMAN: Canonical = (() => {
  const sorted = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b);
  const codes = new Array<number>(257).fill(0);
  const firstCode = new Array<number>(31).fill(0);
  const firstIndex = new Array<number>(31).fill(0);
  const count = new Array<number>(31).fill(0);
  let code = 0;
  let prevLen = 0;
  sorted.forEach((sym, i) => {
    const l = HUFFMAN_LENGTHS[sym]!;
    if (l !== prevLen) {
      code *= 2 ** (l - prevLen);
      firstCode[l] = code;
      firstIndex[l] = i;
      prevLen = l;
    }
    codes[sym] = code;
    count[l]!++;
    code++;
  });
  if (code !== 2 ** 30) throw new Error('HPACK Huffman code lengths do not form a complete code');
  return { codes, sorted, firstCode, firstIndex, count };
})();

/** The Huffman code of `symbol` and its length in bits (for tests). */
export function huffmanCode(symbol: number): { code: number; bits: number } {
  return { code: HUFFMAN.codes[symbol]!, bits: HUFFMAN_LENGTHS[symbol]! };
}

/**
 * Decodes a Huffman-coded string in buf[start, end). If `replace` maps a symbol to another of the
 * same code length, the encoded bits are rewritten in place. Throws on an invalid code or padding.
 */
export function huffmanDecode(buf: Buffer, start: number, end: number, replace?: ReadonlyMap<number, number>): Buffer {
  const out: number[] = [];
  let code = 0;
  let bits = 0;
  let symbolStartBit = start * 8;
  const endBit = end * 8;
  for (let bit = start * 8; bit < endBit; bit++) {
    code = code * 2 + ((buf[bit >> 3]! >> (7 - (bit & 7))) & 1);
    bits++;
    const n = HUFFMAN.count[bits] ?? 0;
    if (n > 0 && code - HUFFMAN.firstCode[bits]! < n && code >= HUFFMAN.firstCode[bits]!) {
      const sym = HUFFMAN.sorted[HUFFMAN.firstIndex[bits]! + code - HUFFMAN.firstCode[bits]!]!;
      if (sym === 256) throw new Error('HPACK: EOS in a Huffman string');
      const to = replace?.get(sym);
      if (to !== undefined) {
        if (HUFFMAN_LENGTHS[to] !== bits) throw new Error('HPACK: replacement must have the same code length');
        writeBits(buf, symbolStartBit, bits, HUFFMAN.codes[to]!);
        out.push(to);
      } else {
        out.push(sym);
      }
      code = 0;
      bits = 0;
      symbolStartBit = bit + 1;
    } else if (bits > 30) {
      throw new Error('HPACK: invalid Huffman code');
    }
  }
  // Padding: fewer than 8 bits, all ones (the EOS prefix).
  if (bits > 7 || code !== 2 ** bits - 1) throw new Error('HPACK: invalid Huffman padding');
  return Buffer.from(out);
}

function writeBits(buf: Buffer, startBit: number, bits: number, value: number): void {
  for (let i = 0; i < bits; i++) {
    const bit = Math.floor(value / 2 ** (bits - 1 - i)) & 1;
    const at = startBit + i;
    const mask = 1 << (7 - (at & 7));
    buf[at >> 3] = bit ? buf[at >> 3]! | mask : buf[at >> 3]! & ~mask;
  }
}

/** Static table names, indexes 1..61 (RFC 7541 Appendix A); values are not needed here. */
const STATIC_NAMES: readonly string[] = [
  '', ':authority', ':method', ':method', ':path', ':path', ':scheme', ':scheme', ':status', ':status', ':status', ':status', ':status',
  ':status', ':status', 'accept-charset', 'accept-encoding', 'accept-language', 'accept-ranges', 'accept',
  'access-control-allow-origin', 'age', 'allow', 'authorization', 'cache-control', 'content-disposition', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-range', 'content-type', 'cookie', 'date', 'etag', 'expect',
  'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified',
  'link', 'location', 'max-forwards', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'refresh', 'retry-after',
  'server', 'set-cookie', 'strict-transport-security', 'transfer-encoding', 'user-agent', 'vary', 'via', 'www-authenticate',
];
/** Static values, only where they matter to the decoder's output (indexed fields). */
const STATIC_VALUES: Readonly<Record<number, string>> = {
  2: 'GET', 3: 'POST', 4: '/', 5: '/index.html', 6: 'http', 7: 'https', 8: '200', 9: '204', 10: '206', 11: '304', 12: '400', 13: '404', 14: '500', 16: 'gzip, deflate',
};

/** Receives each header field of a block. `value` is already patched, if it was. */
export type FieldVisitor = (name: string, value: string) => void;

/**
 * An HPACK decoder for one direction of one connection. It keeps the dynamic table (names, values,
 * sizes) so that later blocks resolve, and can patch string values in place without changing their
 * length (so the peer's table and ours stay the same size).
 */
export class HpackDecoder {
  private entries: { name: string; value: string }[] = []; // newest first
  private size = 0;
  private maxSize: number;

  /**
   * @param settingsTableBytes SETTINGS_HEADER_TABLE_SIZE the decoding side announced (default 4096).
   * @param patch Optional in-place patch: for fields with these names, replace symbols/bytes (same Huffman length).
   */
  constructor(
    private readonly settingsTableBytes = 4096,
    private readonly patch?: { names: ReadonlySet<string>; replace: ReadonlyMap<number, number> },
  ) {
    this.maxSize = settingsTableBytes;
  }

  /** Decodes (and patches) one complete header block. Throws on malformed input. */
  decode(block: Buffer, visit?: FieldVisitor): void {
    let p = 0;
    while (p < block.length) {
      const b = block[p]!;
      if (b & 0x80) {
        const [index, q] = readInt(block, p, 7);
        p = q;
        const f = this.lookup(index);
        visit?.(f.name, f.value);
      } else if ((b & 0xe0) === 0x20) {
        const [size, q] = readInt(block, p, 5);
        p = q;
        if (size > this.settingsTableBytes) throw new Error('HPACK: table size update above the setting');
        this.maxSize = size;
        this.evict(0);
      } else {
        const indexing = (b & 0xc0) === 0x40;
        const [nameIndex, q] = readInt(block, p, indexing ? 6 : 4);
        p = q;
        let name: string;
        if (nameIndex === 0) {
          const s = this.readString(block, p, false);
          name = s.value;
          p = s.next;
        } else {
          name = this.lookup(nameIndex).name;
        }
        const s = this.readString(block, p, this.patch !== undefined && this.patch.names.has(name));
        p = s.next;
        if (indexing) this.insert(name, s.value);
        visit?.(name, s.value);
      }
    }
  }

  private readString(block: Buffer, p: number, patch: boolean): { value: string; next: number } {
    if (p >= block.length) throw new Error('HPACK: truncated string');
    const huffman = (block[p]! & 0x80) !== 0;
    const [length, q] = readInt(block, p, 7);
    const end = q + length;
    if (end > block.length) throw new Error('HPACK: truncated string');
    const replace = patch ? this.patch!.replace : undefined;
    let value: string;
    if (huffman) {
      value = huffmanDecode(block, q, end, replace).toString('latin1');
    } else {
      if (replace !== undefined) {
        for (let i = q; i < end; i++) {
          const to = replace.get(block[i]!);
          if (to !== undefined) block[i] = to;
        }
      }
      value = block.toString('latin1', q, end);
    }
    return { value, next: end };
  }

  private lookup(index: number): { name: string; value: string } {
    if (index === 0) throw new Error('HPACK: index 0');
    if (index < STATIC_NAMES.length) return { name: STATIC_NAMES[index]!, value: STATIC_VALUES[index] ?? '' };
    const e = this.entries[index - STATIC_NAMES.length];
    if (e === undefined) throw new Error(`HPACK: index ${index} outside the tables`);
    return e;
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.evict(size);
    if (size > this.maxSize) return; // an entry larger than the table empties it and is not added
    this.entries.unshift({ name, value });
    this.size += size;
  }

  private evict(incoming: number): void {
    while (this.entries.length > 0 && this.size + incoming > this.maxSize) {
      const e = this.entries.pop()!;
      this.size -= e.name.length + e.value.length + 32;
    }
  }
}

/** Reads an HPACK integer with an N-bit prefix at block[p]; returns [value, next position]. */
function readInt(block: Buffer, p: number, prefixBits: number): [number, number] {
  const max = (1 << prefixBits) - 1;
  let v = block[p]! & max;
  p++;
  if (v < max) return [v, p];
  let shift = 0;
  for (;;) {
    if (p >= block.length) throw new Error('HPACK: truncated integer');
    const b = block[p++]!;
    v += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return [v, p];
    if (shift > 28) throw new Error('HPACK: integer too large');
  }
}
