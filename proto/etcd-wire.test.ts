// Wire compatibility with real etcd 3.4 (the reference implementation): a grpc-js client that
// encodes and decodes with OUR codecs talks to /usr/bin/etcd (Debian package etcd-server) and checks
// the answers of Put, Range (sort, limit), Txn (compares incl. range_end at field 64), DeleteRange
// (prev_kv), Status, MemberList and LeaseGrant. IDs above 2^53 check the int64/uint64 handling.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { etcdserverpb as pb, fromBigInt, mvccpb, toBigInt, toNumber } from './index';
import { methodByPath } from './methods';

/** The reference etcd binary; CAIRN_ETCD_BIN points elsewhere (and checks the missing-binary failure). */
const ETCD = process.env.CAIRN_ETCD_BIN ?? '/usr/bin/etcd';
const READY_TIMEOUT_MS = 20_000;
const CALL_DEADLINE_MS = 10_000;

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const str = (b: Uint8Array | null | undefined): string => Buffer.from(b ?? new Uint8Array(0)).toString('utf8');

/** A free loopback port: listen on port 0, note the port, close. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function healthy(clientUrl: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${clientUrl}/health`, { timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"true"')));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

interface Etcd {
  readonly child: ChildProcess;
  readonly dataDir: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  output: string;
}

async function startEtcd(): Promise<Etcd> {
  if (!fs.existsSync(ETCD)) {
    throw new Error(`${ETCD} is missing: install etcd 3.4 (Debian package etcd-server) to run the wire-compatibility test`);
  }
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-proto-etcd-'));
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));
  const child = spawn(
    ETCD,
    [
      '--name', 'default',
      '--data-dir', dataDir,
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `default=${peerUrl}`,
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const etcd: Etcd = { child, dataDir, clientUrl, peerUrl, output: '' };
  const keep = (chunk: Buffer): void => {
    etcd.output = (etcd.output + chunk.toString()).slice(-8192); // last 8 KiB, for failure messages
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await healthy(clientUrl))) {
    if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}:\n${etcd.output}`);
    if (Date.now() > deadline) throw new Error(`etcd not healthy after ${READY_TIMEOUT_MS} ms:\n${etcd.output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return etcd;
}

async function stopEtcd(etcd: Etcd): Promise<void> {
  if (etcd.child.exitCode === null && etcd.child.signalCode === null) {
    const exited = new Promise<void>((resolve) => etcd.child.once('exit', () => resolve()));
    etcd.child.kill('SIGTERM');
    const timer = setTimeout(() => etcd.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  fs.rmSync(etcd.dataDir, { recursive: true, force: true });
}

/** Calls a unary method through grpc-js, with the codecs from our method table. */
function unary<Res>(client: grpc.Client, methodPath: string, request: object): Promise<Res> {
  const method = methodByPath(methodPath);
  if (method === undefined) throw new Error(`no method ${methodPath} in the table`);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      (req: object) => Buffer.from(method.requestType.encode(req).finish()),
      (bytes: Buffer) => method.responseType.decode(bytes) as Res,
      request,
      { deadline: Date.now() + CALL_DEADLINE_MS },
      (err, res) => (err ? reject(err) : resolve(res as Res)),
    );
  });
}

