/**
 * Bad input changes nothing and the member keeps serving: a request whose bytes are not a valid
 * protobuf message fails as etcd's grpc-go server fails it (INTERNAL, "grpc: error unmarshalling
 * request"); a data directory whose WAL is corrupted in the middle refuses to start with a message
 * naming the file and offset; a torn last WAL write is cut and the member starts with every
 * acknowledged write.
 */
import * as grpc from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { etcdctl } from './harness/etcdctl';
import { startMember, type Member } from './harness/member';

const identity = (b: Buffer): Buffer => b;

function rawUnary(endpoint: string, method: string, body: Buffer): Promise<{ code: number; details: string }> {
  const client = new grpc.Client(endpoint.replace('http://', ''), grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, identity, identity, body, (err) => {
      client.close();
      resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' });
    });
  });
}

/** Bytes that are not a protobuf message: a length-delimited field whose length runs past the end. */
const MALFORMED = Buffer.from([0x0a, 0xff, 0xff, 0x03, 0x01]);

describe('malformed request messages', () => {
  const members: Member[] = [];
  afterAll(async () => {
    for (const m of members) await m.cleanup();
  });

  test.each(['/etcdserverpb.KV/Put', '/etcdserverpb.KV/Range', '/etcdserverpb.KV/Txn', '/etcdserverpb.KV/DeleteRange', '/etcdserverpb.Lease/LeaseGrant', '/etcdserverpb.Lease/LeaseRevoke', '/v3lockpb.Lock/Unlock'])(
    '%s fails with INTERNAL "grpc: error unmarshalling request" on etcd and Cairn, which both keep serving',
    async (method) => {
      for (const kind of ['etcd', 'cairn'] as const) {
        let m = members.find((x) => x.kind === kind);
        if (m === undefined) {
          m = await startMember({ kind });
          members.push(m);
        }
        const before = await etcdctl(m.endpoint, ['get', '', '--from-key', '--keys-only', '-w', 'json']);
        const r = await rawUnary(m.endpoint, method, MALFORMED);
        expect({ kind, code: r.code }).toEqual({ kind, code: grpc.status.INTERNAL });
        expect(r.details).toMatch(/^grpc: error unmarshalling request: /);
        // Nothing changed, and the member still answers.
        const after = await etcdctl(m.endpoint, ['get', '', '--from-key', '--keys-only', '-w', 'json']);
        expect(JSON.parse(after.stdout).header.revision).toBe(JSON.parse(before.stdout).header.revision);
        expect((await etcdctl(m.endpoint, ['put', 'still', 'serving'])).stdout).toBe('OK\n');
      }
    },
  );
});

function walSegments(dataDir: string): string[] {
  const dir = path.join(dataDir, 'member', 'wal');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.wal'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** End of the written part of a preallocated segment: the first run of 64 zero bytes. */
function writtenBytes(file: string): number {
  const buf = fs.readFileSync(file);
  const zeros = Buffer.alloc(64);
  for (let i = 0; i + 64 <= buf.length; i += 8) if (buf.subarray(i, i + 64).equals(zeros)) return i;
  return buf.length;
}

async function memberWithWrites(count: number): Promise<Member> {
  const m = await startMember({ kind: 'cairn' });
  for (let i = 0; i < count; i++) expect((await etcdctl(m.endpoint, ['put', `k${i}`, `v${i}`])).code).toBe(0);
  await m.stop();
  return m;
}

describe('a damaged write-ahead log', () => {
  test('corruption in the middle refuses to start, naming the file and the offset', async () => {
    const m = await memberWithWrites(30);
    try {
      const [segment] = walSegments(m.dataDir);
      const end = writtenBytes(segment!);
      const fd = fs.openSync(segment!, 'r+');
      const at = Math.floor(end / 3);
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, at);
      b[0] = b[0]! ^ 0xff;
      fs.writeSync(fd, b, 0, 1, at);
      fs.closeSync(fd);
      const run = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'cairn.js'), ...m.args], { timeout: 20_000, encoding: 'utf8' });
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain(path.basename(segment!));
      expect(run.stderr).toMatch(/offset/);
      expect(run.stderr).not.toContain('ready to serve client requests');
    } finally {
      await m.cleanup();
    }
  });

  test('a torn last write is cut and the member starts with every acknowledged write', async () => {
    const m = await memberWithWrites(30);
    try {
      const segments = walSegments(m.dataDir);
      const last = segments[segments.length - 1]!;
      const end = writtenBytes(last);
      // Append half a record's worth of garbage after the last good record: a write torn by a crash.
      const fd = fs.openSync(last, 'r+');
      fs.writeSync(fd, Buffer.from([0x40, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x02, 0x01, 0x02]), 0, 11, end);
      fs.closeSync(fd);
      await m.restart();
      expect(m.output()).toMatch(/repaired a torn write-ahead log tail/);
      const got = await etcdctl(m.endpoint, ['get', 'k', '--prefix', '--keys-only', '-w', 'json']);
      expect(JSON.parse(got.stdout).count).toBe(30);
      expect((await etcdctl(m.endpoint, ['put', 'after', 'repair'])).stdout).toBe('OK\n');
    } finally {
      await m.cleanup();
    }
  });
});
