/**
 * The checks behind `/health`, `/livez` and `/readyz`, as etcd 3.5 defines them. Each check runs a
 * real request through the member thread, bounded by {@link PROBE_TIMEOUT_MS}:
 * - `serializable_read` (livez, readyz): a serializable Range of key `health` is answered;
 * - `linearizable_read` (readyz): a linearizable Range (a ReadIndex round with the leader) is answered;
 * - `data_corruption` (readyz): no CORRUPT alarm is raised.
 */
import { etcdserverpb as pb } from '../../proto';

/** A unary call to the member thread: gRPC status code, response bytes when OK, else the message. */
export type MemberCaller = (path: string, request: Uint8Array) => Promise<CallResult>;

export interface CallResult {
  readonly code: number;
  readonly payload?: Uint8Array;
  readonly message?: string;
}

/** A named check; `run` rejects with the reason it failed. */
export interface HealthCheck {
  readonly name: string;
  run(): Promise<void>;
}

/** Bound on one check, in milliseconds; past it the check fails with "timed out". */
export const PROBE_TIMEOUT_MS = 2_000;

const RANGE = '/etcdserverpb.KV/Range';
const ALARM = '/etcdserverpb.Maintenance/Alarm';
const SERIALIZABLE_RANGE = pb.RangeRequest.encode({ key: Buffer.from('health'), serializable: true }).finish();
const LINEARIZABLE_RANGE = pb.RangeRequest.encode({ key: Buffer.from('health') }).finish();
const ALARM_GET = pb.AlarmRequest.encode({ action: pb.AlarmRequest.AlarmAction.GET }).finish();

function withTimeout<T>(p: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

async function callOk(call: MemberCaller, path: string, request: Uint8Array): Promise<Uint8Array> {
  const r = await withTimeout(call(path, request), PROBE_TIMEOUT_MS);
  if (r.code !== 0) throw new Error(r.message ?? `gRPC status ${r.code}`);
  return r.payload ?? new Uint8Array(0);
}

/** The names of the alarms raised now (`NOSPACE`, `CORRUPT`). */
export async function activeAlarms(call: MemberCaller): Promise<string[]> {
  const resp = pb.AlarmResponse.decode(await callOk(call, ALARM, ALARM_GET));
  return (resp.alarms ?? []).map((a) => pb.AlarmType[a.alarm ?? 0] ?? String(a.alarm));
}

export interface ProbeChecks {
  readonly livez: readonly HealthCheck[];
  readonly readyz: readonly HealthCheck[];
}

/** etcd 3.5's livez and readyz checks, in etcd's order. */
export function probeChecks(call: MemberCaller): ProbeChecks {
  const serializableRead: HealthCheck = { name: 'serializable_read', run: async () => void (await callOk(call, RANGE, SERIALIZABLE_RANGE)) };
  const linearizableRead: HealthCheck = { name: 'linearizable_read', run: async () => void (await callOk(call, RANGE, LINEARIZABLE_RANGE)) };
  const dataCorruption: HealthCheck = {
    name: 'data_corruption',
    run: async () => {
      if ((await activeAlarms(call)).includes('CORRUPT')) throw new Error('Alarm active:CORRUPT');
    },
  };
  return { livez: [serializableRead], readyz: [dataCorruption, serializableRead, linearizableRead] };
}
