/**
 * The HTTP surface outside the gateway, on a real Cairn and a real etcd 3.4: `/metrics` exposes
 * etcd's metric names with etcd's types (and go-grpc-prometheus's call counters with their labels),
 * `/health`, etcd 3.5's `/livez` and `/readyz` (Cairn only: etcd 3.4 has none), and the
 * `--listen-metrics-urls` listener, which serves those endpoints and not the gateway or gRPC.
 */
import * as http from 'node:http';
import { startMember, type Member } from './harness/member';
import { freePort } from './harness/ports';
import { etcdctl } from './harness/etcdctl';

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function request(url: string, options: { method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** `# TYPE name type` lines of an exposition, as a map. */
function metricTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  return types;
}

/** The value of the sample `name{labels}` whose labels include all of `labels` (any order). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}

/** The metrics Cairn exports under etcd's names; their types must be etcd's. */
const ETCD_METRICS = [
  'etcd_server_has_leader',
  'etcd_server_is_leader',
  'etcd_server_is_learner',
  'etcd_server_leader_changes_seen_total',
  'etcd_server_proposals_committed_total',
  'etcd_server_proposals_applied_total',
  'etcd_server_proposals_pending',
  'etcd_server_proposals_failed_total',
  'etcd_server_version',
  'etcd_server_id',
  'etcd_disk_wal_fsync_duration_seconds',
  'etcd_disk_backend_commit_duration_seconds',
  'etcd_mvcc_db_total_size_in_bytes',
  'etcd_mvcc_db_total_size_in_use_in_bytes',
  'etcd_debugging_mvcc_db_total_size_in_bytes',
  'etcd_debugging_mvcc_keys_total',
  'grpc_server_started_total',
  'grpc_server_handled_total',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'process_start_time_seconds',
  'process_open_fds',
  'process_max_fds',
  'process_virtual_memory_bytes',
];

const onEtcd = process.env.CAIRN_TEST_SUBJECT === 'etcd';
/** etcd 3.4 has no /livez or /readyz: those cases run on Cairn only. */
const cairnOnly = onEtcd ? test.skip : test;

let etcd: Member;
let cairn: Member;
let etcdMetricsUrl: string;
let cairnMetricsUrl: string;

beforeAll(async () => {
  const [etcdPort, cairnPort] = [await freePort(), await freePort()];
  etcdMetricsUrl = `http://127.0.0.1:${etcdPort}`;
  cairnMetricsUrl = `http://127.0.0.1:${cairnPort}`;
  [etcd, cairn] = await Promise.all([
    startMember({ kind: 'etcd', flags: [`--listen-metrics-urls=${etcdMetricsUrl}`] }),
    startMember({ kind: 'cairn', flags: [`--listen-metrics-urls=${cairnMetricsUrl}`] }),
  ]);
  for (const m of [etcd, cairn]) {
    const r = await etcdctl(m.endpoint, ['put', 'metrics-key', 'v']);
    expect(r.code).toBe(0);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all([etcd?.cleanup(), cairn?.cleanup()]);
});

describe('/metrics', () => {
  test("exports etcd's metric names with etcd 3.4's types", async () => {
    const [e, c] = await Promise.all([request(`${etcd.endpoint}/metrics`), request(`${cairn.endpoint}/metrics`)]);
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const etcdTypes = metricTypes(e.body);
    const cairnTypes = metricTypes(c.body);
    const pick = (types: Map<string, string>) => Object.fromEntries(ETCD_METRICS.map((n) => [n, types.get(n)]));
    expect(pick(cairnTypes)).toEqual(pick(etcdTypes));
  });

  test('server state: a leader, this member, proposals applied', async () => {
    const { body } = await request(`${cairn.endpoint}/metrics`);
    expect(sample(body, 'etcd_server_has_leader')).toBe(1);
    expect(sample(body, 'etcd_server_is_leader')).toBe(1);
    expect(sample(body, 'etcd_server_leader_changes_seen_total')).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'etcd_server_proposals_applied_total')).toBeGreaterThanOrEqual(2);
    expect(sample(body, 'etcd_server_proposals_committed_total')).toBeGreaterThanOrEqual(sample(body, 'etcd_server_proposals_applied_total')!);
    expect(sample(body, 'etcd_server_proposals_pending')).toBe(0);
    expect(sample(body, 'etcd_server_proposals_failed_total')).toBe(0);
    expect(sample(body, 'etcd_debugging_mvcc_keys_total')).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'etcd_mvcc_db_total_size_in_bytes')).toBeGreaterThan(0);
    expect(sample(body, 'etcd_disk_wal_fsync_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'etcd_disk_wal_fsync_duration_seconds_bucket', { le: '+Inf' })).toBe(sample(body, 'etcd_disk_wal_fsync_duration_seconds_count'));
    expect(sample(body, 'etcd_disk_backend_commit_duration_seconds_bucket', { le: '8.192' })).toBeDefined();
  });

  test('gRPC calls are counted with the labels go-grpc-prometheus gives them', async () => {
    for (const m of [etcd, cairn]) {
      const before = await request(`${m.endpoint}/metrics`);
      const put = { grpc_method: 'Put', grpc_service: 'etcdserverpb.KV', grpc_type: 'unary' };
      const range = { grpc_method: 'Range', grpc_service: 'etcdserverpb.KV', grpc_type: 'unary' };
      expect((await etcdctl(m.endpoint, ['put', 'metrics-key', 'w'])).code).toBe(0);
      expect((await etcdctl(m.endpoint, ['get', 'metrics-key', '--rev=999999'])).code).not.toBe(0);
      const after = await request(`${m.endpoint}/metrics`);
      const delta = (name: string, labels: Record<string, string>) => (sample(after.body, name, labels) ?? NaN) - (sample(before.body, name, labels) ?? 0);
      expect({
        kind: m.binaryKind,
        putStarted: delta('grpc_server_started_total', put),
        putOk: delta('grpc_server_handled_total', { ...put, grpc_code: 'OK' }),
        rangeOutOfRange: delta('grpc_server_handled_total', { ...range, grpc_code: 'OutOfRange' }),
      }).toEqual({ kind: m.binaryKind, putStarted: 1, putOk: 1, rangeOutOfRange: 1 });
      // Series exist before any call, at 0 (grpc-prometheus's InitializeMetrics).
      expect(sample(after.body, 'grpc_server_handled_total', { grpc_method: 'Compact', grpc_service: 'etcdserverpb.KV', grpc_type: 'unary', grpc_code: 'DataLoss' })).toBe(0);
    }
  });

  test('process metrics are exported (and Node.js runtime metrics on Cairn)', async () => {
    const { body } = await request(`${cairn.endpoint}/metrics`);
    expect(sample(body, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    if (!onEtcd) expect(metricTypes(body).get('nodejs_heap_size_used_bytes')).toBe('gauge');
  });
});

describe('/health', () => {
  test('"true" with a leader, on the client URL and the metrics URL', async () => {
    for (const url of [etcd.endpoint, etcdMetricsUrl, cairn.endpoint, cairnMetricsUrl]) {
      const r = await request(`${url}/health`);
      expect({ url, status: r.status, health: JSON.parse(r.body).health }).toEqual({ url, status: 200, health: 'true' });
    }
  });
});

describe('/livez and /readyz (etcd 3.5)', () => {
  cairnOnly('answer "ok", and with ?verbose list each check', async () => {
    expect(await request(`${cairn.endpoint}/livez`)).toMatchObject({ status: 200, body: 'ok' });
    expect(await request(`${cairn.endpoint}/readyz`)).toMatchObject({ status: 200, body: 'ok' });
    expect((await request(`${cairn.endpoint}/livez?verbose`)).body).toBe('[+]serializable_read ok\nlivez check passed\n');
    expect((await request(`${cairn.endpoint}/readyz?verbose`)).body).toBe('[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nreadyz check passed\n');
  });

  cairnOnly('are served on the metrics URL too', async () => {
    expect(await request(`${cairnMetricsUrl}/readyz`)).toMatchObject({ status: 200, body: 'ok' });
    expect(await request(`${cairnMetricsUrl}/livez`)).toMatchObject({ status: 200, body: 'ok' });
  });
});

describe('the metrics listener', () => {
  test('serves /metrics and /health but neither the JSON gateway nor unknown paths', async () => {
    for (const url of [etcdMetricsUrl, cairnMetricsUrl]) {
      const m = await request(`${url}/metrics`);
      expect(m.status).toBe(200);
      expect(metricTypes(m.body).get('etcd_server_has_leader')).toBe('gauge');
      expect((await request(`${url}/v3/kv/range`, { method: 'POST', body: '{"key":"Zm9v"}' })).status).toBe(404);
      expect((await request(`${url}/nope`)).status).toBe(404);
    }
  });
});
