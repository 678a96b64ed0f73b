/**
 * The gRPC JSON gateway (`POST /v3/...`, as `curl` users call etcd) on real etcd 3.4 and on Cairn,
 * run side by side with the same requests from fresh data directories, expecting the same answers
 * once values two correct servers legitimately differ in (IDs, raft terms and indexes, sizes,
 * hashes, versions, ports) are normalized: KV put / range / deleterange / txn / compaction, cluster
 * member list, maintenance status / hash / alarm; errors as `{"error","message","code"}` with
 * grpc-gateway's HTTP status; bad input (malformed JSON, wrong types, bad base64) → 400 and
 * nothing changed; unknown path → 404; wrong method → 405.
 */
import * as http from 'node:http';
import { usePair } from './harness/compare';
import type { Member } from './harness/member';

interface Answer {
  status: number;
  body: string;
  json?: unknown;
}

function post(base: string, path: string, body: string | undefined, method = 'POST'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, timeout: 10_000, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, body: text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

const ID_FIELDS = new Set(['cluster_id', 'member_id', 'ID', 'leader']);
const TERM_FIELDS = new Set(['raft_term', 'raftTerm']);
const VARYING_FIELDS = new Set(['raftIndex', 'raftAppliedIndex', 'dbSize', 'dbSizeInUse', 'hash']);

/** Replaces what legitimately differs between two correct servers (see the file comment). */
function normalize(value: unknown, key = '', depth = 0): unknown {
  if (Array.isArray(value)) return key === 'peerURLs' || key === 'clientURLs' ? value.map(() => '<url>') : value.map((v) => normalize(v, '', depth + 1));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v, k, depth + 1)]));
  }
  if (ID_FIELDS.has(key)) return '<id>';
  if (TERM_FIELDS.has(key)) return '<term>';
  if (VARYING_FIELDS.has(key)) return '<n>';
  // Status's server version (depth 1); a key's `version` sits deeper.
  if (key === 'version' && depth === 1 && typeof value === 'string' && value.includes('.')) return '<server-version>';
  return value;
}

const pair = usePair();

/** Sends the same request to both and returns the normalized answers. */
async function both(path: string, body: unknown, method = 'POST'): Promise<{ etcd: unknown; cairn: unknown }> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const [e, c] = await Promise.all([post(pair.etcd.endpoint, path, text, method), post(pair.cairn.endpoint, path, text, method)]);
  const shape = (a: Answer) => ({ status: a.status, body: a.json === undefined ? a.body.trim() : normalize(a.json) });
  return { etcd: shape(e), cairn: shape(c) };
}

async function currentRevision(m: Member): Promise<string> {
  const r = await post(m.endpoint, '/v3/kv/range', JSON.stringify({ key: b64('x') }));
  return (r.json as { header: { revision: string } }).header.revision;
}

describe('cluster and maintenance through the gateway', () => {
  test('member list', async () => {
    const r = await both('/v3/cluster/member/list', {});
    expect(r.cairn).toEqual(r.etcd);
  });

  test('status and hash', async () => {
    for (const path of ['/v3/maintenance/status', '/v3/maintenance/hash']) {
      const r = await both(path, {});
      // Bytes in use are 0 on a fresh Cairn (it counts revision records), and a 0 is left out of
      // the JSON; etcd's bbolt always has pages in use.
      for (const a of [r.etcd, r.cairn] as { body: { dbSizeInUse?: string } }[]) delete a.body.dbSizeInUse;
      expect({ path, answer: r.cairn }).toEqual({ path, answer: r.etcd });
    }
  });

  test('alarm list: no alarms', async () => {
    const r = await both('/v3/maintenance/alarm', { action: 'GET' });
    // etcd 3.4 answers {} (no header); Cairn's Alarm service sends a header: compare the alarms.
    const alarms = (a: unknown) => ({ status: (a as Answer).status, alarms: ((a as Answer).body as { alarms?: unknown }).alarms });
    expect(alarms(r.cairn)).toEqual(alarms(r.etcd));
  });
});

