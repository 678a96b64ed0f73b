/**
 * The scenarios a comparison can run, and how one run of a load scenario against one target is
 * measured: throughput and latency from the generator, server CPU and peak RSS from /proc, and the
 * machine's other load during the run.
 */
import { StopCondition } from './closed-loop';
import { Histogram } from './histogram';
import { Instance } from './lab';
import { runLoad } from './load';
import { putOnce } from './probe';
import { readMachineBusyMicros, readProcessCpuMicros, readProcessMemory, resetPeakRss } from './proc-stats';
import { RunSample } from './results';
import { makeValue, WorkloadSpec } from './workloads';

/** Settings shared by the load scenarios (from the command line). */
export interface LoadSettings {
  keySize: number;
  valueSize: number;
  keySpace: number;
  sequentialKeys: boolean;
}

export interface LoadScenario {
  name: string;
  title: string;
  clients: number;
  connections: number;
  workload: WorkloadSpec;
  /** Prepares a target before its first run (e.g. writes the key a range reads). */
  setup?: (url: string) => Promise<void>;
}

/** The key that the range scenarios read (written once by their set-up). */
export const RANGE_KEY = 'bench-range-key';

/** Every load scenario by name, in the order they run. */
export function loadScenarios(settings: LoadSettings): LoadScenario[] {
  const put: WorkloadSpec = { kind: 'put', keySize: settings.keySize, valueSize: settings.valueSize, keySpace: settings.keySpace, sequential: settings.sequentialKeys };
  const putRangeKey = (url: string): Promise<void> => putOnce(url, Buffer.from(RANGE_KEY, 'latin1'), makeValue(settings.valueSize));
  const keys = `${settings.sequentialKeys ? 'sequential' : 'random'} keys over ${settings.keySpace.toLocaleString('en-US')}, ${settings.keySize} B keys, ${settings.valueSize} B values`;
  return [
    { name: 'put-1', title: `put, 1 client, 1 connection (${keys})`, clients: 1, connections: 1, workload: put },
    { name: 'put-256', title: `put, 256 clients, 16 connections (${keys})`, clients: 256, connections: 16, workload: put },
    {
      name: 'range-256',
      title: 'range one key, linearizable, 256 clients, 16 connections',
      clients: 256,
      connections: 16,
      workload: { kind: 'range', key: RANGE_KEY, serializable: false },
      setup: putRangeKey,
    },
    {
      name: 'range-serializable-256',
      title: 'range one key, serializable, 256 clients, 16 connections',
      clients: 256,
      connections: 16,
      workload: { kind: 'range', key: RANGE_KEY, serializable: true },
      setup: putRangeKey,
    },
  ];
}

export interface RunOptions {
  stop: StopCondition;
  warmupMs: number;
  workers: number;
  round: number;
  signal?: AbortSignal;
  onProgress?: (completed: number) => void;
}

/** Runs one load against one instance and measures it. */
export async function measureRun(instance: Instance, spec: { clients: number; connections: number; workload: WorkloadSpec }, options: RunOptions): Promise<RunSample> {
  const pid = instance.pid;
  const peakResettable = pid !== null && resetPeakRss(pid);
  let serverCpuStart = 0;
  let machineBusyStart = 0;
  const result = await runLoad(
    { url: instance.url, connections: spec.connections, clients: spec.clients, workers: options.workers, workload: spec.workload, stop: options.stop, warmupMs: options.warmupMs },
    {
      signal: options.signal,
      onProgress: options.onProgress,
      onWindowStart: () => {
        if (pid !== null) serverCpuStart = readProcessCpuMicros(pid);
        machineBusyStart = readMachineBusyMicros();
      },
    },
  );
  const serverCpu = pid !== null ? readProcessCpuMicros(pid) - serverCpuStart : null;
  const machineBusy = readMachineBusyMicros() - machineBusyStart;
  const calls = Math.max(1, result.okCount + result.errorCount);
  const h = new Histogram(result.histogram);
  const toMs = (us: number): number => us / 1000;
  return {
    round: options.round,
    okCount: result.okCount,
    errorCount: result.errorCount,
    errors: result.errors,
    elapsedMs: result.elapsedMs,
    opsPerSec: result.elapsedMs > 0 ? (result.okCount * 1000) / result.elapsedMs : 0,
    p50Ms: toMs(h.percentile(50)),
    p90Ms: toMs(h.percentile(90)),
    p99Ms: toMs(h.percentile(99)),
    maxMs: toMs(h.max),
    meanMs: toMs(h.mean),
    serverCpuMicrosPerOp: serverCpu === null ? null : serverCpu / calls,
    peakRssBytes: pid === null ? null : readProcessMemory(pid).peakRssBytes,
    generatorCpuMicrosPerOp: result.generatorCpuMicros / calls,
    otherCpuCores: Math.max(0, machineBusy - (serverCpu ?? 0) - result.generatorCpuMicros) / Math.max(1, result.elapsedMs * 1000),
    connectionsLost: result.connectionsLost,
    ...(peakResettable || pid === null ? {} : { peakRssNote: 'VmHWM since server start (clear_refs not permitted)' }),
  };
}
