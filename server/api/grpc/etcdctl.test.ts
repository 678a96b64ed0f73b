// The gRPC server judged by a real Go gRPC client: etcdctl 3.4 (etcd's clientv3 over grpc-go)
// talks to hand-encoded etcdserverpb responses (field numbers from etcd's rpc.proto and kv.proto).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createClientListener, type ClientListener } from '../listener';
import { GrpcServer, Status, type ServerCall } from './server';

const ETCDCTL = '/usr/bin/etcdctl';
const maybe = existsSync(ETCDCTL) ? describe : describe.skip;

/** A minimal protobuf writer: varint and length-delimited fields only. */
class Pb {
  private parts: Buffer[] = [];
  varint(field: number, value: number | bigint): this {
    this.parts.push(varintBytes(BigInt(field) << 3n), varintBytes(BigInt(value)));
    return this;
  }
  bytes(field: number, value: Buffer | string | Pb): this {
    const b = value instanceof Pb ? value.finish() : Buffer.from(value);
    this.parts.push(varintBytes((BigInt(field) << 3n) | 2n), varintBytes(BigInt(b.length)), b);
    return this;
  }
  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}
function varintBytes(v: bigint): Buffer {
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}

const CLUSTER_ID = 0xcdf818194e3a8c32n;
const MEMBER_ID = 14841639068965178418n; // above 2^53: the varint must carry all 64 bits
const header = () => new Pb().varint(1, CLUSTER_ID).varint(2, MEMBER_ID).varint(3, 42).varint(4, 7);

function etcdctl(port: number, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(ETCDCTL, [`--endpoints=http://127.0.0.1:${port}`, '--dial-timeout=5s', '--command-timeout=3s', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

maybe('etcdctl 3.4 against the lean gRPC server', () => {
  let listener: ClientListener;
  const rangeCalls: ServerCall[] = [];

  beforeAll(async () => {
    const grpc = new GrpcServer({ maxReceiveMessageBytes: 1.5 * 1024 * 1024, maxSendMessageBytes: 2 ** 31 - 1 });
    grpc.addMethod('/etcdserverpb.Maintenance/Status', 'unary', (call) => {
      call.sendResponse(
        new Pb()
          .bytes(1, header())
          .bytes(2, '3.5.0')
          .varint(3, 20480) // dbSize
          .varint(4, MEMBER_ID) // leader
          .varint(5, 99) // raftIndex
          .varint(6, 7) // raftTerm
          .varint(7, 99) // raftAppliedIndex
          .varint(9, 16384) // dbSizeInUse
          .finish(),
      );
    });
    grpc.addMethod('/etcdserverpb.KV/Range', 'unary', (call) => {
      rangeCalls.push(call);
      const kv = new Pb().bytes(1, 'foo').varint(2, 40).varint(3, 42).varint(4, 3).bytes(5, 'bar');
      call.sendResponse(new Pb().bytes(1, header()).bytes(2, kv).varint(4, 1).finish());
    });
    grpc.addMethod('/etcdserverpb.KV/Put', 'unary', (call, request) => {
      // PutRequest field 1 is the key; answer with an error whose text names it.
      const key = request.subarray(2, 2 + request[1]!).toString();
      call.end({ code: Status.INVALID_ARGUMENT, message: `cairn: refused key "${key}" (100% ä)` });
    });
    grpc.addMethod('/etcdserverpb.KV/DeleteRange', 'unary', (call) => call.end({ code: Status.FAILED_PRECONDITION, message: 'etcdserver: mvcc: required revision has been compacted' }));
    listener = await createClientListener({ host: '127.0.0.1', port: 0, grpc, http1: (_req, res) => res.end('{"health":"true"}') });
  });

  afterAll(async () => {
    await listener.close();
  });

  // etcdctl's per-endpoint commands send `:authority: http://127.0.0.1:PORT`, which nghttp2 refuses
  // unless the listener patches it (grpc/authority.ts).
  test('endpoint status -w json parses a hand-encoded StatusResponse', async () => {
    const r = await etcdctl(listener.port, 'endpoint', 'status', '-w', 'json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`"member_id":${MEMBER_ID}`);
    expect(r.stdout).toContain(`"leader":${MEMBER_ID}`);
    const [entry] = JSON.parse(r.stdout);
    expect(entry.Endpoint).toBe(`http://127.0.0.1:${listener.port}`);
    expect(entry.Status.version).toBe('3.5.0');
    expect(entry.Status.dbSize).toBe(20480);
    expect(entry.Status.raftIndex).toBe(99);
    expect(entry.Status.header.revision).toBe(42);
    expect(entry.Status.header.raft_term).toBe(7);
  });

  test('endpoint health (a Get on "health" over a patched :authority connection) reports healthy', async () => {
    const r = await etcdctl(listener.port, 'endpoint', 'health');
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toContain(`http://127.0.0.1:${listener.port} is healthy: successfully committed proposal`);
  });

  test('get prints the key and value of a hand-encoded RangeResponse; the client deadline arrives as grpc-timeout', async () => {
    const before = Date.now();
    const r = await etcdctl(listener.port, 'get', 'foo');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('foo\nbar\n');
    const call = rangeCalls[rangeCalls.length - 1]!;
    expect(call.deadlineMs).toBeGreaterThan(before);
    expect(call.deadlineMs).toBeLessThanOrEqual(Date.now() + 3000);
  });

  test('an error status reaches etcdctl with its message decoded', async () => {
    const r = await etcdctl(listener.port, 'put', 'k1', 'v');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`Error: rpc error: code = InvalidArgument desc = cairn: refused key "k1" (100% ä)`);
  });

  test("etcd's error text is recognised by clientv3", async () => {
    const r = await etcdctl(listener.port, 'del', 'k1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error: etcdserver: mvcc: required revision has been compacted');
  });

  test('the same port serves HTTP/1.1 (as etcd serves /health)', async () => {
    const res = await fetch(`http://127.0.0.1:${listener.port}/health`);
    expect(await res.text()).toBe('{"health":"true"}');
  });
});
