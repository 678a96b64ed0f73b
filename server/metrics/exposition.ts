/**
 * `/metrics` for the whole process. The transport thread keeps its own registry (gRPC call
 * counters, process and Node.js default metrics, server identity); the member thread keeps one for
 * what lives there (server/metrics/member-metrics.ts) and answers its text through the internal
 * method {@link MEMBER_METRICS_PATH}. A scrape concatenates both texts: the metric names are
 * disjoint, so the result is one valid exposition.
 */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { GrpcMetrics } from './grpc-metrics';
import { MEMBER_METRICS_PATH } from './member-metrics';
import type { MemberCaller } from './health';

export interface ExpositionOptions {
  /** Reaches the member thread. */
  readonly call: MemberCaller;
  /** This member's ID, hex (etcd_server_id's label). */
  readonly memberIdHex: string;
  /** The etcd server version Cairn reports (etcd_server_version's label). */
  readonly serverVersion: string;
  /** The call bridge to the member thread (server/api/bridge.ts), for its occupancy gauges. */
  readonly bridge?: { readonly openStreams: number; readonly inFlight: number };
}

export class MetricsExposition {
  readonly registry = new Registry();
  readonly grpc: GrpcMetrics;
  private readonly call: MemberCaller;

  constructor(opts: ExpositionOptions) {
    this.call = opts.call;
    collectDefaultMetrics({ register: this.registry });
    this.grpc = new GrpcMetrics(this.registry);
    const registers = [this.registry];
    new Gauge({ name: 'etcd_server_version', help: "Which version is running. 1 for 'server_version' label with current version.", labelNames: ['server_version'], registers }).set({ server_version: opts.serverVersion }, 1);
    const bridge = opts.bridge;
    if (bridge !== undefined) {
      // Cairn's own: streams (gRPC and JSON gateway) and unary calls open between the threads.
      new Gauge({
        name: 'cairn_bridge_streams_open',
        help: 'Streaming calls (gRPC and JSON gateway) open between the transport and member threads.',
        registers,
        collect() {
          this.set(bridge.openStreams);
        },
      });
      new Gauge({
        name: 'cairn_bridge_calls_in_flight',
        help: 'Unary calls waiting for the member thread.',
        registers,
        collect() {
          this.set(bridge.inFlight);
        },
      });
    }
    new Gauge({ name: 'etcd_server_id', help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", labelNames: ['server_id'], registers }).set({ server_id: opts.memberIdHex }, 1);
  }

  /** Both threads' metrics as one Prometheus text exposition. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    const [own, member] = await Promise.all([this.registry.metrics(), this.memberText()]);
    return { contentType: this.registry.contentType, text: own + member };
  }

  private async memberText(): Promise<string> {
    const r = await this.call(MEMBER_METRICS_PATH, new Uint8Array(0));
    // A member that cannot answer leaves its metrics out of this scrape rather than failing it.
    if (r.code !== 0 || r.payload === undefined) return `# member thread metrics unavailable: ${(r.message ?? '').replace(/\n/g, ' ')}\n`;
    return Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength).toString('utf8');
  }
}
