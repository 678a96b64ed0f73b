/**
 * The HTTP endpoints' shapes with stand-in checks: /health (leader, alarms, ?exclude), /livez and
 * /readyz as etcd 3.5 answers them (`ok`; `?verbose`; a failing check → 503 with `[-]name failed:
 * reason`; `?exclude`; one check by path), /metrics, unknown paths and wrong methods.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpHandler, type HttpEndpoints } from './http';

interface Answer {
  status: number;
  body: string;
  contentType: string | undefined;
}

let server: http.Server | undefined;

async function serve(ep: HttpEndpoints): Promise<string> {
  server = http.createServer(createHttpHandler(ep));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  if (server !== undefined) await new Promise((resolve) => server!.close(resolve));
  server = undefined;
});

function get(url: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, contentType: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

const ok = (name: string) => ({ name, run: async () => {} });
const failing = (name: string, reason: string) => ({
  name,
  run: async () => {
    throw new Error(reason);
  },
});

describe('/livez and /readyz', () => {
  const probes = { livez: [ok('serializable_read')], readyz: [ok('data_corruption'), ok('serializable_read'), failing('linearizable_read', 'etcdserver: request timed out')] };

  test('passing checks answer 200 "ok"; ?verbose lists each check and ends with "<kind> check passed"', async () => {
    const base = await serve({ hasLeader: () => true, probes });
    expect(await get(`${base}/livez`)).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(`${base}/livez?verbose`)).toMatchObject({ status: 200, body: '[+]serializable_read ok\nlivez check passed\n' });
  });

  test('a failing check answers 503 with [-]name failed: reason', async () => {
    const base = await serve({ hasLeader: () => true, probes });
    const r = await get(`${base}/readyz?verbose`);
    expect(r.status).toBe(503);
    expect(r.body).toBe('[+]data_corruption ok\n[+]serializable_read ok\n[-]linearizable_read failed: etcdserver: request timed out\nreadyz check failed\n');
  });

  test('?exclude skips a check; /readyz/<name> runs one; an unknown check is 404', async () => {
    const base = await serve({ hasLeader: () => true, probes });
    expect(await get(`${base}/readyz?exclude=linearizable_read`)).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(`${base}/readyz/serializable_read`)).toMatchObject({ status: 200, body: 'ok' });
    expect((await get(`${base}/readyz/linearizable_read`)).status).toBe(503);
    expect((await get(`${base}/readyz/nope`)).status).toBe(404);
  });
});

describe('/health', () => {
  test('true with a leader and no alarm', async () => {
    const base = await serve({ hasLeader: () => true, alarms: async () => [] });
    const r = await get(`${base}/health`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ health: 'true', reason: '' });
  });

  test('false without a leader (503, RAFT NO LEADER)', async () => {
    const base = await serve({ hasLeader: () => false, alarms: async () => [] });
    const r = await get(`${base}/health`);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({ health: 'false', reason: 'RAFT NO LEADER' });
  });

  test('false with an alarm raised, unless ?exclude names it', async () => {
    const base = await serve({ hasLeader: () => true, alarms: async () => ['NOSPACE'] });
    const r = await get(`${base}/health`);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({ health: 'false', reason: 'ALARM NOSPACE' });
    expect((await get(`${base}/health?exclude=NOSPACE`)).status).toBe(200);
  });
});

describe('other paths', () => {
  test('/metrics serves the exposition with its content type', async () => {
    const base = await serve({ hasLeader: () => true, metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', text: '# TYPE x gauge\nx 1\n' }) });
    expect(await get(`${base}/metrics`)).toEqual({ status: 200, body: '# TYPE x gauge\nx 1\n', contentType: 'text/plain; version=0.0.4; charset=utf-8' });
  });

  test('unknown paths are 404; POST to /health is 405; /v3/ without a gateway is 404', async () => {
    const base = await serve({ hasLeader: () => true });
    expect(await get(`${base}/nope`)).toMatchObject({ status: 404, body: '404 page not found\n' });
    expect((await get(`${base}/health`, 'POST')).status).toBe(405);
    expect((await get(`${base}/v3/kv/range`, 'POST')).status).toBe(404);
    expect((await get(`${base}/metrics`)).status).toBe(404);
  });
});
