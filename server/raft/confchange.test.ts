/** The ConfChange entry codec: round trips, and clear errors for bad input. */
import fc from 'fast-check';
import { ConfChangeDecodeError, decodeConfChange, encodeConfChange } from './confchange';
import { ConfChangeType } from './types';

describe('ConfChange codec', () => {
  test('decode(encode(cc)) is cc for every type, 64-bit IDs and contexts', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(ConfChangeType.AddNode, ConfChangeType.RemoveNode, ConfChangeType.UpdateNode, ConfChangeType.AddLearnerNode),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.uint8Array({ maxLength: 64 }),
        (type, nodeId, context) => {
          expect(decodeConfChange(encodeConfChange({ type, nodeId, context }))).toEqual({ type, nodeId, context });
        },
      ),
    );
  });

  test('decode rejects short, unknown-version, unknown-type and mis-sized data', () => {
    const ok = encodeConfChange({ type: ConfChangeType.AddNode, nodeId: 7n, context: new Uint8Array([1, 2]) });
    expect(() => decodeConfChange(ok.slice(0, 5))).toThrow(ConfChangeDecodeError);
    const badVersion = ok.slice();
    badVersion[0] = 9;
    expect(() => decodeConfChange(badVersion)).toThrow(/version/);
    const badType = ok.slice();
    badType[1] = 42;
    expect(() => decodeConfChange(badType)).toThrow(/type/);
    expect(() => decodeConfChange(ok.slice(0, ok.length - 1))).toThrow(/length/);
  });

  test('decode reads from a view into a larger buffer', () => {
    const bytes = encodeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 3n, context: new Uint8Array() });
    const big = new Uint8Array(bytes.length + 10);
    big.set(bytes, 5);
    expect(decodeConfChange(big.subarray(5, 5 + bytes.length)).nodeId).toBe(3n);
  });

  test('encode refuses IDs outside u64', () => {
    expect(() => encodeConfChange({ type: ConfChangeType.AddNode, nodeId: 1n << 64n, context: new Uint8Array() })).toThrow(RangeError);
  });
});
