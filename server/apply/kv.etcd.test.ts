// Differential test: one script of KV requests (edge cases of Range, Put, DeleteRange, Txn,
// Compact) runs against a real etcd 3.4 over gRPC and against validate.ts + KvApplier on an
// in-memory store; every response (decoded with our codecs, header cluster/member/term aside) and
// every error (gRPC code + message) must be the same. Skipped when etcd is not installed.
import * as grpc from '@grpc/grpc-js';
import { etcdserverpb } from '../../proto';
import { methodByPath } from '../../proto/methods';
import { toGrpcStatus } from '../errors';
import { openMvccStore } from '../mvcc/store';
import type { MvccStore } from '../mvcc/types';
import { etcdInstalled, startEtcd, type EtcdProcess } from './etcd-probe';
import { KvApplier } from './kv';
import { encodeRangeResponse } from './range-codec';
import { checkDeleteRangeRequest, checkPutRequest, checkRangeRequest, checkTxnRequest } from './validate';

type Method = 'Range' | 'Put' | 'DeleteRange' | 'Txn' | 'Compact';
type Step = readonly [Method, object];
type Outcome = { ok: unknown } | { code: number; message: string };

const b = (s: string) => Buffer.from(s, 'latin1');
const put = (key: string, value = 'v', extra: object = {}) => ({ requestPut: { key: b(key), value: b(value), ...extra } });
const get = (key: string, extra: object = {}) => ({ requestRange: { key: b(key), ...extra } });
const del = (key: string, extra: object = {}) => ({ requestDeleteRange: { key: b(key), ...extra } });
const cmp = (key: string, target: number, result: number, field: string, v: unknown, extra: object = {}) => ({ key: b(key), target, result, [field]: v, ...extra });

const SCRIPT: readonly Step[] = [
  ['Put', { key: b('') , value: b('x') }],
  ['Range', { key: b('missing') }],
  ...['a', 'b', 'c', 'd', 'e'].map((k): Step => ['Put', { key: b(k), value: b('v' + k) }]),
  ['Put', { key: b('c'), value: b('zz'), prevKv: true }],
  ['Put', { key: b('b'), value: b('aa'), prevKv: true }],
  ['Range', { key: b('a'), rangeEnd: b('\0') }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), limit: 2 }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), limit: 5 }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), limit: -1, keysOnly: true }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), limit: 2, countOnly: true }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), minModRevision: 7, limit: 1 }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), maxModRevision: 5, minCreateRevision: 3 }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), maxCreateRevision: 3, countOnly: true }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), sortTarget: 3 }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), sortTarget: 3, limit: 2 }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), sortOrder: 1, sortTarget: 3, limit: 2 }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), sortOrder: 2, sortTarget: 4 }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), sortOrder: 2, sortTarget: 1, keysOnly: true }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), sortOrder: 1, sortTarget: 2 }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), sortOrder: 2, limit: 2, revision: 4 }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), revision: 100 }],
  ['Range', { key: b('\0'), rangeEnd: b('\0'), countOnly: true }],
  ['Range', { key: b('d'), rangeEnd: b('b') }],
  ['Put', { key: b('k'), ignoreValue: true }],
  ['Put', { key: b('k'), value: b('v'), lease: 123 }],
  ['Put', { key: b('k'), ignoreValue: true, lease: 123 }],
  ['Put', { key: b('k'), value: b('v'), ignoreValue: true }],
  ['Put', { key: b('k'), value: b('v'), ignoreLease: true, lease: 5 }],
  ['Put', { key: b('d'), ignoreValue: true, prevKv: true }],
  ['Put', { key: b('d'), value: b('vd2'), ignoreLease: true, prevKv: true }],
  ['DeleteRange', { key: b('zzz'), prevKv: true }],
  ['DeleteRange', { key: b(''), }],
  ['Txn', {}],
  ['Txn', { compare: [cmp('zz', 3, 3, 'value', b('x'))] }],
  ['Txn', { compare: [cmp('zz', 0, 0, 'version', 0)], success: [get('a')] }],
  ['Txn', { compare: [cmp('a', 0, 0, 'version', 1, { rangeEnd: b('d') })], success: [put('t1')], failure: [get('b', { keysOnly: true })] }],
  ['Txn', { compare: [cmp('a', 1, 2, 'createRevision', 5, { rangeEnd: b('\0') })], success: [get('a'), put('a', 'n1'), get('a'), del('c', { prevKv: true }), get('c')] }],
  ['Txn', { compare: [cmp('a', 3, 1, 'value', b('a'))], success: [del('x', { rangeEnd: b('a') }), put('b', 'n2', { prevKv: true })] }],
  ['Txn', { success: [del('nothing')] }],
  ['Txn', { success: [put('q', 'v', { lease: 77 })] }],
  ['Txn', { success: [put('q')], failure: [put('q', 'v', { lease: 77 })] }],
  ['Txn', { success: [put('a', 'x'), put('nokey', '', { ignoreValue: true })] }],
  ['Txn', { success: [put('a', 'x'), get('a', { revision: 1000 })] }],
  ['Txn', { success: [put('a', 'x'), put('a', 'y')] }],
  ['Txn', { success: [del('a', { rangeEnd: b('c') }), put('b')] }],
  ['Txn', { success: [del('a', { rangeEnd: b('\0') }), put('a', 'from-key')] }],
  ['Txn', { success: [{}] }],
  ['Txn', { compare: [{ key: b('') }] }],
  ['Txn', { success: Array.from({ length: 129 }, (_, i) => put('many' + i)) }],
  [
    'Txn',
    {
      success: [
        put('a', 'nested'),
        { requestTxn: { compare: [cmp('a', 3, 0, 'value', b('from-key'))], success: [get('a')], failure: [put('x')] } },
        { requestTxn: { compare: [cmp('a', 3, 0, 'value', b('nested'))], success: [put('y')], failure: [get('b', { countOnly: true })] } },
      ],
    },
  ],
  ['Range', { key: b('\0'), rangeEnd: b('\0') }],
  ['Compact', { revision: 5 }],
  ['Compact', { revision: 5 }],
  ['Compact', { revision: 1000 }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), revision: 5, keysOnly: true }],
  ['Range', { key: b('a'), rangeEnd: b('\0'), revision: 4 }],
  ['Txn', { success: [get('a', { revision: 4 })] }],
  ['DeleteRange', { key: b('a'), rangeEnd: b('\0'), prevKv: true }],
  ['Range', { key: b('\0'), rangeEnd: b('\0'), countOnly: true }],
];

