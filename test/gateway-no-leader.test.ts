/**
 * A gateway stream that ends with an error: a watch that requires a leader
 * (`Grpc-Metadata-Hasleader: true`, grpc-gateway's way to pass clientv3.WithRequireLeader's
 * metadata) on the one member left of a 3-member cluster, on etcd 3.4 and on Cairn. Both answer
 * grpc-gateway's stream error chunk `{"error":{"grpc_code","http_code","message","http_status"}}`
 * with the HTTP status of the code (503, `etcdserver: no leader`); without the header the watch is
 * created as usual.
 */
import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { etcdserverpb as pb } from '../proto';
import { startCluster as startHarnessCluster } from './harness/cluster';
import type { Member, MemberKind } from './harness/member';

const TIMING = ['--heartbeat-interval=50', '--election-timeout=500'];

async function startCluster(kind: MemberKind): Promise<Member[]> {
  return (await startHarnessCluster({ kind, token: `gw-${kind}`, names: ['n1', 'n2', 'n3'], flags: TIMING })).members;
}

/** Posts and reads for at most `ms`: status, content type and what arrived. */
function streamFor(base: string, path: string, body: string, headers: Record<string, string>, ms: number): Promise<{ status: number | undefined; contentType: string | undefined; body: string }> {
  return new Promise((resolve) => {
    let status: number | undefined;
    let contentType: string | undefined;
    let text = '';
    const req = http.request(`${base}${path}`, { method: 'POST', headers }, (res) => {
      status = res.statusCode;
      contentType = res.headers['content-type'];
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('error', () => undefined);
    });
    req.on('error', () => undefined);
    req.end(body);
    setTimeout(() => {
      req.destroy();
      resolve({ status, contentType, body: text });
    }, ms);
  });
}

async function noLeader(m: Member): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${m.endpoint}/health`).catch(() => undefined);
    if (r !== undefined && r.status === 503) return true;
    await new Promise((res) => setTimeout(res, 100));
  }
  return false;
}

const clusters: Member[][] = [];

afterAll(async () => {
  await Promise.all(clusters.flat().map((m) => m.cleanup()));
});

test('a watch that requires a leader, without one: the stream error chunk with 503, as etcd', async () => {
  const [etcd, cairn] = await Promise.all([startCluster('etcd'), startCluster('cairn')]);
  clusters.push(etcd, cairn);
  // Only the first member of each is left.
  await Promise.all([...etcd.slice(1), ...cairn.slice(1)].map((m) => m.stop()));
  expect(await Promise.all([noLeader(etcd[0]!), noLeader(cairn[0]!)])).toEqual([true, true]);
  const watch = JSON.stringify({ create_request: { key: Buffer.from('k').toString('base64') } });
  const [e, c] = await Promise.all([etcd[0]!, cairn[0]!].map((m) => streamFor(m.endpoint, '/v3/watch', watch, { 'grpc-metadata-hasleader': 'true' }, 1_500)));
  expect(c).toEqual(e);
  expect(c.status).toBe(503);
  expect(JSON.parse(c.body)).toEqual({ error: { grpc_code: 14, http_code: 503, message: 'etcdserver: no leader', http_status: 'Service Unavailable' } });
  // Without the header the watch is served by the member alone.
  const [e2, c2] = await Promise.all([etcd[0]!, cairn[0]!].map((m) => streamFor(m.endpoint, '/v3/watch', watch, {}, 1_500)));
  for (const a of [e2, c2]) expect({ status: a.status, created: (JSON.parse(a.body.split('\n')[0]!) as { result: { created?: boolean } }).result.created }).toEqual({ status: 200, created: true });

  // A unary call that requires a leader fails at once with "no leader" (etcd's unary interceptor);
  // without the metadata a put waits for a leader until the client's deadline.
  const put = (m: Member, requireLeader: boolean): Promise<{ code: number; details: string }> =>
    new Promise((resolve) => {
      const client = new grpc.Client(m.endpoint.replace('http://', ''), grpc.credentials.createInsecure());
      const md = new grpc.Metadata();
      if (requireLeader) md.set('hasleader', 'true');
      const body = Buffer.from(pb.PutRequest.encode({ key: Buffer.from('k'), value: Buffer.from('v') }).finish());
      client.makeUnaryRequest('/etcdserverpb.KV/Put', (b: Buffer) => b, (b: Buffer) => b, body, md, { deadline: Date.now() + 1500 }, (err) => {
        client.close();
        resolve({ code: err?.code ?? 0, details: err?.details ?? '' });
      });
    });
  const [eu, cu] = await Promise.all([put(etcd[0]!, true), put(cairn[0]!, true)]);
  // (Answered before the 1.5 s deadline: a call that waited would end DEADLINE_EXCEEDED instead.)
  for (const r of [eu, cu]) expect({ code: r.code, details: r.details }).toEqual({ code: grpc.status.UNAVAILABLE, details: 'etcdserver: no leader' });
  const [ew, cw] = await Promise.all([put(etcd[0]!, false), put(cairn[0]!, false)]);
  for (const r of [ew, cw]) expect(r.code).toBe(grpc.status.DEADLINE_EXCEEDED);
}, 120_000);
