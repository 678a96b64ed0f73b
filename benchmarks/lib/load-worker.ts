/**
 * A load generator thread: owns its share of the connections and clients, waits for `start` so that
 * all threads begin together, runs the closed loop, and posts its result (histogram included).
 * Started by `load.ts`; not meant to be run directly.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runClosedLoop } from './closed-loop';
import { connectAll } from './grpc-client';
import { createWorkload } from './workloads';
import { FromWorker, ToWorker, WorkerPlan } from './load-protocol';

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('load-worker.ts must run in a worker thread');
  const plan = workerData as WorkerPlan;
  const post = (message: FromWorker): void => port.postMessage(message);
  const abort = new AbortController();
  let connections;
  try {
    connections = await connectAll(plan.url, plan.connections, { connectTimeoutMs: plan.connectTimeoutMs });
  } catch (err) {
    post({ type: 'error', message: (err as Error).message });
    return;
  }
  const workload = createWorkload(plan.workload, plan.part);
  const started = new Promise<void>((resolve) => {
    port.on('message', (message: ToWorker) => {
      if (message.type === 'start') resolve();
      else if (message.type === 'stop') abort.abort();
    });
  });
  post({ type: 'connected' });
  await started;
  const result = await runClosedLoop({
    connections,
    clients: plan.clients,
    workload,
    stop: plan.stop,
    warmupMs: plan.warmupMs,
    callTimeoutMs: plan.callTimeoutMs,
    ratePerSec: plan.ratePerSec,
    signal: abort.signal,
    onProgress: (completed) => post({ type: 'progress', completed }),
    onWindowStart: () => post({ type: 'window-start' }),
  });
  await Promise.all(connections.map((c) => c.close()));
  post({ type: 'result', result });
  port.close();
}

main().catch((err: unknown) => {
  parentPort?.postMessage({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies FromWorker);
});
