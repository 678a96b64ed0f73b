/**
 * Runs a closed-loop load against an endpoint, in this thread or spread over worker threads (each
 * owning some of the connections and clients), and merges the threads' results. Also measures what
 * the generator itself costs: process CPU (all threads) per completed call.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { LoadResult, mergeLoadResults, runClosedLoop, StopCondition } from './closed-loop';
import { connectAll, Endpoints, rotateEndpoints } from './grpc-client';
import { FromWorker, ToWorker, WorkerPlan } from './load-protocol';
import { runWatchLoad } from './watch-load';
import { createWorkload, WorkloadSpec } from './workloads';

export interface LoadPlan {
  /** `http://host:port` of the gRPC endpoint, or several (a cluster's members: connection i goes to endpoint i mod N). */
  url: Endpoints;
  /** HTTP/2 connections, over all threads. */
  connections: number;
  /** Concurrent clients, over all threads. */
  clients: number;
  /** Generator threads; 0 runs the load in the calling thread. Capped at `connections`. */
  workers: number;
  workload: WorkloadSpec;
  stop: StopCondition;
  /** Duration mode only. Default 0. */
  warmupMs?: number;
  /** Default 10000. */
  callTimeoutMs?: number;
  /** Default 5000. */
  connectTimeoutMs?: number;
  /** Open loop at this fixed rate (requests per second, over all threads); latency from the scheduled send time. */
  ratePerSec?: number;
}

export interface LoadRunOptions {
  signal?: AbortSignal;
  /** About once a second: measured completions so far, over all threads. */
  onProgress?: (completed: number) => void;
  /** When the measured window opens (after the warm-up; the first thread to get there). */
  onWindowStart?: () => void;
}

export interface MeasuredLoad extends LoadResult {
  /** Generator threads used. */
  workers: number;
  /** CPU time of this process (every thread) during the measured window, µs. */
  generatorCpuMicros: number;
}

