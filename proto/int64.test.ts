// Covers proto/int64.ts: the conversions of 64-bit protobuf fields (architecture.md, "int64 rule"),
// at the edges of the safe-integer and 64-bit ranges, signed (int64) and unsigned (uint64).
import fc from 'fast-check';
import Long from 'long';
import { etcdserverpb, mvccpb } from './index';
import { fromBigInt, toBigInt, toNumber } from './int64';

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

describe('toNumber (revisions, versions, counts, terms, indexes)', () => {
  test('absent fields read as the proto3 default 0', () => {
    expect(toNumber(undefined)).toBe(0);
    expect(toNumber(null)).toBe(0);
  });

  test('numbers and Longs within ±(2^53 - 1) convert exactly, signed or unsigned', () => {
    expect(toNumber(42)).toBe(42);
    expect(toNumber(Long.fromNumber(-1))).toBe(-1);
    expect(toNumber(Long.fromNumber(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(toNumber(Long.fromNumber(Number.MIN_SAFE_INTEGER))).toBe(Number.MIN_SAFE_INTEGER);
    expect(toNumber(Long.fromNumber(Number.MAX_SAFE_INTEGER, true))).toBe(Number.MAX_SAFE_INTEGER);
  });

  test('values beyond the safe range are refused, never rounded', () => {
    expect(() => toNumber(Long.fromString('9007199254740992'))).toThrow(RangeError); // 2^53
    expect(() => toNumber(Long.fromString('-9007199254740992'))).toThrow(RangeError);
    expect(() => toNumber(Long.MAX_UNSIGNED_VALUE)).toThrow(/not a safe integer/);
    expect(() => toNumber(Long.MIN_VALUE)).toThrow(RangeError);
    expect(() => toNumber(2 ** 53)).toThrow(RangeError);
    expect(() => toNumber(1.5)).toThrow(RangeError);
  });

  test('a decoded int64 field (a Long) converts back to the number encoded', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (revision) => {
        const bytes = etcdserverpb.RangeRequest.encode({ revision }).finish();
        const decoded = etcdserverpb.RangeRequest.decode(bytes);
        expect(Long.isLong(decoded.revision)).toBe(true);
        expect(toNumber(decoded.revision)).toBe(revision);
      }),
    );
  });
});

describe('toBigInt / fromBigInt (lease, member, cluster, watch IDs)', () => {
  test('absent IDs read as 0n', () => {
    expect(toBigInt(undefined)).toBe(0n);
    expect(toBigInt(null)).toBe(0n);
  });

  test('IDs above 2^53 keep all their bits', () => {
    const memberId = 0x8e9e05c52164694dn; // a typical etcd member ID, above 2^63
    expect(toBigInt(fromBigInt(memberId, true))).toBe(memberId);
    const leaseId = 0x694d7e1a3f2b0001n; // above 2^53, below 2^63
    expect(toBigInt(fromBigInt(leaseId, false))).toBe(leaseId);
  });

  test('signedness follows the Long: int64 fields can be negative, uint64 fields cannot', () => {
    expect(toBigInt(Long.fromNumber(-1))).toBe(-1n);
    expect(toBigInt(Long.fromNumber(-1).toUnsigned())).toBe(UINT64_MAX);
    expect(toBigInt(fromBigInt(INT64_MIN, false))).toBe(INT64_MIN);
    expect(toBigInt(fromBigInt(UINT64_MAX, true))).toBe(UINT64_MAX);
    expect(fromBigInt(-1n, false).toString()).toBe('-1');
    expect(fromBigInt(UINT64_MAX, true).toString()).toBe('18446744073709551615');
  });

  test('numbers convert when they are safe integers', () => {
    expect(toBigInt(7)).toBe(7n);
    expect(() => toBigInt(2 ** 60)).toThrow(RangeError);
  });

  test('fromBigInt refuses values outside the field range', () => {
    expect(() => fromBigInt(-1n, true)).toThrow(RangeError);
    expect(() => fromBigInt(UINT64_MAX + 1n, true)).toThrow(RangeError);
    expect(() => fromBigInt(INT64_MAX + 1n, false)).toThrow(/signed 64-bit/);
    expect(() => fromBigInt(INT64_MIN - 1n, false)).toThrow(RangeError);
  });

  test('uint64 IDs survive encode and decode (ResponseHeader.member_id)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: UINT64_MAX }), (memberId) => {
        const bytes = etcdserverpb.ResponseHeader.encode({ memberId: fromBigInt(memberId, true) }).finish();
        expect(toBigInt(etcdserverpb.ResponseHeader.decode(bytes).memberId)).toBe(memberId);
      }),
    );
  });

  test('int64 IDs survive encode and decode (KeyValue.lease), negative ones included', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), (lease) => {
        const bytes = mvccpb.KeyValue.encode({ lease: fromBigInt(lease, false) }).finish();
        expect(toBigInt(mvccpb.KeyValue.decode(bytes).lease)).toBe(lease);
      }),
    );
  });
});
