// Varints as the protobuf spec encodes them (encoding.md "Base 128 Varints"), checked against
// protobufjs's own writer at every size boundary and for negative int64s.
import * as protobuf from 'protobufjs/minimal';
import Long from 'long';
import { varintSize, varintSizeBigint, writeVarint, writeVarintBigint } from './varint';

function reference(n: number | bigint): Buffer {
  const w = protobuf.Writer.create();
  if (typeof n === 'bigint') w.int64(Long.fromString(n.toString()));
  else w.uint64(n);
  return Buffer.from(w.finish());
}

describe('varint', () => {
  const numbers = [0, 1, 127, 128, 300, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28, 2 ** 35, 2 ** 42, 2 ** 49, Number.MAX_SAFE_INTEGER];
  test.each(numbers)('%d is written as protobuf writes it', (n) => {
    const buf = Buffer.alloc(12);
    const end = writeVarint(buf, 1, n);
    expect(buf.subarray(1, end)).toEqual(reference(n));
    expect(varintSize(n)).toBe(end - 1);
  });

  test.each([0n, 1n, -1n, -(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n, -300n])('int64 %s is written as protobuf writes it', (n) => {
    const buf = Buffer.alloc(12);
    const end = writeVarintBigint(buf, 0, n);
    expect(buf.subarray(0, end)).toEqual(reference(n));
    expect(varintSizeBigint(n)).toBe(end);
  });

  test('a negative int64 takes ten bytes', () => {
    expect(varintSizeBigint(-1n)).toBe(10);
  });
});