/** Splits `total` into `parts` near-equal integers, larger ones first. */
export function splitEvenly(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Runs `plan` and returns its merged result. @throws ConnectError when the endpoint is unreachable. */
export async function runLoad(plan: LoadPlan, options: LoadRunOptions = {}): Promise<MeasuredLoad> {
  if (plan.workload.kind === 'watch') return runWatchLoad({ ...plan, workload: plan.workload }, options);
  if (plan.ratePerSec !== undefined && !(Number.isFinite(plan.ratePerSec) && plan.ratePerSec > 0)) throw new RangeError(`rate must be a positive number, got ${plan.ratePerSec}`);
  if (plan.clients < plan.connections) throw new RangeError(`clients (${plan.clients}) must be at least connections (${plan.connections})`);
  const workers = Math.min(plan.workers, plan.connections);
  if (workers <= 0) return runInThisThread(plan, options);
  return runInWorkers(plan, workers, options);
}

async function runInThisThread(plan: LoadPlan, options: LoadRunOptions): Promise<MeasuredLoad> {
  const connections = await connectAll(plan.url, plan.connections, { connectTimeoutMs: plan.connectTimeoutMs });
  try {
    let cpuStart = cpuMicros();
    const result = await runClosedLoop({
      connections,
      clients: plan.clients,
      workload: createWorkload(plan.workload),
      stop: plan.stop,
      warmupMs: plan.warmupMs,
      callTimeoutMs: plan.callTimeoutMs,
      ratePerSec: plan.ratePerSec,
      signal: options.signal,
      onProgress: options.onProgress,
      onWindowStart: () => {
        cpuStart = cpuMicros();
        options.onWindowStart?.();
      },
    });
    return { ...result, workers: 0, generatorCpuMicros: cpuMicros() - cpuStart };
  } finally {
    await Promise.all(connections.map((c) => c.close()));
  }
}

/**
 * Starts the worker script. From compiled JavaScript it is `load-worker.js`; from TypeScript (jest
 * runs the sources, transpiled on the fly) the thread first registers a `.ts` loader that uses
 * TypeScript's own `transpileModule` (no type check; `typescript` is always installed).
 */
function startWorker(workerData: WorkerPlan): Worker {
  if (__filename.endsWith('.js')) return new Worker(path.join(__dirname, 'load-worker.js'), { workerData });
  const typescript = require.resolve('typescript');
  const bootstrap = `
    const fs = require('node:fs');
    const ts = require(${JSON.stringify(typescript)});
    require.extensions['.ts'] = (module, filename) => {
      const source = fs.readFileSync(filename, 'utf8');
      const out = ts.transpileModule(source, { fileName: filename, compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, esModuleInterop: true } });
      module._compile(out.outputText, filename);
    };
    require(${JSON.stringify(path.join(__dirname, 'load-worker.ts'))});`;
  return new Worker(bootstrap, { eval: true, workerData });
}

function runInWorkers(plan: LoadPlan, workerCount: number, options: LoadRunOptions): Promise<MeasuredLoad> {
  const connectionShares = splitEvenly(plan.connections, workerCount);
  const clientShares = splitEvenly(plan.clients, workerCount);
  const connectionOffsets = connectionShares.map((_, i) => connectionShares.slice(0, i).reduce((a, b) => a + b, 0));
  const totalShares = 'totalRequests' in plan.stop ? splitEvenly(plan.stop.totalRequests, workerCount) : null;
  const threads = connectionShares.map((connections, index) =>
    startWorker({
      url: rotateEndpoints(plan.url, connectionOffsets[index]!),
      connections,
      clients: clientShares[index]!,
      workload: plan.workload,
      part: { index, of: workerCount },
      stop: totalShares === null ? plan.stop : { totalRequests: totalShares[index]! },
      warmupMs: plan.warmupMs ?? 0,
      callTimeoutMs: plan.callTimeoutMs ?? 10_000,
      connectTimeoutMs: plan.connectTimeoutMs ?? 5000,
      ...(plan.ratePerSec === undefined ? {} : { ratePerSec: plan.ratePerSec / workerCount }),
    }),
  );
  const send = (w: Worker, message: ToWorker): void => w.postMessage(message);

  return new Promise<MeasuredLoad>((resolve, reject) => {
    const results: (LoadResult | null)[] = threads.map(() => null);
    const completed = threads.map(() => 0);
    let connected = 0;
    let cpuStart = 0;
    let windowOpen = false;
    let failed = false;
    const progressTimer = setInterval(() => options.onProgress?.(completed.reduce((a, b) => a + b, 0)), 1000);

    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      clearInterval(progressTimer);
      options.signal?.removeEventListener('abort', onAbort);
      void Promise.all(threads.map((t) => t.terminate())).finally(() => reject(err));
    };
    const onAbort = (): void => {
      for (const t of threads) send(t, { type: 'stop' });
    };
    options.signal?.addEventListener('abort', onAbort);

    threads.forEach((thread, index) => {
      thread.on('error', (err) => fail(err));
      thread.on('exit', (code) => {
        if (results[index] === null) fail(new Error(`load worker ${index} exited (code ${code}) without a result`));
      });
      thread.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'connected':
            if (++connected === threads.length) {
              cpuStart = cpuMicros();
              for (const t of threads) send(t, { type: 'start' });
            }
            return;
          case 'window-start':
            if (!windowOpen) {
              windowOpen = true;
              cpuStart = cpuMicros();
              options.onWindowStart?.();
            }
            return;
          case 'progress':
            completed[index] = message.completed;
            return;
          case 'error':
            return fail(new LoadWorkerError(message.message));
          case 'result':
            results[index] = message.result;
            if (results.every((r) => r !== null)) {
              const generatorCpuMicros = cpuMicros() - cpuStart;
              clearInterval(progressTimer);
              options.signal?.removeEventListener('abort', onAbort);
              resolve({ ...mergeLoadResults(results as LoadResult[]), workers: threads.length, generatorCpuMicros });
            }
            return;
        }
      });
    });
  });
}

/** A generator thread failed (the message is the thread's own, e.g. a ConnectError's). */
export class LoadWorkerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadWorkerError';
  }
}
