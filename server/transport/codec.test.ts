/** The peer wire codec: every Message round-trips (property), framing survives any chunking, and malformed bytes fail with CodecError. */
import fc from 'fast-check';
import { EntryType, Message, MessageType } from '../raft/types';
import { CodecError, decodeMessage, encodedMessageBytes, encodeMessage, encodeMessageInto } from './codec';
import { varintSize } from '../../proto/varint';
import { Frame, FrameReader, FrameTooLargeError, writeU32 } from './framing';

const safeInt = fc.oneof(fc.nat(300), fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const id = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const bytes = fc.uint8Array({ maxLength: 300 });
const entry = fc.record({ term: safeInt, index: safeInt, type: fc.constantFrom(EntryType.Normal, EntryType.ConfChange), data: bytes });
const snapshot = fc.record({
  metadata: fc.record({ index: safeInt, term: safeInt, confState: fc.record({ voters: fc.array(id, { maxLength: 7 }), learners: fc.array(id, { maxLength: 3 }) }) }),
  data: fc.uint8Array({ maxLength: 2000 }),
});
const message: fc.Arbitrary<Message> = fc.record(
  {
    type: fc.integer({ min: 0, max: MessageType.MsgPreVoteResp }),
    to: id,
    from: id,
    term: safeInt,
    logTerm: safeInt,
    index: safeInt,
    entries: fc.array(entry, { maxLength: 20 }),
    commit: safeInt,
    snapshot,
    reject: fc.boolean(),
    rejectHint: safeInt,
    context: bytes,
  },
  { requiredKeys: ['type', 'to', 'from', 'term', 'logTerm', 'index', 'entries', 'commit', 'reject', 'rejectHint'] },
);

function asPlain(m: Message): unknown {
  // Compare byte arrays by content, whatever their class (Buffer or Uint8Array).
  return JSON.parse(JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Array.from(v) : v)));
}

describe('message codec', () => {
  test('every message round-trips, and encodedMessageBytes is exact', () => {
    fc.assert(
      fc.property(message, (m) => {
        const buf = encodeMessage(m);
        expect(buf.length).toBe(encodedMessageBytes(m));
        expect(asPlain(decodeMessage(buf))).toEqual(asPlain(m));
        expect(asPlain(decodeMessage(buf, { copy: false }))).toEqual(asPlain(m));
      }),
      { numRuns: 500 },
    );
  });

  test('decoded bytes are copies by default: later changes to the buffer do not show', () => {
    const m: Message = { type: MessageType.MsgApp, to: 2n, from: 1n, term: 3, logTerm: 3, index: 9, commit: 9, reject: false, rejectHint: 0,
      entries: [{ term: 3, index: 10, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) }] };
    const buf = encodeMessage(m);
    const d = decodeMessage(buf);
    buf.fill(0xee);
    expect(Array.from(d.entries[0].data)).toEqual([1, 2, 3]);
  });

  test('encodeMessageInto writes at an offset', () => {
    const m: Message = { type: MessageType.MsgHeartbeat, to: 2n, from: 1n, term: 1, logTerm: 0, index: 0, commit: 5, reject: false, rejectHint: 0, entries: [] };
    const out = new Uint8Array(10 + encodedMessageBytes(m));
    expect(encodeMessageInto(m, out, 10)).toBe(out.length);
    expect(asPlain(decodeMessage(out.subarray(10)))).toEqual(asPlain(m));
  });

  test('a heartbeat is small', () => {
    const m: Message = { type: MessageType.MsgHeartbeat, to: 0x8e9e05c52164694dn, from: 0xfd422379fda50e48n, term: 12, logTerm: 0, index: 0, commit: 123456, reject: false, rejectHint: 0, entries: [] };
    expect(encodeMessage(m).length).toBeLessThanOrEqual(28);
  });

  test('varintSize matches the encoding at every boundary', () => {
    for (const n of [0, 127, 128, 16383, 16384, 2 ** 31 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      const m: Message = { type: 0, to: 0n, from: 0n, term: n, logTerm: 0, index: 0, commit: 0, reject: false, rejectHint: 0, entries: [] };
      expect(encodeMessage(m).length).toBe(18 + varintSize(n) + 5);
      expect(decodeMessage(encodeMessage(m)).term).toBe(n);
    }
  });

  test('every truncation and trailing bytes fail with CodecError', () => {
    fc.assert(
      fc.property(message, fc.nat(), (m, cut) => {
        const buf = encodeMessage(m);
        const at = cut % buf.length;
        expect(() => decodeMessage(buf.subarray(0, at))).toThrow(CodecError);
        const longer = new Uint8Array(buf.length + 1);
        longer.set(buf);
        expect(() => decodeMessage(longer)).toThrow(CodecError);
      }),
      { numRuns: 200 },
    );
  });

  test('unknown types and flags fail with CodecError; random bytes never throw anything else', () => {
    const m: Message = { type: MessageType.MsgApp, to: 2n, from: 1n, term: 1, logTerm: 1, index: 1, commit: 1, reject: false, rejectHint: 0,
      entries: [{ term: 1, index: 2, type: EntryType.Normal, data: new Uint8Array(1) }] };
    const buf = encodeMessage(m);
    expect(() => decodeMessage(Uint8Array.of(19, ...buf.subarray(1)))).toThrow(/unknown message type/);
    expect(() => decodeMessage(Uint8Array.of(buf[0], 8, ...buf.subarray(2)))).toThrow(/unknown message flags/);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        try {
          decodeMessage(b);
        } catch (err) {
          expect(err).toBeInstanceOf(CodecError);
        }
      }),
    );
  });

  test('the writer refuses numbers that are not safe non-negative integers', () => {
    const m: Message = { type: 0, to: 0n, from: 0n, term: -1, logTerm: 0, index: 0, commit: 0, reject: false, rejectHint: 0, entries: [] };
    expect(() => encodeMessage(m)).toThrow(RangeError);
  });
});

describe('frame reader', () => {
  function framed(payloads: Uint8Array[]): Uint8Array {
    const total = payloads.reduce((s, p) => s + 4 + p.length, 0);
    const out = new Uint8Array(total);
    let pos = 0;
    for (const p of payloads) {
      writeU32(out, pos, p.length);
      out.set(p, pos + 4);
      pos += 4 + p.length;
    }
    return out;
  }

  test('frames come out whole and in order however the stream is chunked', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (payloads, cuts) => {
        const stream = framed(payloads);
        const reader = new FrameReader(1000);
        const got: Frame[] = [];
        let pos = 0;
        let k = 0;
        while (pos < stream.length) {
          const n = cuts[k++ % cuts.length];
          reader.push(stream.subarray(pos, pos + n), (f) => got.push({ bytes: f.bytes.slice(), owned: f.owned }));
          pos += n;
        }
        expect(got.map((f) => Array.from(f.bytes))).toEqual(payloads.map((p) => Array.from(p)));
      }),
    );
  });

  test('a frame over the limit fails before anything is allocated', () => {
    const reader = new FrameReader(10);
    const header = new Uint8Array(4);
    writeU32(header, 0, 11);
    expect(() => reader.push(header, () => undefined)).toThrow(FrameTooLargeError);
  });
});
