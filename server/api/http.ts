/**
 * HTTP/1.1 endpoints, shaped as etcd's, on the client URLs and on `--listen-metrics-urls`:
 * - `/health`: JSON `health` and `reason`; 503 without a leader or with an alarm raised
 *   (`?exclude=NOSPACE` ignores that alarm, as etcd 3.5).
 * - `/livez`, `/readyz` (etcd 3.5): `ok`, or with `?verbose` one `[+]name ok` line per check and
 *   `livez check passed`; a failing check makes it 503 with `[-]name failed: reason` lines and
 *   `readyz check failed`. `?exclude=name` skips a check; `/readyz/<name>` runs one.
 * - `/metrics`: Prometheus text of both threads (server/metrics/).
 * - `/version`.
 * - `/v3/...`, `/v3beta/...`: the JSON gateway (client URLs only; server/api/gateway.ts).
 * Anything else is Go's 404 text.
 */
import type { HttpHandler } from './listener';
import { ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION } from '../version';
import type { HealthCheck, ProbeChecks } from '../metrics/health';

export interface HttpEndpoints {
  /** True while the member knows a leader. */
  hasLeader(): boolean;
  /** The names of raised alarms (e.g. `NOSPACE`); absent: alarms are not checked. */
  alarms?(): Promise<string[]>;
  /** livez / readyz checks; absent: those paths are 404. */
  readonly probes?: ProbeChecks;
  /** Prometheus exposition text; absent: `/metrics` is 404. */
  metrics?(): Promise<{ contentType: string; text: string }>;
  /** The JSON gateway for `/v3/` and `/v3beta/` paths; absent: 404. */
  readonly gateway?: HttpHandler;
}

/** Kept for callers that only know about leadership. */
export type HealthSource = Pick<HttpEndpoints, 'hasLeader'>;

type Response = Parameters<HttpHandler>[1];

function json(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function text(res: Response, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff' });
  res.end(body);
}

function notFound(res: Response): void {
  text(res, 404, '404 page not found\n');
}

function methodNotAllowed(res: Response): void {
  res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
  res.end('Method Not Allowed\n');
}

async function health(ep: HttpEndpoints, query: URLSearchParams): Promise<{ ok: boolean; reason: string }> {
  if (ep.alarms !== undefined) {
    const excluded = new Set(query.getAll('exclude'));
    let alarms: string[];
    try {
      alarms = await ep.alarms();
    } catch (err) {
      return { ok: false, reason: `ALARM ERROR: ${err instanceof Error ? err.message : String(err)}` };
    }
    const raised = alarms.filter((a) => !excluded.has(a));
    if (raised.length > 0) return { ok: false, reason: `ALARM ${raised[0]}` };
  }
  if (!ep.hasLeader()) return { ok: false, reason: 'RAFT NO LEADER' };
  return { ok: true, reason: '' };
}

/** Runs `checks` (all but the excluded) and answers as etcd 3.5's livez/readyz handlers do. */
async function probe(res: Response, kind: 'livez' | 'readyz', checks: readonly HealthCheck[], query: URLSearchParams): Promise<void> {
  const excluded = new Set(query.getAll('exclude'));
  const verbose = query.has('verbose');
  const selected = checks.filter((c) => !excluded.has(c.name));
  const results = await Promise.all(
    selected.map((c) =>
      c.run().then(
        () => `[+]${c.name} ok\n`,
        (err: unknown) => `[-]${c.name} failed: ${err instanceof Error ? err.message : String(err)}\n`,
      ),
    ),
  );
  const failed = results.some((line) => line.startsWith('[-]'));
  if (failed) {
    text(res, 503, `${results.join('')}${kind} check failed\n`);
  } else if (verbose) {
    text(res, 200, `${results.join('')}${kind} check passed\n`);
  } else {
    text(res, 200, 'ok');
  }
}

export function createHttpHandler(ep: HttpEndpoints): HttpHandler {
  const serve = async (req: Parameters<HttpHandler>[0], res: Response): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const pathname = url.pathname;
    if (ep.gateway !== undefined && (pathname.startsWith('/v3/') || pathname.startsWith('/v3beta/'))) {
      ep.gateway(req, res);
      return;
    }
    const probeMatch = /^\/(livez|readyz)(?:\/([^/]+))?$/.exec(pathname);
    const known = pathname === '/version' || pathname === '/health' || (pathname === '/metrics' && ep.metrics !== undefined) || (probeMatch !== null && ep.probes !== undefined);
    if (!known) {
      notFound(res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      methodNotAllowed(res);
      return;
    }
    if (pathname === '/version') {
      json(res, 200, { etcdserver: ETCD_SERVER_VERSION, etcdcluster: ETCD_CLUSTER_VERSION });
    } else if (pathname === '/health') {
      const h = await health(ep, url.searchParams);
      json(res, h.ok ? 200 : 503, { health: String(h.ok), reason: h.reason });
    } else if (pathname === '/metrics') {
      const m = await ep.metrics!();
      text(res, 200, m.text, m.contentType);
    } else {
      const kind = probeMatch![1] as 'livez' | 'readyz';
      const all = ep.probes![kind];
      const one = probeMatch![2];
      if (one === undefined) {
        await probe(res, kind, all, url.searchParams);
        return;
      }
      const check = all.find((c) => c.name === one);
      if (check === undefined) notFound(res);
      else await probe(res, kind, [check], url.searchParams);
    }
  };
  return (req, res) => {
    serve(req, res).catch((err: unknown) => {
      if (!res.headersSent) text(res, 500, `${err instanceof Error ? err.message : String(err)}\n`);
      else res.end();
    });
  };
}
