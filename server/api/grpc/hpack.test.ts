// Covers the HPACK subset (RFC 7541) and the :authority sniffing/patching of authority.ts, checked
// against node's own HPACK encoder (nghttp2) on the wire.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { ConnectionSniffer, H2_PREFACE } from './authority';
import { HpackDecoder, huffmanCode, huffmanDecode } from './hpack';

test('the canonical Huffman code matches RFC 7541 Appendix B where spot-checked', () => {
  const expected: [number, number, number][] = [
    [0, 0x1ff8, 13], [1, 0x7fffd8, 23], [2, 0xfffffe2, 28], [9, 0xffffea, 24], [10, 0x3ffffffc, 30], [13, 0x3ffffffd, 30],
    [22, 0x3ffffffe, 30], [32, 0x14, 6], [45, 0x16, 6], [47, 0x18, 6], [48, 0x0, 5], [58, 0x5c, 7], [97, 0x3, 5],
    [127, 0xffffffc, 28], [128, 0xfffe6, 20], [255, 0x3ffffee, 26], [256, 0x3fffffff, 30],
  ];
  for (const [sym, code, bits] of expected) expect(huffmanCode(sym)).toEqual({ code, bits });
});

/** Captures the first header block a node:http2 client sends for `headers`. */
async function captureHeaderBlock(headers: http2.OutgoingHttpHeaders): Promise<Buffer> {
  let resolveBlock!: (b: Buffer) => void;
  const block = new Promise<Buffer>((r) => (resolveBlock = r));
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      let at = H2_PREFACE.length;
      const fragments: Buffer[] = [];
      while (buf.length - at >= 9) {
        const len = buf.readUIntBE(at, 3);
        if (buf.length < at + 9 + len) return;
        const type = buf[at + 3]!;
        if (type === 1 || type === 9) {
          fragments.push(buf.subarray(at + 9, at + 9 + len)); // node sends no padding or priority
          if (buf[at + 4]! & 4) return resolveBlock(Buffer.concat(fragments));
        }
        at += 9 + len;
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  client.on('error', () => undefined);
  const req = client.request(headers);
  req.on('error', () => undefined);
  const result = await block;
  client.destroy();
  server.close();
  return result;
}

test("decodes nghttp2's Huffman coding of every byte node lets into a header value", async () => {
  const headers: Record<string, string> = { ':method': 'POST', ':path': '/a.B/C', ':authority': '127.0.0.1:2379' };
  const filler = 'a'.repeat(40); // 5-bit symbols keep the Huffman form shorter, so nghttp2 uses it
  for (let c = 0x20; c <= 0xff; c++) if (c !== 0x7f) headers[`x-h${c}`] = filler + String.fromCharCode(c) + filler;
  const block = await captureHeaderBlock(headers);
  const decoded: Record<string, string> = {};
  new HpackDecoder().decode(Buffer.from(block), (name, value) => (decoded[name] = value));
  for (const [name, value] of Object.entries(headers)) expect([name, decoded[name]]).toEqual([name, value]);
});

test("patches '/' to '-' in a Huffman-coded :authority in place, keeping its length", async () => {
  const block = await captureHeaderBlock({ ':method': 'POST', ':path': '/a.B/C', ':authority': 'http://127.0.0.1:2379', 'x-other': 'a/b' });
  const copy = Buffer.from(block);
  const seen: Record<string, string> = {};
  new HpackDecoder(4096, { names: new Set([':authority', 'host']), replace: new Map([[0x2f, 0x2d]]) }).decode(copy, (n, v) => (seen[n] = v));
  expect(seen[':authority']).toBe('http:--127.0.0.1:2379');
  expect(copy.length).toBe(block.length);
  const again: Record<string, string> = {};
  new HpackDecoder().decode(copy, (n, v) => (again[n] = v)); // the patched bits decode cleanly
  expect(again[':authority']).toBe('http:--127.0.0.1:2379');
  expect(again['x-other']).toBe('a/b');
});

test('rejects invalid Huffman padding', () => {
  expect(() => huffmanDecode(Buffer.from([0x00]), 0, 1)).toThrow(/padding/); // '0' then 3 zero bits
});

describe('ConnectionSniffer', () => {
  const frame = (type: number, flags: number, payload: Buffer): Buffer => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(type === 1 || type === 9 ? 1 : 0, 5);
    return Buffer.concat([h, payload]);
  };
  const literalAuthority = (v: string): Buffer => Buffer.concat([Buffer.from([0x41, v.length]), Buffer.from(v, 'latin1')]);
  const settings = frame(4, 0, Buffer.alloc(0));
  const ack = frame(4, 1, Buffer.alloc(0));

  test("an authority with '/' is patched; the client's ACK of our SETTINGS is removed", () => {
    const s = new ConnectionSniffer();
    const headers = frame(1, 0x4 | 0x1, Buffer.concat([Buffer.from([0x83]), literalAuthority('http://127.0.0.1:2379')]));
    expect(s.push(Buffer.concat([H2_PREFACE, settings])).kind).toBe('undecided');
    expect(s.push(ack).kind).toBe('undecided');
    const r = s.push(headers);
    expect(r.kind).toBe('patch');
    expect(r.kind !== 'undecided' && r.bytes.equals(Buffer.concat([H2_PREFACE, settings, headers]))).toBe(true);
  });

  test('a plain authority goes native, also when the block spans CONTINUATION frames and arrives before the ACK', () => {
    const s = new ConnectionSniffer();
    const block = Buffer.concat([Buffer.from([0x83]), literalAuthority('127.0.0.1:2379')]);
    const h1 = frame(1, 0, block.subarray(0, 4));
    const c1 = frame(9, 0x4, block.subarray(4));
    expect(s.push(Buffer.concat([H2_PREFACE, settings, h1])).kind).toBe('undecided');
    expect(s.push(c1.subarray(0, 5)).kind).toBe('undecided');
    expect(s.push(c1.subarray(5)).kind).toBe('undecided'); // waits for the ACK
    const r = s.push(ack);
    expect(r.kind).toBe('native');
    expect(r.kind !== 'undecided' && r.bytes.equals(Buffer.concat([H2_PREFACE, settings, h1, c1]))).toBe(true);
  });

  test('an idle client is handed over natively once it has acknowledged', () => {
    const s = new ConnectionSniffer();
    s.push(Buffer.concat([H2_PREFACE, settings]));
    expect(s.giveUp().kind).toBe('undecided');
    s.push(ack);
    expect(s.giveUp()).toEqual({ kind: 'native', bytes: Buffer.concat([H2_PREFACE, settings]) });
  });
});