describe('wire compatibility with etcd 3.4', () => {
  let etcd: Etcd | undefined;
  let client: grpc.Client;

  beforeAll(async () => {
    etcd = await startEtcd();
    client = new grpc.Client(etcd.clientUrl.replace('http://', ''), grpc.credentials.createInsecure());
  }, READY_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    client?.close();
    if (etcd !== undefined) await stopEtcd(etcd);
  });

  const put = (key: string, value: string, extra: Partial<pb.PutRequest.$Properties> = {}): Promise<pb.PutResponse> =>
    unary(client, '/etcdserverpb.KV/Put', { key: utf8(key), value: utf8(value), ...extra });

  test('Put answers with a header: 64-bit cluster and member IDs, revision, raft term', async () => {
    const res = await put('foo', 'bar');
    const header = res.header!;
    expect(toBigInt(header.clusterId)).not.toBe(0n);
    expect(toBigInt(header.memberId)).not.toBe(0n);
    expect(toNumber(header.revision)).toBeGreaterThanOrEqual(2);
    expect(toNumber(header.raftTerm)).toBeGreaterThanOrEqual(2);
    const again = await put('foo', 'baz', { prevKv: true });
    expect(str(again.prevKv?.value)).toBe('bar');
    expect(toNumber(again.header!.revision)).toBe(toNumber(header.revision) + 1);
  });

  test('Range with sort (DESCEND by KEY) and limit returns the first keys, more and the full count', async () => {
    for (const k of ['r/a', 'r/b', 'r/c']) await put(k, `v-${k}`);
    const res = await unary<pb.RangeResponse>(client, '/etcdserverpb.KV/Range', {
      key: utf8('r/'),
      rangeEnd: utf8('r0'), // '/' + 1
      limit: 2,
      sortOrder: pb.RangeRequest.SortOrder.DESCEND,
      sortTarget: pb.RangeRequest.SortTarget.KEY,
    });
    expect(res.kvs.map((kv) => str(kv.key))).toEqual(['r/c', 'r/b']);
    expect(res.kvs.map((kv) => str(kv.value))).toEqual(['v-r/c', 'v-r/b']);
    expect(res.more).toBe(true);
    expect(toNumber(res.count)).toBe(3);
    const c = res.kvs[0]!;
    expect(toNumber(c.version)).toBe(1);
    expect(toNumber(c.createRevision)).toBe(toNumber(c.modRevision));
    expect(toNumber(res.header!.revision)).toBeGreaterThanOrEqual(toNumber(c.modRevision));
  });

  test('Txn: compares that hold run success; one that fails runs failure', async () => {
    await put('t/x', '1');
    const ok = await unary<pb.TxnResponse>(client, '/etcdserverpb.KV/Txn', {
      compare: [
        { target: pb.Compare.CompareTarget.VALUE, result: pb.Compare.CompareResult.EQUAL, key: utf8('t/x'), value: utf8('1') },
        // every key in [t/, t0) has version > 0 (range_end is field 64)
        { target: pb.Compare.CompareTarget.VERSION, result: pb.Compare.CompareResult.GREATER, key: utf8('t/'), rangeEnd: utf8('t0'), version: 0 },
      ],
      success: [
        { requestPut: { key: utf8('t/y'), value: utf8('2') } },
        { requestRange: { key: utf8('t/x') } },
      ],
      failure: [{ requestDeleteRange: { key: utf8('t/x') } }],
    });
    expect(ok.succeeded).toBe(true);
    expect(ok.responses.map((r) => r.response)).toEqual(['responsePut', 'responseRange']);
    expect(str(ok.responses[1]!.responseRange!.kvs![0]!.value)).toBe('1');

    const failed = await unary<pb.TxnResponse>(client, '/etcdserverpb.KV/Txn', {
      compare: [{ target: pb.Compare.CompareTarget.MOD, result: pb.Compare.CompareResult.LESS, key: utf8('t/x'), modRevision: 1 }],
      success: [{ requestPut: { key: utf8('t/z'), value: utf8('never') } }],
      failure: [{ requestRange: { key: utf8('t/'), rangeEnd: utf8('t0'), countOnly: true } }],
    });
    expect(failed.succeeded).toBe(false);
    expect(toNumber(failed.responses[0]!.responseRange!.count)).toBe(2);
  });

  test('DeleteRange with prev_kv returns the deleted key-values', async () => {
    await put('d/1', 'one');
    await put('d/2', 'two');
    const res = await unary<pb.DeleteRangeResponse>(client, '/etcdserverpb.KV/DeleteRange', {
      key: utf8('d/'),
      rangeEnd: utf8('d0'),
      prevKv: true,
    });
    expect(toNumber(res.deleted)).toBe(2);
    expect(res.prevKvs.map((kv: mvccpb.KeyValue.$Properties) => [str(kv.key), str(kv.value)])).toEqual([['d/1', 'one'], ['d/2', 'two']]);
  });

  test('Status reports version, leader, indexes and sizes', async () => {
    const res = await unary<pb.StatusResponse>(client, '/etcdserverpb.Maintenance/Status', {});
    expect(res.version).toMatch(/^3\.4\./);
    expect(toBigInt(res.leader)).toBe(toBigInt(res.header!.memberId));
    expect(toNumber(res.raftIndex)).toBeGreaterThan(0);
    expect(toNumber(res.raftAppliedIndex)).toBeGreaterThan(0);
    expect(toNumber(res.raftTerm)).toBeGreaterThan(0);
    expect(toNumber(res.dbSize)).toBeGreaterThan(0);
    expect(toNumber(res.dbSizeInUse)).toBeGreaterThan(0);
    expect(res.isLearner).toBe(false);
    expect(res.errors).toEqual([]);
  });

  test('MemberList lists the one member with its URLs and its uint64 ID', async () => {
    const res = await unary<pb.MemberListResponse>(client, '/etcdserverpb.Cluster/MemberList', {});
    expect(res.members).toHaveLength(1);
    const member = res.members[0]!;
    expect(member.name).toBe('default');
    expect(member.peerURLs).toEqual([etcd!.peerUrl]);
    expect(member.clientURLs).toEqual([etcd!.clientUrl]);
    expect(member.isLearner).toBe(false);
    expect(toBigInt(member.ID)).toBe(toBigInt(res.header!.memberId));
  });

  test('Watch (bidi stream): created, then a PUT event with prev_kv', async () => {
    const method = methodByPath('/etcdserverpb.Watch/Watch')!;
    await put('w/a', 'old');
    const stream = client.makeBidiStreamRequest(
      method.path,
      (req: object) => Buffer.from(method.requestType.encode(req).finish()),
      (bytes: Buffer) => method.responseType.decode(bytes) as pb.WatchResponse,
      new grpc.Metadata(),
      { deadline: Date.now() + CALL_DEADLINE_MS },
    );
    const responses: pb.WatchResponse[] = [];
    const gotEvent = new Promise<void>((resolve, reject) => {
      stream.on('data', (res: pb.WatchResponse) => {
        responses.push(res);
        if (res.created) void put('w/a', 'new');
        if (res.events.length > 0) resolve();
      });
      stream.on('error', reject);
    });
    stream.write({ createRequest: { key: utf8('w/'), rangeEnd: utf8('w0'), prevKv: true, watchId: 7 } });
    await gotEvent;
    stream.cancel();
    expect(responses[0]!.created).toBe(true);
    expect(toBigInt(responses[0]!.watchId)).toBe(7n);
    const event = responses[responses.length - 1]!.events[0]!;
    expect(event.type ?? mvccpb.Event.EventType.PUT).toBe(mvccpb.Event.EventType.PUT);
    expect(str(event.kv?.value)).toBe('new');
    expect(str(event.prevKv?.value)).toBe('old');
  });

  test('LeaseGrant: server-chosen and requested IDs above 2^53 survive the round trip', async () => {
    const chosen = await unary<pb.LeaseGrantResponse>(client, '/etcdserverpb.Lease/LeaseGrant', { TTL: 60 });
    expect(toBigInt(chosen.ID)).toBeGreaterThan(0n);
    expect(toNumber(chosen.TTL)).toBe(60);
    expect(chosen.error).toBe('');

    const wanted = (1n << 62n) + 12345n;
    const granted = await unary<pb.LeaseGrantResponse>(client, '/etcdserverpb.Lease/LeaseGrant', { TTL: 30, ID: fromBigInt(wanted, false) });
    expect(toBigInt(granted.ID)).toBe(wanted);
    await put('l/k', 'v', { lease: fromBigInt(wanted, false) });
    const range = await unary<pb.RangeResponse>(client, '/etcdserverpb.KV/Range', { key: utf8('l/k') });
    expect(toBigInt(range.kvs[0]!.lease)).toBe(wanted);
  });
});
