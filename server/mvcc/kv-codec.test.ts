/**
 * The hand-written mvccpb.KeyValue codec (kv.proto fields 1-6) against protobufjs' generated codec:
 * byte-identical encodings, proto3 zero omission, negative int64 as 10-byte two's complement; the
 * stored-value header; CRC-32C's check value.
 */
import fc from 'fast-check';
import { fromBigInt, mvccpb, toBigInt, toNumber } from '../../proto';
import { decodeKeyValue, encodeKeyValue, encodeStoredValue, KeyValueFields, readStoredHeader, StoredFlag, StoredHeader } from './kv-codec';

const int64Arb = fc.oneof(fc.constant(0), fc.nat({ max: 1000 }), fc.maxSafeNat());
const leaseArb = fc.oneof(fc.constant(0n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
const kvArb = fc.record({
  key: fc.uint8Array({ minLength: 1, maxLength: 40 }),
  createRevision: int64Arb,
  modRevision: int64Arb,
  version: int64Arb,
  value: fc.uint8Array({ maxLength: 300 }),
  lease: leaseArb,
});

function reference(kv: KeyValueFields): Uint8Array {
  // protobufjs writes every field that is set; proto3 (and Go's etcd) omit zero values.
  const message: mvccpb.IKeyValue = { key: kv.key };
  if (kv.createRevision !== 0) message.createRevision = kv.createRevision;
  if (kv.modRevision !== 0) message.modRevision = kv.modRevision;
  if (kv.version !== 0) message.version = kv.version;
  if (kv.value.length !== 0) message.value = kv.value;
  if (kv.lease !== 0n) message.lease = fromBigInt(kv.lease, false);
  return mvccpb.KeyValue.encode(message).finish();
}

describe('kv codec', () => {
  test('encodes exactly as protobufjs does and decodes back', () => {
    fc.assert(
      fc.property(kvArb, (kv) => {
        const ours = encodeKeyValue(kv);
        expect(Buffer.from(ours).equals(Buffer.from(reference(kv)))).toBe(true);
        const decoded = decodeKeyValue(ours);
        expect(Buffer.from(decoded.key).equals(Buffer.from(kv.key))).toBe(true);
        expect(Buffer.from(decoded.value).equals(Buffer.from(kv.value))).toBe(true);
        expect([decoded.createRevision, decoded.modRevision, decoded.version, decoded.lease]).toEqual([
          kv.createRevision,
          kv.modRevision,
          kv.version,
          kv.lease,
        ]);
        const theirs = mvccpb.KeyValue.decode(ours);
        expect(toNumber(theirs.modRevision)).toBe(kv.modRevision);
        expect(toBigInt(theirs.lease)).toBe(kv.lease);
      }),
      { numRuns: 500 },
    );
  });

  test('a negative lease is a 10-byte varint; zero fields are omitted', () => {
    const kv = { key: Buffer.from('k'), createRevision: 0, modRevision: 0, version: 0, value: Buffer.alloc(0), lease: -1n };
    const bytes = encodeKeyValue(kv);
    expect([...bytes]).toEqual([0x0a, 1, 0x6b, 0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(decodeKeyValue(bytes).lease).toBe(-1n);
  });

  test('a stored value is a flag byte then the KeyValue; its header reads without the value', () => {
    fc.assert(
      fc.property(kvArb, fc.boolean(), (kv, tombstone) => {
        const stored = encodeStoredValue(tombstone ? StoredFlag.Tombstone : StoredFlag.Put, kv);
        expect(stored.subarray(1).equals(encodeKeyValue(kv))).toBe(true);
        const header: StoredHeader = { tombstone: false, key: '', createRevision: 0, version: 0 };
        readStoredHeader(stored, header);
        expect(header).toEqual({
          tombstone,
          key: Buffer.from(kv.key).toString('latin1'),
          createRevision: kv.createRevision,
          version: kv.version,
        });
      }),
    );
  });
});