// Our header's cluster/member/term stay zero (left out); etcd's are removed before comparing.
const headerFields = { clusterId: 0n, memberId: 0n, raftTerm: 0 };

/** A decoded response as a plain object, without the host's header fields. */
function normalise(method: Method, bytes: Uint8Array): unknown {
  const descriptor = methodByPath(`/etcdserverpb.KV/${method}`);
  if (!descriptor) throw new Error(`no method ${method}`);
  const obj = descriptor.responseType.toObject(descriptor.responseType.decode(bytes), { longs: String, bytes: String });
  if (obj.header) {
    delete obj.header.clusterId;
    delete obj.header.memberId;
    delete obj.header.raftTerm;
  }
  return obj;
}

function cairnApply(kv: KvApplier, method: Method, req: object): Outcome {
  try {
    let bytes: Uint8Array;
    switch (method) {
      case 'Range':
        checkRangeRequest(req);
        bytes = encodeRangeResponse(kv.rangeResult(req), headerFields);
        break;
      case 'Put':
        checkPutRequest(req);
        bytes = etcdserverpb.PutResponse.encode(kv.put(req)).finish();
        break;
      case 'DeleteRange':
        checkDeleteRangeRequest(req);
        bytes = etcdserverpb.DeleteRangeResponse.encode(kv.deleteRange(req)).finish();
        break;
      case 'Txn':
        checkTxnRequest(req);
        bytes = etcdserverpb.TxnResponse.encode(kv.txn(req)).finish();
        break;
      case 'Compact':
        bytes = etcdserverpb.CompactionResponse.encode(kv.compaction(req).response).finish();
        break;
    }
    return { ok: normalise(method, bytes) };
  } catch (err) {
    const status = toGrpcStatus(err);
    if (status.kind === undefined) throw err;
    return { code: status.code, message: status.message };
  }
}

function etcdCall(client: grpc.Client, method: Method, req: object): Promise<Outcome> {
  const descriptor = methodByPath(`/etcdserverpb.KV/${method}`);
  if (!descriptor) throw new Error(`no method ${method}`);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      descriptor.path,
      (r: object) => Buffer.from(descriptor.requestType.encode(r).finish()),
      (bytes: Buffer) => bytes,
      req,
      (err, bytes) => {
        if (err) resolve({ code: err.code, message: err.details });
        else resolve({ ok: normalise(method, bytes as Buffer) });
      },
    );
  });
}

const describeWithEtcd = etcdInstalled() ? describe : describe.skip;

describeWithEtcd('KV script: Cairn answers as etcd 3.4 does', () => {
  let etcd: EtcdProcess;
  let client: grpc.Client;
  let store: MvccStore;
  let kv: KvApplier;
  beforeAll(async () => {
    etcd = await startEtcd();
    client = new grpc.Client(etcd.endpoint, grpc.credentials.createInsecure());
    store = await openMvccStore();
    kv = new KvApplier({ store });
  });
  afterAll(async () => {
    client?.close();
    await store?.close();
    await etcd?.stop();
  });

  test('every step gives the same response or error', async () => {
    const differences: string[] = [];
    for (const [i, [method, req]] of SCRIPT.entries()) {
      const theirs = await etcdCall(client, method, req);
      const ours = cairnApply(kv, method, req);
      if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
        differences.push(`step ${i} ${method} ${JSON.stringify(req)}\n  etcd:  ${JSON.stringify(theirs)}\n  cairn: ${JSON.stringify(ours)}`);
      }
    }
    expect(differences).toEqual([]);
  });
});
