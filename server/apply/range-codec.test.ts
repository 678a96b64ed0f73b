// encodeRangeResponse (server/apply/range-codec.ts): the hand-written RangeResponse, with kvs
// spliced from the store's stored bytes, decodes with the generated codec to the same message as
// the object form, and is byte-for-byte what protobufjs writes for it.
import { etcdserverpb, fromBigInt } from '../../proto';
import { openMvccStore } from '../mvcc/store';
import type { MvccStore } from '../mvcc/types';
import { KvApplier, toRangeResponse, type KvRangeResult } from './kv';
import { encodeRangeResponse, type ResponseHeaderFields } from './range-codec';

const b = (s: string) => Buffer.from(s, 'latin1');

let store: MvccStore;
let kv: KvApplier;
beforeAll(async () => {
  store = await openMvccStore();
  kv = new KvApplier({ store, leaseExists: () => true });
  kv.put({ key: b('a'), value: b('value of a') });
  kv.put({ key: b('b'), value: b('') });
  kv.put({ key: b('c'), value: Buffer.alloc(300, 0x41), lease: fromBigInt(0x7fff_ffff_ffff_fff0n, false) });
  kv.put({ key: b('d'), value: b('x'), lease: 1 });
  for (let i = 0; i < 200; i++) kv.put({ key: b('a'), value: b(`v${i}`) }); // revisions beyond one varint byte
});
afterAll(async () => {
  await store.close();
});

/** The same response through the generated encoder, from the object form. */
function viaCodec(result: KvRangeResult, header: ResponseHeaderFields): Uint8Array {
  const response = toRangeResponse(result);
  response.header = {
    ...(header.clusterId !== 0n ? { clusterId: fromBigInt(header.clusterId, true) } : {}),
    ...(header.memberId !== 0n ? { memberId: fromBigInt(header.memberId, true) } : {}),
    ...(result.revision !== 0 ? { revision: result.revision } : {}),
    ...(header.raftTerm !== 0 ? { raftTerm: header.raftTerm } : {}),
  };
  return etcdserverpb.RangeResponse.encode(response).finish();
}

const decodeToObject = (bytes: Uint8Array) =>
  etcdserverpb.RangeResponse.toObject(etcdserverpb.RangeResponse.decode(bytes), { longs: String, bytes: String });

const HEADERS: ReadonlyArray<readonly [string, ResponseHeaderFields]> = [
  ['small IDs', { clusterId: 1n, memberId: 2n, raftTerm: 3 }],
  ['IDs with the top bit set, a large term', { clusterId: 0xd1d6_7b2a_3c4e_5f60n, memberId: 0x8e9e_05c5_2164_694dn, raftTerm: 2 ** 40 }],
  ['IDs just past 32 bits', { clusterId: 0x1_0000_0000n, memberId: 0x7_ffff_ffffn, raftTerm: 1 }],
  ['zero fields', { clusterId: 0n, memberId: 0n, raftTerm: 0 }],
];

const REQUESTS: ReadonlyArray<readonly [string, etcdserverpb.RangeRequest.$Properties]> = [
  ['one key', { key: b('a') }],
  ['all keys', { key: b('\0'), rangeEnd: b('\0') }],
  ['keys_only', { key: b('\0'), rangeEnd: b('\0'), keysOnly: true }],
  ['limit with more', { key: b('a'), rangeEnd: b('z'), limit: 2 }],
  ['count_only', { key: b('a'), rangeEnd: b('z'), countOnly: true }],
  ['a missing key', { key: b('zz') }],
  ['sorted descending by value, keys_only', { key: b('a'), rangeEnd: b('z'), sortOrder: 2, sortTarget: 4, keysOnly: true }],
  ['an old revision', { key: b('a'), revision: 3 }],
];

describe.each(HEADERS)('encodeRangeResponse with %s', (_name, header) => {
  test.each(REQUESTS)('%s: decodes to the same message and equals the generated encoding byte for byte', (_req, req) => {
    const result = kv.rangeResult(req);
    const ours = encodeRangeResponse(result, header);
    const theirs = viaCodec(result, header);
    expect(decodeToObject(ours)).toEqual(decodeToObject(theirs));
    expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
  });
});

test('the decoded response carries exactly the header, kvs, more and count', () => {
  const result = kv.rangeResult({ key: b('a'), rangeEnd: b('z'), limit: 3, keysOnly: true });
  const decoded = decodeToObject(encodeRangeResponse(result, { clusterId: 0xd1d6_7b2a_3c4e_5f60n, memberId: 5n, raftTerm: 7 }));
  expect(decoded).toEqual({
    header: { clusterId: (0xd1d6_7b2a_3c4e_5f60n).toString(), memberId: '5', revision: String(store.currentRevision), raftTerm: '7' },
    kvs: [
      { key: b('a').toString('base64'), createRevision: '2', modRevision: String(store.currentRevision), version: '201' },
      { key: b('b').toString('base64'), createRevision: '3', modRevision: '3', version: '1' },
      { key: b('c').toString('base64'), createRevision: '4', modRevision: '4', version: '1', lease: (0x7fff_ffff_ffff_fff0n).toString() },
    ],
    more: true,
    count: '4',
  });
});

test('kvs are the stored bytes: no value is decoded or re-encoded unless keys_only', () => {
  const result = kv.rangeResult({ key: b('c') });
  const bytes = Buffer.from(encodeRangeResponse(result, { clusterId: 1n, memberId: 1n, raftTerm: 1 }));
  expect(bytes.includes(result.kvs[0].encoded)).toBe(true);
});
