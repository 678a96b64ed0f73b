/**
 * The JSON gateway's streaming routes on real etcd 3.4 and on Cairn side by side, with raw HTTP/1.1
 * requests as `curl` sends them, expecting the same answers once what two correct servers
 * legitimately differ in (cluster and member IDs, raft term) is normalized:
 * - `POST /v3/watch`: a stream of `{"result":{...}}` lines that stays open (created, events with
 *   prev_kv, several requests in one body, a progress request, a watch on an empty key);
 * - `POST /v3/lease/keepalive` (also under `/v3beta/`): one answer per request, then the end;
 *   a lease that does not exist is answered without a TTL; an empty body ends at once;
 * - `/v3/lock/lock`, `/v3/lock/unlock`, `/v3/election/{campaign,proclaim,leader,observe,resign}`;
 *   a client that goes away while its lock waits leaves no waiter key;
 * - bad input on every streaming route: malformed JSON (bidi routes: 500 code 2, as grpc-gateway's
 *   decode error is no gRPC status; one-request routes: 400 code 3), wrong types; a bad request
 *   after a good one only stops reading; the server keeps serving;
 * - `grpc_server_*` metrics label Lock and Campaign `unary`, as etcd does.
 */
import * as http from 'node:http';
import { usePair } from './harness/compare';
import type { Member } from './harness/member';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A streaming POST: lines are collected as they arrive; the response may stay open. */
class StreamCall {
  status: number | undefined;
  headers: http.IncomingHttpHeaders = {};
  body = '';
  ended = false;
  private readonly request: http.ClientRequest;
  private waiters: (() => void)[] = [];

  constructor(base: string, path: string, body: string) {
    this.request = http.request(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      this.status = res.statusCode;
      this.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        this.body += c;
        this.wake();
      });
      res.on('end', () => {
        this.ended = true;
        this.wake();
      });
      res.on('error', () => undefined);
      this.wake();
    });
    this.request.on('error', () => {
      this.ended = true;
      this.wake();
    });
    this.request.end(body);
  }

  /** Complete lines so far, parsed. */
  get lines(): unknown[] {
    return this.body
      .split('\n')
      .slice(0, -1)
      .map((l) => JSON.parse(l) as unknown);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits until `done()` holds or `ms` pass; returns whether it holds. */
  waitFor(done: () => boolean, ms = 5_000): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(done()), ms);
      const check = (): void => {
        if (done()) {
          clearTimeout(timer);
          resolve(true);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  abort(): void {
    this.request.destroy();
  }
}

function post(base: string, path: string, body: string): Promise<{ status: number; json: unknown; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method: 'POST', timeout: 10_000, headers: { 'content-type': 'application/json' } }, (res) => {
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
        resolve({ status: res.statusCode!, json, body: text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** What differs between two correct servers: IDs and the raft term. */
function normalize(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => normalize(v));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v, k)]));
  if (key === 'cluster_id' || key === 'member_id') return '<id>';
  if (key === 'raft_term') return '<term>';
  return value;
}

const pair = usePair();

/** The same unary request to both; normalized answers. */
async function both(path: string, body: unknown): Promise<{ etcd: unknown; cairn: unknown }> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const [e, c] = await Promise.all([post(pair.etcd.endpoint, path, text), post(pair.cairn.endpoint, path, text)]);
  const shape = (a: { status: number; json: unknown; body: string }) => ({ status: a.status, body: a.json === undefined ? a.body : normalize(a.json) });
  return { etcd: shape(e), cairn: shape(c) };
}

/** Opens the same streaming call on both. */
function bothStreams(path: string, body: unknown): { etcd: StreamCall; cairn: StreamCall; all: StreamCall[] } {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const e = new StreamCall(pair.etcd.endpoint, path, text);
  const c = new StreamCall(pair.cairn.endpoint, path, text);
  return { etcd: e, cairn: c, all: [e, c] };
}

function shapeOf(s: StreamCall): { status: number | undefined; contentType: string | undefined; lines: unknown[]; ended: boolean } {
  return { status: s.status, contentType: s.headers['content-type'], lines: normalize(s.lines) as unknown[], ended: s.ended };
}

async function serverStillServes(): Promise<void> {
  const r = await both('/v3/kv/range', { key: b64('nothing-here') });
  expect(r.cairn).toEqual(r.etcd);
  expect((r.cairn as { status: number }).status).toBe(200);
  expect(pair.cairn.running()).toBe(true);
}

