/**
 * gRPC server metrics of the transport thread, under go-grpc-prometheus's names as etcd exports
 * them: `grpc_server_started_total` and `grpc_server_handled_total` with labels `grpc_type`,
 * `grpc_service`, `grpc_method` (and `grpc_code` for handled). As etcd does, every registered
 * method's series exist from the start at 0.
 *
 * The per-call path only increments plain numbers ({@link MethodCallCounter}); they are moved into
 * prom-client's counters when the registry is scraped, so a call pays no label hashing.
 */
import { Counter, type Registry } from 'prom-client';
import { GRPC_CODE_NAMES, grpcCodeName } from '../../proto/grpc-status';

export type GrpcMethodKind = 'unary' | 'client-stream' | 'server-stream' | 'bidi';

/** go-grpc-prometheus's `grpc_type` label values. */
const GRPC_TYPE: Readonly<Record<GrpcMethodKind, string>> = {
  unary: 'unary',
  'client-stream': 'client_stream',
  'server-stream': 'server_stream',
  bidi: 'bidi_stream',
};

/** Counts the calls of one method: where a call starts and where it ends with a status. */
export interface MethodCallCounter {
  started(): void;
  /** @param code the gRPC status code the call ended with. */
  handled(code: number): void;
}

interface MethodCounts {
  /** In Go's order (sorted by name), so the exposition reads as etcd's. */
  readonly labels: { grpc_method: string; grpc_service: string; grpc_type: string };
  started: number;
  startedReported: number;
  /** By gRPC code; codes past the table's end count as Unknown (2). */
  readonly handled: number[];
  readonly handledReported: number[];
}

/** Splits `/etcdserverpb.KV/Range` into service and method. */
function splitPath(path: string): { service: string; method: string } {
  const slash = path.lastIndexOf('/');
  return { service: path.slice(1, slash), method: path.slice(slash + 1) };
}

export class GrpcMetrics {
  private readonly methods: MethodCounts[] = [];
  private readonly startedTotal: Counter<'grpc_method' | 'grpc_service' | 'grpc_type'>;
  private readonly handledTotal: Counter<'grpc_code' | 'grpc_method' | 'grpc_service' | 'grpc_type'>;

  constructor(registry: Registry) {
    const self = this;
    this.startedTotal = new Counter({
      name: 'grpc_server_started_total',
      help: 'Total number of RPCs started on the server.',
      labelNames: ['grpc_method', 'grpc_service', 'grpc_type'],
      registers: [registry],
      collect() {
        self.report();
      },
    });
    this.handledTotal = new Counter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: ['grpc_code', 'grpc_method', 'grpc_service', 'grpc_type'],
      registers: [registry],
      collect() {
        self.report();
      },
    });
  }

  /** Registers a served method (its series start at 0) and returns its counter. */
  method(path: string, kind: GrpcMethodKind): MethodCallCounter {
    const { service, method } = splitPath(path);
    const counts: MethodCounts = {
      labels: { grpc_method: method, grpc_service: service, grpc_type: GRPC_TYPE[kind] },
      started: 0,
      startedReported: 0,
      handled: GRPC_CODE_NAMES.map(() => 0),
      handledReported: GRPC_CODE_NAMES.map(() => 0),
    };
    this.methods.push(counts);
    this.startedTotal.inc(counts.labels, 0);
    for (const name of GRPC_CODE_NAMES) this.handledTotal.inc({ grpc_code: name, ...counts.labels }, 0);
    return {
      started: () => {
        counts.started++;
      },
      handled: (code) => {
        counts.handled[code >= 0 && code < counts.handled.length ? code : 2]!++;
      },
    };
  }

  /** Moves the counts gathered since the last scrape into the prom-client counters. */
  private report(): void {
    for (const m of this.methods) {
      if (m.started > m.startedReported) {
        this.startedTotal.inc(m.labels, m.started - m.startedReported);
        m.startedReported = m.started;
      }
      for (let code = 0; code < m.handled.length; code++) {
        const delta = m.handled[code]! - m.handledReported[code]!;
        if (delta > 0) {
          this.handledTotal.inc({ grpc_code: grpcCodeName(code), ...m.labels }, delta);
          m.handledReported[code] = m.handled[code]!;
        }
      }
    }
  }
}
