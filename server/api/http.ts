/**
 * HTTP/1.1 endpoints on the client URL, shaped as etcd's: `/health` (JSON `health` and `reason`;
 * 503 when the member has no leader), `/version`. Anything else is Go's 404 text.
 */
import type { HttpHandler } from './listener';
import { ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION } from '../version';

export interface HealthSource {
  /** True while the member knows a leader. */
  hasLeader(): boolean;
}

type Response = Parameters<HttpHandler>[1];

function json(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createHttpHandler(health: HealthSource): HttpHandler {
  return (req, res) => {
    const url = req.url ?? '/';
    const pathname = url.split('?', 1)[0];
    if (pathname === '/version') {
      json(res, 200, { etcdserver: ETCD_SERVER_VERSION, etcdcluster: ETCD_CLUSTER_VERSION });
      return;
    }
    if (pathname === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
        res.end('Method Not Allowed\n');
        return;
      }
      if (health.hasLeader()) json(res, 200, { health: 'true', reason: '' });
      else json(res, 503, { health: 'false', reason: 'RAFT NO LEADER' });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
    res.end('404 page not found\n');
  };
}
