/**
 * The JSON gateway's translation, without a server: JSON → protobuf request (snake_case and
 * lowerCamelCase names, base64 bytes, int64 as strings or numbers, enums by name; every value
 * checked, unknown fields ignored) and protobuf response → JSON (int64 as strings, bytes as base64,
 * proto field names, defaults left out), as etcd's grpc-gateway renders them.
 */
import { etcdserverpb as pb } from '../../proto';
import { GatewayInputError, messageFromJson, messageToJson, protoSchema } from './gateway';

const root = protoSchema();
const RangeRequest = root.lookupType('etcdserverpb.RangeRequest');
const TxnRequest = root.lookupType('etcdserverpb.TxnRequest');
const StatusResponse = root.lookupType('etcdserverpb.StatusResponse');
const RangeResponse = root.lookupType('etcdserverpb.RangeResponse');

function encodeRequest(json: unknown): Uint8Array {
  return RangeRequest.encode(RangeRequest.fromObject(messageFromJson(RangeRequest, json))).finish();
}

describe('requests', () => {
  test('snake_case and lowerCamelCase names, base64 bytes, int64 strings, enum names give the gRPC bytes', () => {
    const decoded = pb.RangeRequest.decode(encodeRequest({ key: 'Zm9v', range_end: 'Zm9w', limit: '10', revision: 7, sortOrder: 'DESCEND', keys_only: true, unknown_field: 1 }));
    expect(Buffer.from(decoded.key).toString()).toBe('foo');
    expect(Buffer.from(decoded.rangeEnd).toString()).toBe('fop');
    expect(Number(decoded.limit)).toBe(10);
    expect(Number(decoded.revision)).toBe(7);
    expect(decoded.sortOrder).toBe(pb.RangeRequest.SortOrder.DESCEND);
    expect(decoded.keysOnly).toBe(true);
  });

  test('nested messages and repeated fields (txn compare / success)', () => {
    const obj = messageFromJson(TxnRequest, { compare: [{ key: 'YQ==', target: 'MOD', result: 'LESS', mod_revision: '5' }], success: [{ request_put: { key: 'YQ==', value: 'Yg==' } }] });
    const txn = pb.TxnRequest.decode(TxnRequest.encode(TxnRequest.fromObject(obj)).finish());
    expect(txn.compare[0]!.target).toBe(pb.Compare.CompareTarget.MOD);
    expect(Number(txn.compare[0]!.modRevision)).toBe(5);
    expect(Buffer.from(txn.success[0]!.requestPut!.value!).toString()).toBe('b');
  });

  test.each([
    ['not an object', [1]],
    ['bytes as a number', { key: 1 }],
    ['bytes not base64', { key: 'Zm9v!!' }],
    ['int64 not digits', { key: 'YQ==', limit: 'abc' }],
    ['int64 with a fraction', { key: 'YQ==', limit: 1.5 }],
    ['int64 out of range', { key: 'YQ==', limit: '9223372036854775808' }],
    ['bool as a string', { key: 'YQ==', serializable: 'yes' }],
    ['unknown enum name', { key: 'YQ==', sort_order: 'SIDEWAYS' }],
    ['repeated not an array', { compare: {} }],
  ])('%s is refused with a GatewayInputError', (_name, json) => {
    const type = 'compare' in (json as object) ? TxnRequest : RangeRequest;
    expect(() => messageFromJson(type, json)).toThrow(GatewayInputError);
  });
});

describe('responses', () => {
  test('int64 as strings, bytes as base64, proto names, defaults left out', () => {
    const bytes = pb.RangeResponse.encode({
      header: { clusterId: 1, memberId: 2, revision: 3, raftTerm: 0 },
      kvs: [{ key: Buffer.from('foo'), value: Buffer.from('bar'), createRevision: 2, modRevision: 3, version: 1, lease: 0 }],
      count: 1,
      more: false,
    }).finish();
    expect(messageToJson(RangeResponse, bytes)).toEqual({
      header: { cluster_id: '1', member_id: '2', revision: '3' },
      kvs: [{ key: 'Zm9v', value: 'YmFy', create_revision: '2', mod_revision: '3', version: '1' }],
      count: '1',
    });
  });

  test("field names as the .proto spells them (StatusResponse's dbSize, isLearner false left out)", () => {
    const bytes = pb.StatusResponse.encode({ version: '3.5.17', dbSize: 4096, isLearner: false, errors: [] }).finish();
    expect(messageToJson(StatusResponse, bytes)).toEqual({ version: '3.5.17', dbSize: '4096' });
  });
});