describe('watch', () => {
  test('created, then put / put / delete with prev_kv as result lines; the response stays open', async () => {
    const key = b64('gs/watch/a');
    const s = bothStreams('/v3/watch', { create_request: { key, prev_kv: true } });
    try {
      for (const c of s.all) expect(await c.waitFor(() => c.lines.length >= 1)).toBe(true);
      for (const [path, body] of [
        ['/v3/kv/put', { key, value: b64('1') }],
        ['/v3/kv/put', { key, value: b64('2') }],
        ['/v3/kv/deleterange', { key }],
      ] as const) {
        const r = await both(path, body);
        expect(r.cairn).toEqual(r.etcd);
      }
      for (const c of s.all) expect(await c.waitFor(() => c.lines.length >= 4)).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
      expect(shapeOf(s.cairn)).toEqual(shapeOf(s.etcd));
      expect(shapeOf(s.cairn)).toMatchObject({ status: 200, contentType: 'application/json', ended: false });
      expect(s.cairn.lines).toHaveLength(4);
      expect(s.cairn.headers['grpc-metadata-content-type']).toBe('application/grpc');
    } finally {
      for (const c of s.all) c.abort();
    }
  });

  test('several requests in one body (two creates, a progress request); a watch on an empty key is created', async () => {
    const body = `{"create_request":{"key":"${b64('gs/w1')}"}}\n{"create_request":{"key":"${b64('gs/w2')}","start_revision":"1"}} {"progress_request":{}}`;
    for (const [text, lines] of [
      [body, 3],
      [JSON.stringify({ create_request: { key: '' } }), 1],
    ] as const) {
      const s = bothStreams('/v3/watch', text);
      try {
        for (const c of s.all) expect(await c.waitFor(() => c.lines.length >= lines)).toBe(true);
        await new Promise((r) => setTimeout(r, 200));
        expect({ text, answer: shapeOf(s.cairn) }).toEqual({ text, answer: shapeOf(s.etcd) });
      } finally {
        for (const c of s.all) c.abort();
      }
    }
  });

  test('a request that does not decode after a good one stops reading the body; the watch stays', async () => {
    const s = bothStreams('/v3/watch', `{"create_request":{"key":"${b64('gs/w3')}"}} {"create_request":`);
    try {
      for (const c of s.all) expect(await c.waitFor(() => c.lines.length >= 1)).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(shapeOf(s.cairn)).toEqual(shapeOf(s.etcd));
      expect(s.cairn.ended).toBe(false);
    } finally {
      for (const c of s.all) c.abort();
    }
  });

  test('an empty body sends nothing yet and stays open (headers come with the first message)', async () => {
    const s = bothStreams('/v3/watch', '');
    try {
      await new Promise((r) => setTimeout(r, 500));
      for (const c of s.all) expect({ status: c.status, body: c.body, ended: c.ended }).toEqual({ status: undefined, body: '', ended: false });
    } finally {
      for (const c of s.all) c.abort();
    }
  });
});

describe('lease keep-alive', () => {
  test('one answer per request, then the end; an unknown lease has no TTL; /v3beta too', async () => {
    const r = await both('/v3/lease/grant', { TTL: '60', ID: '7100' });
    expect(r.cairn).toEqual(r.etcd);
    for (const [path, body] of [
      ['/v3/lease/keepalive', '{"ID":"7100"}{"ID":"7199"}'],
      ['/v3beta/lease/keepalive', '{"ID":"7100"}'],
      ['/v3/lease/keepalive', '{}'],
      ['/v3/lease/keepalive', ''],
    ] as const) {
      const s = bothStreams(path, body);
      for (const c of s.all) expect(await c.waitFor(() => c.ended)).toBe(true);
      expect({ path, body, answer: shapeOf(s.cairn) }).toEqual({ path, body, answer: shapeOf(s.etcd) });
      expect(s.cairn.status).toBe(200);
    }
  });
});

