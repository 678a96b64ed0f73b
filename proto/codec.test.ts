// Covers the generated codecs: exact wire bytes of a few messages, worked out by hand from the
// protobuf encoding spec (tag = field_number << 3 | wire_type; varints little-endian base 128;
// negative int64 as 10-byte two's complement), and round trips of nested messages.
import fc from 'fast-check';
import Long from 'long';
import { cairnpb, etcdserverpb, fromBigInt, mvccpb, toBigInt, toNumber } from './index';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');

describe('wire bytes', () => {
  test('PutRequest{key:"foo", value:"bar"} is 0a 03 66 6f 6f 12 03 62 61 72', () => {
    const bytes = etcdserverpb.PutRequest.encode({ key: utf8('foo'), value: utf8('bar') }).finish();
    expect(hex(bytes)).toBe('0a03666f6f1203626172');
  });

  test('RangeRequest with limit and sort: enums are varints (field 5 sort_order, 6 sort_target)', () => {
    const bytes = etcdserverpb.RangeRequest.encode({
      key: utf8('a'),
      rangeEnd: utf8('b'),
      limit: 10,
      sortOrder: etcdserverpb.RangeRequest.SortOrder.DESCEND,
      sortTarget: etcdserverpb.RangeRequest.SortTarget.MOD,
    }).finish();
    expect(hex(bytes)).toBe('0a0161' + '120162' + '180a' + '2802' + '3003');
  });

  test('a negative int64 (lease -1) takes ten bytes', () => {
    const bytes = etcdserverpb.PutRequest.encode({ lease: -1 }).finish();
    expect(hex(bytes)).toBe('18' + 'ff'.repeat(9) + '01');
    expect(toBigInt(etcdserverpb.PutRequest.decode(bytes).lease)).toBe(-1n);
  });

  test('a uint64 ID with the top bit set (cluster_id 2^64-1) decodes unsigned', () => {
    const bytes = Uint8Array.from(Buffer.from('08' + 'ff'.repeat(9) + '01', 'hex'));
    const header = etcdserverpb.ResponseHeader.decode(bytes);
    expect(toBigInt(header.clusterId)).toBe((1n << 64n) - 1n);
    expect(hex(etcdserverpb.ResponseHeader.encode({ clusterId: fromBigInt((1n << 64n) - 1n, true) }).finish())).toBe(hex(bytes));
  });

  test('Compare: the oneof target_union member and range_end at field 64 (tag 82 04)', () => {
    const bytes = etcdserverpb.Compare.encode({
      result: etcdserverpb.Compare.CompareResult.NOT_EQUAL,
      target: etcdserverpb.Compare.CompareTarget.MOD,
      key: utf8('k'),
      modRevision: 5,
      rangeEnd: utf8('l'),
    }).finish();
    expect(hex(bytes)).toBe('0803' + '1002' + '1a016b' + '3005' + '8204016c');
    const decoded = etcdserverpb.Compare.decode(bytes);
    expect(decoded.targetUnion).toBe('modRevision');
    expect(toNumber(decoded.modRevision)).toBe(5);
  });

  test('Event{DELETE, kv{key:"a", mod_revision:3}} nests the KeyValue as field 2', () => {
    const bytes = mvccpb.Event.encode({ type: mvccpb.Event.EventType.DELETE, kv: { key: utf8('a'), modRevision: 3 } }).finish();
    expect(hex(bytes)).toBe('0801' + '1205' + '0a0161' + '1803');
  });

  test('WatchResponse events are field 11 (tag 5a)', () => {
    const bytes = etcdserverpb.WatchResponse.encode({ events: [{ kv: { key: utf8('a') } }] }).finish();
    expect(hex(bytes)).toBe('5a' + '05' + '12030a0161');
  });

  test('InternalRequest keeps etcd InternalRaftRequest numbers: id 1, put 4, header 100, auth_enable 1000', () => {
    const put = cairnpb.InternalRequest.encode({ id: 7, put: { key: utf8('a') } }).finish();
    expect(hex(put)).toBe('0807' + '2203' + '0a0161');
    const header = cairnpb.InternalRequest.encode({ header: { id: 1 } }).finish();
    expect(hex(header)).toBe('a206' + '02' + '0801'); // (100 << 3 | 2) = 802 = a2 06
    const authEnable = cairnpb.InternalRequest.encode({ authEnable: {} }).finish();
    expect(hex(authEnable)).toBe('c23e' + '00'); // (1000 << 3 | 2) = 8002 = c2 3e
  });

  test('absent fields decode to proto3 defaults', () => {
    const kv = mvccpb.KeyValue.decode(new Uint8Array(0));
    expect(kv.key).toHaveLength(0);
    expect(toNumber(kv.modRevision)).toBe(0);
    expect(toBigInt(kv.lease)).toBe(0n);
  });

  test('unknown fields are skipped, so newer peers can add fields', () => {
    // field 99 as a varint: tag (99 << 3 | 0) = 792 = 98 06, value 01; then PutRequest.key = "a"
    const withUnknown = Buffer.from('980601' + '0a0161', 'hex');
    expect(Buffer.from(etcdserverpb.PutRequest.decode(withUnknown).key).toString()).toBe('a');
  });
});