describe('KV through the gateway, etcd vs Cairn', () => {
  test('put, range (value, keys_only, prefix, missing key), as the same JSON', async () => {
    for (const [path, body] of [
      ['/v3/kv/put', { key: b64('gw/a'), value: b64('1') }],
      ['/v3/kv/put', { key: b64('gw/b'), value: b64('2'), prev_kv: true }],
      ['/v3/kv/put', { key: b64('gw/b'), value: b64('3'), prev_kv: true }],
      ['/v3/kv/range', { key: b64('gw/a') }],
      ['/v3/kv/range', { key: b64('gw/'), range_end: b64('gw0'), keys_only: true }],
      ['/v3/kv/range', { key: b64('gw/'), rangeEnd: b64('gw0'), limit: '1', sort_order: 'DESCEND', sort_target: 'KEY' }],
      ['/v3/kv/range', { key: b64('gw/'), range_end: b64('gw0'), count_only: true }],
      ['/v3/kv/range', { key: b64('missing') }],
      ['/v3/kv/range', { key: b64('gw/b'), revision: '2' }],
    ] as const) {
      const r = await both(path, body);
      expect({ path, body, answer: r.cairn }).toEqual({ path, body, answer: r.etcd });
    }
  });

  test('txn (compare on version, success and failure branches, nested range), deleterange with prev_kv', async () => {
    const txn = (version: string) => ({
      compare: [{ key: b64('gw/a'), result: 'EQUAL', target: 'VERSION', version }],
      success: [{ request_put: { key: b64('gw/t'), value: b64('yes') } }, { request_range: { key: b64('gw/a') } }],
      failure: [{ request_range: { key: b64('gw/'), range_end: b64('gw0'), count_only: true } }],
    });
    for (const [path, body] of [
      ['/v3/kv/txn', txn('1')],
      ['/v3/kv/txn', txn('7')],
      ['/v3/kv/txn', { compare: [{ key: b64('gw/t'), target: 'VALUE', result: 'EQUAL', value: b64('yes') }], success: [{ request_delete_range: { key: b64('gw/t'), prev_kv: true } }] }],
      ['/v3/kv/deleterange', { key: b64('gw/'), range_end: b64('gw0'), prev_kv: true }],
      ['/v3/kv/deleterange', { key: b64('gw/nothing') }],
    ] as const) {
      const r = await both(path, body);
      expect({ path, answer: r.cairn }).toEqual({ path, answer: r.etcd });
    }
  });

  test('compaction, then a range and a compaction below it fail as on etcd (code 11, HTTP 400)', async () => {
    const rev = await currentRevision(pair.etcd);
    expect(await currentRevision(pair.cairn)).toBe(rev);
    for (const [path, body] of [
      ['/v3/kv/compaction', { revision: rev, physical: true }],
      ['/v3/kv/compaction', { revision: '2' }],
      ['/v3/kv/range', { key: b64('gw/a'), revision: '2' }],
      ['/v3/kv/range', { key: b64('gw/a'), revision: '999' }],
    ] as const) {
      const r = await both(path, body);
      expect({ path, body, answer: r.cairn }).toEqual({ path, body, answer: r.etcd });
    }
  });

  test('etcd errors keep their text and code: empty key → 400 code 3', async () => {
    const r = await both('/v3/kv/put', { value: b64('v') });
    expect(r.cairn).toEqual(r.etcd);
    expect(r.cairn).toMatchObject({ status: 400, body: { code: 3, error: 'etcdserver: key is not provided' } });
  });
});