describe('lock and election', () => {
  test('lock, unlock; campaign, leader, proclaim, observe, resign; and their errors, as etcd', async () => {
    for (const id of ['7200', '7201']) {
      const r = await both('/v3/lease/grant', { TTL: '60', ID: id });
      expect(r.cairn).toEqual(r.etcd);
    }
    const name = b64('gs-lock');
    const lock = await both('/v3/lock/lock', { name, lease: '7200' });
    expect(lock.cairn).toEqual(lock.etcd);
    const lockKey = ((lock.cairn as { body: { key: string } }).body).key;
    const election = b64('gs-election');
    const steps: [string, unknown][] = [
      ['/v3/lock/lock', { name, lease: '99999' }],
      ['/v3/lock/unlock', { key: lockKey }],
      ['/v3/lock/unlock', {}],
      ['/v3/election/leader', { name: election }],
      ['/v3/election/campaign', { name: election, lease: '7201', value: b64('v1') }],
      ['/v3/election/leader', { name: election }],
      ['/v3/election/campaign', { name: election, lease: '99999', value: b64('v1') }],
      ['/v3/election/proclaim', {}],
      ['/v3/election/resign', {}],
    ];
    for (const [path, body] of steps) {
      const r = await both(path, body);
      expect({ path, body, answer: r.cairn }).toEqual({ path, body, answer: r.etcd });
    }
    const campaign = (await post(pair.cairn.endpoint, '/v3/election/leader', JSON.stringify({ name: election }))).json as { kv: { key: string; create_revision: string } };
    const leader = { name: election, key: campaign.kv.key, rev: campaign.kv.create_revision, lease: '7201' };
    const proclaim = await both('/v3/election/proclaim', { leader, value: b64('v2') });
    expect(proclaim.cairn).toEqual(proclaim.etcd);
    const observe = bothStreams('/v3/election/observe', { name: election });
    try {
      for (const c of observe.all) expect(await c.waitFor(() => c.lines.length >= 1)).toBe(true);
      expect(shapeOf(observe.cairn)).toEqual(shapeOf(observe.etcd));
      expect(observe.cairn.ended).toBe(false);
    } finally {
      for (const c of observe.all) c.abort();
    }
    const resign = await both('/v3/election/resign', { leader });
    expect(resign.cairn).toEqual(resign.etcd);
    const none = await both('/v3/election/leader', { name: election });
    expect(none.cairn).toEqual(none.etcd);
    expect(none.cairn).toMatchObject({ status: 500, body: { error: 'election: no leader', code: 2 } });
  });

  test('a client that goes away while its lock waits leaves no waiter key', async () => {
    for (const id of ['7300', '7301']) {
      const r = await both('/v3/lease/grant', { TTL: '60', ID: id });
      expect(r.cairn).toEqual(r.etcd);
    }
    const name = b64('gs-wait');
    const held = await both('/v3/lock/lock', { name, lease: '7300' });
    expect(held.cairn).toEqual(held.etcd);
    const waiting = bothStreams('/v3/lock/lock', { name, lease: '7301' });
    // Both waiters exist, then their clients go away.
    const prefix = { key: b64('gs-wait/'), range_end: b64('gs-wait0'), keys_only: true };
    for (let i = 0; i < 50; i++) {
      const r = await both('/v3/kv/range', prefix);
      if ([r.etcd, r.cairn].every((a) => (a as { body: { count?: string } }).body.count === '2')) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    for (const c of waiting.all) expect(c.status).toBeUndefined();
    for (const c of waiting.all) c.abort();
    let r = await both('/v3/kv/range', prefix);
    for (let i = 0; i < 50 && [r.etcd, r.cairn].some((a) => (a as { body: { count?: string } }).body.count !== '1'); i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await both('/v3/kv/range', prefix);
    }
    expect(r.cairn).toEqual(r.etcd);
    expect((r.cairn as { body: { count: string } }).body.count).toBe('1');
  });
});

describe('bad input on the streaming routes', () => {
  const bidi = ['/v3/watch', '/v3/lease/keepalive'];
  const oneRequest = ['/v3/lock/lock', '/v3/lock/unlock', '/v3/election/campaign', '/v3/election/proclaim', '/v3/election/leader', '/v3/election/observe', '/v3/election/resign'];

  test.each(bidi)('%s: malformed JSON → 500 code 2 "unexpected EOF", as etcd', async (path) => {
    const r = await both(path, '{"x":');
    expect(r.cairn).toEqual(r.etcd);
    expect(r.cairn).toEqual({ status: 500, body: { error: 'unexpected EOF', message: 'unexpected EOF', code: 2 } });
  });

  test.each(oneRequest)('%s: malformed JSON → 400 code 3 "unexpected EOF", as etcd', async (path) => {
    const r = await both(path, '{"name":');
    expect(r.cairn).toEqual(r.etcd);
    expect(r.cairn).toEqual({ status: 400, body: { error: 'unexpected EOF', message: 'unexpected EOF', code: 3 } });
  });

  test.each([
    ['/v3/watch', '[1]', 500, 2],
    ['/v3/watch', '{"create_request":{"key":123}}', 500, 2],
    ['/v3/lease/keepalive', '{"ID":"abc"}', 500, 2],
    ['/v3/lease/keepalive', '{"ID":{}}', 500, 2],
    ['/v3/election/observe', '{"name":5}', 400, 3],
    ['/v3/lock/lock', '{"name":true}', 400, 3],
    ['/v3/election/campaign', '{"lease":"x"}', 400, 3],
  ] as const)('%s %s → %i code %i, as etcd (Go words its message differently)', async (path, body, status, code) => {
    const r = await both(path, body);
    for (const a of [r.etcd, r.cairn] as { status: number; body: { code?: number; error?: unknown } }[]) {
      expect({ status: a.status, code: a.body.code, error: typeof a.body.error }).toEqual({ status, code, error: 'string' });
    }
  });

  test('after all of it the server keeps serving', async () => {
    await serverStillServes();
  });
});

test('grpc_server_* metrics: Lock and Campaign are unary, Observe a server stream, Watch and keep-alive bidi streams, as etcd', async () => {
  const types = async (m: Member): Promise<Record<string, string>> => {
    const text = await (await fetch(`${m.endpoint}/metrics`)).text();
    const out: Record<string, string> = {};
    for (const match of text.matchAll(/^grpc_server_started_total\{grpc_method="(\w+)",grpc_service="([\w.]+)",grpc_type="(\w+)"\}/gm)) {
      if (/^(etcdserverpb|v3lockpb|v3electionpb)\./.test(match[2]!) && /^(Lock|Unlock|Campaign|Proclaim|Leader|Observe|Resign|Watch|LeaseKeepAlive)$/.test(match[1]!)) out[`${match[2]}/${match[1]}`] = match[3]!;
    }
    return out;
  };
  // etcd shows a v3lock / v3election method's series once it was called (its gateway calls its own
  // gRPC server, so these count).
  for (const path of ['/v3/lock/lock', '/v3/election/campaign']) await both(path, { name: b64('gs-metrics'), lease: '99998' });
  const [e, c] = await Promise.all([types(pair.etcd), types(pair.cairn)]);
  expect(Object.keys(e)).toEqual(expect.arrayContaining(['v3lockpb.Lock/Lock', 'v3electionpb.Election/Campaign', 'etcdserverpb.Watch/Watch']));
  for (const method of Object.keys(e)) expect({ method, type: c[method] }).toEqual({ method, type: e[method] });
  expect(c['v3lockpb.Lock/Lock']).toBe('unary');
  expect(c['v3electionpb.Election/Campaign']).toBe('unary');
});

test('clients that go away end their streams in the member: watches, keep-alives, observes, lock waiters', async () => {
  const gauge = async (name: string): Promise<number | undefined> => {
    const text = await (await fetch(`${pair.cairn.endpoint}/metrics`)).text();
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    return m === null ? undefined : Number(m[1]);
  };
  const open = async (): Promise<number> => {
    const n = await gauge('cairn_bridge_streams_open');
    if (n === undefined) throw new Error('cairn_bridge_streams_open is not exported');
    return n;
  };
  const before = await open();
  // The member's own count of watchers, where the member exports it.
  const watchersBefore = await gauge('etcd_debugging_mvcc_watcher_total');
  const r = await post(pair.cairn.endpoint, '/v3/lease/grant', JSON.stringify({ TTL: '60', ID: '7400' }));
  expect(r.status).toBe(200);
  await post(pair.cairn.endpoint, '/v3/lock/lock', JSON.stringify({ name: b64('gs-leak'), lease: '7400' }));
  const calls: StreamCall[] = [];
  for (let i = 0; i < 10; i++) calls.push(new StreamCall(pair.cairn.endpoint, '/v3/watch', JSON.stringify({ create_request: { key: b64(`gs-leak/${i}`) } })));
  // A keep-alive whose body never ends (it stays open), an observe with no leader, a waiting lock.
  const chunked = http.request(`${pair.cairn.endpoint}/v3/lease/keepalive`, { method: 'POST', headers: { 'content-type': 'application/json' } });
  chunked.on('error', () => undefined);
  chunked.write('{"ID":"7400"}');
  calls.push(new StreamCall(pair.cairn.endpoint, '/v3/election/observe', JSON.stringify({ name: b64('gs-leak-none') })));
  calls.push(new StreamCall(pair.cairn.endpoint, '/v3/lock/lock', JSON.stringify({ name: b64('gs-leak'), lease: '0' })));
  for (const c of calls.slice(0, 10)) expect(await c.waitFor(() => c.lines.length >= 1)).toBe(true);
  let during = await open();
  for (let i = 0; i < 50 && during < before + 13; i++) {
    await new Promise((res) => setTimeout(res, 100));
    during = await open();
  }
  expect(during).toBe(before + 13);
  if (watchersBefore !== undefined) expect(await gauge('etcd_debugging_mvcc_watcher_total')).toBe(watchersBefore + 10);
  for (const c of calls) c.abort();
  chunked.destroy();
  let after = await open();
  for (let i = 0; i < 50 && after !== before; i++) {
    await new Promise((res) => setTimeout(res, 100));
    after = await open();
  }
  expect(after).toBe(before);
  if (watchersBefore !== undefined) expect(await gauge('etcd_debugging_mvcc_watcher_total')).toBe(watchersBefore);
  expect((await post(pair.cairn.endpoint, '/v3/kv/range', JSON.stringify({ key: b64('gs-leak/0') }))).status).toBe(200);
  expect(pair.cairn.running()).toBe(true);
});
