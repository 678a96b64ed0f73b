/**
 * The `--listen-metrics-urls` listener: plain HTTP/1.1 serving `/metrics`, `/health`, `/livez`,
 * `/readyz` and `/version` (no gRPC, no JSON gateway), as etcd's metrics listener does.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HttpHandler } from '../api/listener';

export interface MetricsListener {
  /** The bound port. */
  readonly port: number;
  /** Stops accepting and closes idle connections; resolves when the server is closed. */
  close(): Promise<void>;
}

/** Starts a metrics listener on `host:port` (port 0 picks a free one). */
export function listenMetrics(opts: { host: string; port: number; handler: HttpHandler }): Promise<MetricsListener> {
  const server = http.createServer((req, res) => opts.handler(req, res));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.removeListener('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
