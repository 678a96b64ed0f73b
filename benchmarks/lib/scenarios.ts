/**
 * The scenarios a comparison can run, and how one run of a load scenario against one target is
 * measured: throughput and latency from the generator, server CPU and peak RSS from /proc, and the
 * machine's other load during the run.
 */
import { StopCondition, TIMELINE_INTERVAL_MS } from './closed-loop';
import { Histogram } from './histogram';
import { Instance, Lab } from './lab';
import { runLoad } from './load';
import { callOnce, putOnce } from './probe';
import { GrpcConnection, GrpcStatus, grpcStatusName } from './grpc-client';
import { encodePutRequest, KV_PUT_PATH } from './messages';
import { processExists, readMachineBusyMicros, readProcessCpuMicros, readProcessMemory, resetPeakRss } from './proc-stats';
import { RunSample } from './results';
import { k8sKey, makeValue, randomPrintable, WorkloadSpec } from './workloads';

/** Settings shared by the load scenarios (from the command line). */
export interface LoadSettings {
  keySize: number;
  valueSize: number;
  keySpace: number;
  sequentialKeys: boolean;
  /** range-prefix: keys under the prefix. */
  prefixKeys: number;
  /** txn-mixed: reads per write. */
  readRatio: number;
  leaseTtlSeconds: number;
  watchers: number;
  watchStreams: number;
  /** watch: puts per second on the watched key. */
  watchPutRate: number;
  k8sObjects: number;
  k8sNamespaces: number;
  k8sPageSize: number;
  k8sListRatio: number;
  k8sChurn: number;
  k8sValueSize: number;
  /** stm: keys the transactions pick from, and keys read and written per transaction. */
  stmKeys: number;
  stmKeysPerTxn: number;
  /** watch-latency: watchers, streams and put rate. */
  latencyWatchers: number;
  latencyStreams: number;
  latencyPutRate: number;
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
export const RANGE_PREFIX = 'bench-prefix/';
export const WATCH_KEY = 'bench-watch-key';
export const WATCH_LATENCY_KEY = 'bench-watch-latency-key';

/** What `compare` runs with no `--scenarios`: etcd's usual workloads, under 10 minutes for two targets with the default durations. */
export const STANDARD_SUITE = ['put-1', 'put-16', 'put-256', 'range-256', 'range-serializable-256', 'txn-put', 'watch', 'lease-keepalive', 'k8s'];

/** Puts `count` keys, `concurrency` at a time on one connection. @throws Error on the first failure. */
export async function putMany(url: string, count: number, keyOf: (i: number) => Buffer, valueSize: number, concurrency = 64): Promise<void> {
  const connection = await GrpcConnection.connect(url);
  const pool = randomPrintable(Math.max(1 << 16, 2 * valueSize), 0x51ed270b);
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        const o = Math.floor(Math.random() * (pool.length - valueSize + 1));
        const outcome = await callOnce(connection, KV_PUT_PATH, encodePutRequest({ key: keyOf(i), value: pool.subarray(o, o + valueSize) }));
        if (outcome.status !== GrpcStatus.OK) throw new Error(`set-up put ${keyOf(i).toString('latin1')} on ${url} failed: ${grpcStatusName(outcome.status)}: ${outcome.message}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } finally {
    await connection.close();
  }
}

/** Every load scenario by name, in the order they run. */
export function loadScenarios(settings: LoadSettings): LoadScenario[] {
  const put: WorkloadSpec = { kind: 'put', keySize: settings.keySize, valueSize: settings.valueSize, keySpace: settings.keySpace, sequential: settings.sequentialKeys };
  const putRangeKey = (url: string): Promise<void> => putOnce(url, Buffer.from(RANGE_KEY, 'latin1'), makeValue(settings.valueSize));
  const keys = `${settings.sequentialKeys ? 'sequential' : 'random'} keys over ${settings.keySpace.toLocaleString('en-US')}, ${settings.keySize} B keys, ${settings.valueSize} B values`;
  return [
    { name: 'put-1', title: `put, 1 client, 1 connection (${keys})`, clients: 1, connections: 1, workload: put },
    { name: 'put-16', title: `put, 16 clients, 4 connections (${keys})`, clients: 16, connections: 4, workload: put },
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
    { name: 'txn-put', title: `txn-put (Txn: mod_revision(key) < 2^53 → put), 256 clients, 16 connections (${keys})`, clients: 256, connections: 16, workload: { ...put, kind: 'txn-put' } },
    {
      name: 'txn-mixed',
      title: `txn-mixed, ${settings.readRatio} ranges per txn-put, 256 clients, 16 connections (${keys})`,
      clients: 256,
      connections: 16,
      workload: { ...put, kind: 'txn-mixed', readRatio: settings.readRatio },
    },
    {
      name: 'range-prefix',
      title: `range a prefix of ${settings.prefixKeys.toLocaleString('en-US')} keys, linearizable, 256 clients, 16 connections`,
      clients: 256,
      connections: 16,
      workload: { kind: 'range', key: RANGE_PREFIX, serializable: false, prefix: true, expectKvs: settings.prefixKeys },
      setup: (url) => putMany(url, settings.prefixKeys, (i) => Buffer.from(`${RANGE_PREFIX}${String(i).padStart(8, '0')}`, 'latin1'), settings.valueSize),
    },
    {
      name: 'lease-keepalive',
      title: 'lease-keepalive (one lease and one LeaseKeepAlive stream per client), 256 clients, 16 connections',
      clients: 256,
      connections: 16,
      workload: { kind: 'lease-keepalive', ttlSeconds: settings.leaseTtlSeconds },
    },
    {
      name: 'watch',
      title: `watch fan-out: ${settings.watchers} watchers over ${settings.watchStreams} streams, ${settings.watchPutRate} puts/s (ops = events delivered; latency put → event)`,
      clients: settings.watchStreams,
      connections: Math.min(settings.watchStreams, 16),
      workload: { kind: 'watch', key: WATCH_KEY, watchers: settings.watchers, streams: settings.watchStreams, putRate: settings.watchPutRate, valueSize: settings.valueSize },
    },
    {
      name: 'watch-latency',
      title: `watch-latency: put → event latency for ${settings.latencyWatchers} watchers over ${settings.latencyStreams} streams under ${settings.latencyPutRate} puts/s (ops = events delivered)`,
      clients: settings.latencyStreams,
      connections: Math.min(settings.latencyStreams, 16),
      workload: { kind: 'watch', key: WATCH_LATENCY_KEY, watchers: settings.latencyWatchers, streams: settings.latencyStreams, putRate: settings.latencyPutRate, valueSize: settings.valueSize },
    },
    {
      name: 'stm',
      title: `stm: read ${settings.stmKeysPerTxn} random keys of ${settings.stmKeys.toLocaleString('en-US')}, commit Txn(mod_revision == read → put each), retry on conflict; 64 clients, 16 connections (ops = commits)`,
      clients: 64,
      connections: 16,
      workload: { kind: 'stm', keys: settings.stmKeys, keysPerTxn: settings.stmKeysPerTxn, keySize: Math.max(settings.keySize, String(settings.stmKeys - 1).length), valueSize: settings.valueSize },
    },
    {
      name: 'k8s',
      title: `k8s mix over ${settings.k8sObjects.toLocaleString('en-US')} pods (${settings.k8sValueSize} B): guarded create/update/delete Txns, ${settings.k8sChurn} churn, ${settings.k8sListRatio} list pages of ${settings.k8sPageSize}, 256 clients, 16 connections`,
      clients: 256,
      connections: 16,
      workload: {
        kind: 'k8s',
        objects: settings.k8sObjects,
        namespaces: settings.k8sNamespaces,
        valueSize: settings.k8sValueSize,
        pageSize: settings.k8sPageSize,
        listRatio: settings.k8sListRatio,
        churn: settings.k8sChurn,
      },
      setup: (url) => putMany(url, settings.k8sObjects, (i) => k8sKey(i, settings.k8sNamespaces), settings.k8sValueSize),
    },
  ];
}

export interface RunOptions {
  stop: StopCondition;
  warmupMs: number;
  workers: number;
  round: number;
  /** Open loop at this rate (requests/s); not for watch, which has its own put rate. */
  ratePerSec?: number;
  signal?: AbortSignal;
  onProgress?: (completed: number) => void;
}

/** Runs one load against one instance and measures it. */
export async function measureRun(instance: Instance, spec: { clients: number; connections: number; workload: WorkloadSpec }, options: RunOptions): Promise<RunSample> {
  const pids = Lab.pids(instance);
  const peakResettable = pids.length > 0 && pids.every((pid) => resetPeakRss(pid));
  const serverCpuNow = (): number => pids.reduce((a, pid) => a + readProcessCpuMicros(pid), 0);
  let serverCpuStart = 0;
  let machineBusyStart = 0;
  const result = await runLoad(
    { url: instance.urls, connections: spec.connections, clients: spec.clients, workers: options.workers, workload: spec.workload, stop: options.stop, warmupMs: options.warmupMs, ratePerSec: spec.workload.kind === 'watch' ? undefined : options.ratePerSec },
    {
      signal: options.signal,
      onProgress: options.onProgress,
      onWindowStart: () => {
        serverCpuStart = serverCpuNow();
        machineBusyStart = readMachineBusyMicros();
      },
    },
  );
  const alive = pids.filter((pid) => processExists(pid));
  const serverCpu = pids.length > 0 && alive.length === pids.length ? serverCpuNow() - serverCpuStart : null;
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
    p999Ms: toMs(h.percentile(99.9)),
    maxMs: toMs(h.max),
    meanMs: toMs(h.mean),
    serverCpuMicrosPerOp: serverCpu === null ? null : serverCpu / calls,
    peakRssBytes: alive.length === 0 ? null : Math.max(...alive.map((pid) => readProcessMemory(pid).peakRssBytes)),
    generatorCpuMicrosPerOp: result.generatorCpuMicros / calls,
    otherCpuCores: Math.max(0, machineBusy - (serverCpu ?? 0) - result.generatorCpuMicros) / Math.max(1, result.elapsedMs * 1000),
    connectionsLost: result.connectionsLost,
    conflicts: result.conflicts,
    histogram: h.sparse(),
    timeline: { intervalMs: TIMELINE_INTERVAL_MS, ok: result.timeline, errors: result.errorTimeline },
    ...(peakResettable || pids.length === 0 ? {} : { peakRssNote: 'VmHWM since server start (clear_refs not permitted)' }),
  };
}
