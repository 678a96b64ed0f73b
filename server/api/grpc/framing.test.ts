// Covers gRPC message framing (PROTOCOL-HTTP2.md, Length-Prefixed-Message), grpc-timeout parsing,
// grpc-message percent-encoding and the deadline wheel.
import { DeadlineWheel, parseGrpcTimeoutMs, type Expirable } from './deadline';
import { frameMessage, MessageDecoder, type MessageSink } from './framing';
import { decodeGrpcMessage, encodeGrpcMessage, Status } from './status';

class Collect implements MessageSink {
  messages: string[] = [];
  errors: [number, string][] = [];
  onDecodedMessage(m: Buffer): void {
    this.messages.push(m.toString('latin1'));
  }
  onDecodeError(code: Status, message: string): void {
    this.errors.push([code, message]);
  }
}

describe('MessageDecoder', () => {
  const payloads = ['', 'a', 'hello', 'x'.repeat(300), '', 'end'];
  const wire = Buffer.concat(payloads.map((p) => frameMessage(Buffer.from(p, 'latin1'))));

  test('decodes messages split at every possible pair of chunk boundaries', () => {
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j += 13) {
        const d = new MessageDecoder(1000);
        const sink = new Collect();
        d.push(wire.subarray(0, i), sink);
        d.push(wire.subarray(i, j), sink);
        d.push(wire.subarray(j), sink);
        expect(sink.messages).toEqual(payloads);
        expect(sink.errors).toEqual([]);
        expect(d.midMessage).toBe(false);
      }
    }
  });

  test('decodes a stream fed one byte at a time', () => {
    const d = new MessageDecoder(1000);
    const sink = new Collect();
    for (let i = 0; i < wire.length; i++) {
      d.push(wire.subarray(i, i + 1), sink);
    }
    expect(sink.messages).toEqual(payloads);
  });

  test('reports a truncated stream as mid-message', () => {
    const d = new MessageDecoder(1000);
    const sink = new Collect();
    d.push(wire.subarray(0, 8), sink);
    expect(d.midMessage).toBe(true);
  });

  test('a message larger than the limit fails with RESOURCE_EXHAUSTED in grpc-go words', () => {
    const d = new MessageDecoder(10);
    const sink = new Collect();
    d.push(frameMessage(Buffer.alloc(11)), sink);
    d.push(frameMessage(Buffer.alloc(1)), sink);
    expect(sink.errors).toEqual([[Status.RESOURCE_EXHAUSTED, 'grpc: received message larger than max (11 vs. 10)']]);
    expect(sink.messages).toEqual([]);
  });

  test('a compressed message fails with UNIMPLEMENTED (identity encoding only)', () => {
    const d = new MessageDecoder(10);
    const sink = new Collect();
    const m = frameMessage(Buffer.from('a'));
    m[0] = 1;
    d.push(m, sink);
    expect(sink.errors[0]![0]).toBe(Status.UNIMPLEMENTED);
  });
});

test('grpc-timeout: every unit, and malformed values', () => {
  expect(parseGrpcTimeoutMs('1H')).toBe(3_600_000);
  expect(parseGrpcTimeoutMs('2M')).toBe(120_000);
  expect(parseGrpcTimeoutMs('5S')).toBe(5000);
  expect(parseGrpcTimeoutMs('4999m')).toBe(4999);
  expect(parseGrpcTimeoutMs('1500u')).toBe(1.5);
  expect(parseGrpcTimeoutMs('2000000n')).toBe(2);
  expect(parseGrpcTimeoutMs('99999999S')).toBe(99_999_999_000);
  for (const bad of ['', 'S', '10', '10x', '-1S', '1.5S', '123456789S', ' 1S']) expect(parseGrpcTimeoutMs(bad)).toBeNaN();
});

test('grpc-message: percent-encodes bytes outside 0x20..0x7E and %, as UTF-8; plain ASCII unchanged', () => {
  expect(encodeGrpcMessage('etcdserver: key not found')).toBe('etcdserver: key not found');
  expect(encodeGrpcMessage('100% ä\n')).toBe('100%25 %C3%A4%0A');
  for (const s of ['', 'a%b', 'ä😀\r\n\t', '%%%', 'x'.repeat(100)]) expect(decodeGrpcMessage(encodeGrpcMessage(s))).toBe(s);
});

describe('DeadlineWheel', () => {
  class Item implements Expirable {
    wheelSlot = -1;
    wheelIndex = -1;
    expiredAt = -1;
    constructor(readonly deadlineMs: number) {}
    expire(nowMs: number): void {
      this.expiredAt = nowMs;
    }
  }

  afterEach(() => jest.useRealTimers());

  test('expires items at their deadline (to the slot), never early, and forgets removed ones', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const wheel = new DeadlineWheel({ slotMs: 10, slotCount: 16 });
    const now = Date.now();
    const a = new Item(now + 25);
    const b = new Item(now + 500); // beyond one revolution (160 ms)
    const c = new Item(now + 30);
    wheel.add(a);
    wheel.add(b);
    wheel.add(c);
    wheel.remove(c);
    expect(wheel.size).toBe(2);
    jest.advanceTimersByTime(20);
    expect(a.expiredAt).toBe(-1);
    jest.advanceTimersByTime(20);
    expect(a.expiredAt).toBeGreaterThanOrEqual(now + 25);
    expect(a.expiredAt).toBeLessThanOrEqual(now + 40);
    jest.advanceTimersByTime(400);
    expect(b.expiredAt).toBe(-1);
    jest.advanceTimersByTime(100);
    expect(b.expiredAt).toBeGreaterThanOrEqual(now + 500);
    expect(c.expiredAt).toBe(-1);
    expect(wheel.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0); // the timer stops when the wheel is empty
  });

  test('removal keeps the other items of a slot', () => {
    jest.useFakeTimers({ now: 2_000_000 });
    const wheel = new DeadlineWheel({ slotMs: 10, slotCount: 16 });
    const items = Array.from({ length: 10 }, () => new Item(Date.now() + 15));
    for (const i of items) wheel.add(i);
    wheel.remove(items[0]!);
    wheel.remove(items[5]!);
    jest.advanceTimersByTime(30);
    expect(items.filter((i) => i.expiredAt >= 0).length).toBe(8);
    expect(items[0]!.expiredAt).toBe(-1);
    expect(items[5]!.expiredAt).toBe(-1);
  });
});