describe('round trips', () => {
  const bytesArb = fc.uint8Array({ maxLength: 32 });
  const revisionArb = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
  const leaseArb = fc.bigInt({ min: 0n, max: (1n << 63n) - 1n });

  test('KeyValue', () => {
    fc.assert(
      fc.property(bytesArb, bytesArb, revisionArb, revisionArb, revisionArb, leaseArb, (key, value, createRevision, modRevision, version, lease) => {
        const bytes = mvccpb.KeyValue.encode({ key, value, createRevision, modRevision, version, lease: fromBigInt(lease, false) }).finish();
        const kv = mvccpb.KeyValue.decode(bytes);
        expect(hex(kv.key)).toBe(hex(key));
        expect(hex(kv.value)).toBe(hex(value));
        expect(toNumber(kv.createRevision)).toBe(createRevision);
        expect(toNumber(kv.modRevision)).toBe(modRevision);
        expect(toNumber(kv.version)).toBe(version);
        expect(toBigInt(kv.lease)).toBe(lease);
        expect(hex(mvccpb.KeyValue.encode(kv).finish())).toBe(hex(bytes));
      }),
    );
  });

  test('TxnRequest with nested ops and a nested Txn', () => {
    const txn: etcdserverpb.TxnRequest.$Properties = {
      compare: [{ target: etcdserverpb.Compare.CompareTarget.VALUE, key: utf8('k'), value: utf8('v') }],
      success: [
        { requestPut: { key: utf8('k'), value: utf8('w'), prevKv: true } },
        { requestTxn: { success: [{ requestDeleteRange: { key: utf8('x'), rangeEnd: utf8('y') } }] } },
      ],
      failure: [{ requestRange: { key: utf8('k'), keysOnly: true } }],
    };
    const decoded = etcdserverpb.TxnRequest.decode(etcdserverpb.TxnRequest.encode(txn).finish());
    expect(decoded.compare[0].targetUnion).toBe('value');
    expect(decoded.success.map((op) => op.request)).toEqual(['requestPut', 'requestTxn']);
    expect(decoded.success[1].requestTxn?.success?.[0]?.request).toBe('requestDeleteRange');
    expect(decoded.failure[0].requestRange?.keysOnly).toBe(true);
  });

  test('cairnpb.Member keeps a 64-bit member ID and its URLs', () => {
    const member = { id: fromBigInt(0xfedcba9876543210n, true), name: 'm1', peerUrls: ['http://127.0.0.1:2380'], clientUrls: [], isLearner: true };
    const decoded = cairnpb.Member.decode(cairnpb.Member.encode(member).finish());
    expect(toBigInt(decoded.id)).toBe(0xfedcba9876543210n);
    expect(decoded.peerUrls).toEqual(['http://127.0.0.1:2380']);
    expect(decoded.isLearner).toBe(true);
  });

  test('JSON objects (the gateway form: base64 bytes, int64 as strings) convert both ways', () => {
    const req = etcdserverpb.PutRequest.fromObject({ key: Buffer.from('foo').toString('base64'), lease: '7587862072303010579' });
    expect(Buffer.from(req.key).toString()).toBe('foo');
    expect(toBigInt(req.lease)).toBe(7587862072303010579n);
    const obj = etcdserverpb.PutRequest.toObject(req, { bytes: String, longs: String });
    expect(obj).toEqual({ key: 'Zm9v', lease: '7587862072303010579' });
  });

  test('decoding yields Long for every 64-bit field, never a lossy number', () => {
    const header = etcdserverpb.ResponseHeader.decode(etcdserverpb.ResponseHeader.encode({ revision: 1, raftTerm: 2 }).finish());
    expect(Long.isLong(header.revision)).toBe(true);
    expect(Long.isLong(header.raftTerm)).toBe(true);
    expect((header.raftTerm as Long).unsigned).toBe(true);
    expect((header.revision as Long).unsigned).toBe(false);
  });
});