describe('leases through the gateway, etcd vs Cairn', () => {
  test('grant with an ID, timetolive with keys, leases, revoke; unknown lease errors', async () => {
    const id = '7000000001';
    const steps: [string, unknown][] = [
      ['/v3/lease/grant', { TTL: '60', ID: id }],
      ['/v3/kv/put', { key: b64('gw-lease/k'), value: b64('v'), lease: id }],
      ['/v3/lease/timetolive', { ID: id, keys: true }],
      ['/v3/lease/revoke', { ID: id }],
      ['/v3/kv/range', { key: b64('gw-lease/k') }],
      ['/v3/lease/revoke', { ID: id }],
      ['/v3/lease/grant', { TTL: '9000000001' }],
    ];
    for (const [path, body] of steps) {
      const r = await both(path, body);
      // The remaining TTL may differ by a second between the two servers.
      const ttl = (a: unknown) => JSON.parse(JSON.stringify(a).replace(/"TTL":"(59|60)"/, '"TTL":"<ttl>"'));
      expect({ path, body, answer: ttl(r.cairn) }).toEqual({ path, body, answer: ttl(r.etcd) });
    }
    const leases = await post(pair.cairn.endpoint, '/v3/lease/leases', '{}');
    expect(leases.status).toBe(200);
  });
});

describe('bad input changes nothing', () => {
  const badBodies: [string, string][] = [
    ['malformed JSON', '{"key":'],
    ['not an object', '[1,2]'],
    ['bytes as a number', '{"key":123}'],
    ['bytes not base64', '{"key":"Zm9v!!"}'],
    ['int64 not an integer', `{"key":"${b64('k')}","value":"${b64('v')}","lease":"abc"}`],
    ['int64 with a fraction', `{"key":"${b64('k')}","lease":1.5}`],
  ];
  test.each(badBodies)('%s → 400 with code 3 (InvalidArgument), revision unchanged', async (_name, body) => {
    const before = [await currentRevision(pair.etcd), await currentRevision(pair.cairn)];
    const r = await both('/v3/kv/put', body);
    for (const a of [r.etcd, r.cairn] as { status: number; body: { code?: number; error?: unknown } }[]) {
      expect(a.status).toBe(400);
      expect(a.body.code).toBe(3);
      expect(typeof a.body.error).toBe('string');
    }
    expect([await currentRevision(pair.etcd), await currentRevision(pair.cairn)]).toEqual(before);
  });

  test('an unknown path is 404; GET on a gateway path is 405', async () => {
    expect(await both('/v3/kv/nothing', {})).toEqual({ etcd: { status: 404, body: 'Not Found' }, cairn: { status: 404, body: 'Not Found' } });
    expect(await both('/v3/kv/range', undefined, 'GET')).toEqual({ etcd: { status: 405, body: 'Method Not Allowed' }, cairn: { status: 405, body: 'Method Not Allowed' } });
  });

  test('an empty body is an empty request (etcd: key is not provided)', async () => {
    const r = await both('/v3/kv/range', '');
    expect(r.cairn).toEqual(r.etcd);
  });
});

describe('gRPC metadata on error answers, as etcd', () => {
  /** Status, whether grpc-metadata-content-type was sent, and the trailers. */
  function metadataOf(base: string, path: string, body: string): Promise<{ status: number; metadataHeader: boolean; trailers: Record<string, string> }> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${base}${path}`, { method: 'POST', timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, metadataHeader: res.headers['grpc-metadata-content-type'] !== undefined, trailers: res.trailers as Record<string, string> }));
      });
      req.on('timeout', () => req.destroy(new Error(`${path}: timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  test.each([
    ['an error the call returned: a Grpc-Trailer-Content-Type trailer', '/v3/kv/put', `{"value":"${b64('v')}"}`, true],
    ['a body that does not decode: no gRPC metadata', '/v3/kv/put', '{"key":', false],
    ['a Lock error (the call is a stream in Cairn)', '/v3/lock/lock', `{"name":"${b64('l')}","lease":"424242"}`, true],
  ])('%s', async (_name, path, body, trailer) => {
    const [e, c] = await Promise.all([metadataOf(pair.etcd.endpoint, path, body), metadataOf(pair.cairn.endpoint, path, body)]);
    expect(c).toEqual(e);
    expect(c.trailers['grpc-trailer-content-type'] !== undefined).toBe(trailer);
  });
});
