/** The messages between the load coordinator (`load.ts`) and its generator threads (`load-worker.ts`). */
import { LoadResult, StopCondition } from './closed-loop';
import { WorkloadPart, WorkloadSpec } from './workloads';

/** One thread's share of a load (its `workerData`). */
export interface WorkerPlan {
  /** This thread's endpoints: its connection i goes to url[i mod N]. */
  url: string[];
  connections: number;
  clients: number;
  workload: WorkloadSpec;
  part: WorkloadPart;
  stop: StopCondition;
  warmupMs: number;
  callTimeoutMs: number;
  connectTimeoutMs: number;
  /** Open loop: this thread's fixed rate, requests per second. */
  ratePerSec?: number;
}

export type ToWorker = { type: 'start' } | { type: 'stop' };

export type FromWorker =
  | { type: 'connected' }
  | { type: 'window-start' }
  | { type: 'progress'; completed: number }
  | { type: 'result'; result: LoadResult }
  | { type: 'error'; message: string };
