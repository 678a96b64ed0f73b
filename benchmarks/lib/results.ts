/**
 * The results a comparison produces (also its JSON output), and how rounds are summarised: each
 * figure is the median over rounds, except peak RSS, which is the largest.
 */

/** One measured run of one load scenario against one target. */
export interface RunSample {
  round: number;
  okCount: number;
  errorCount: number;
  /** `STATUS: message` → count. */
  errors: Record<string, number>;
  elapsedMs: number;
  /** Successful calls per second. */
  opsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Server CPU (all threads) per completed call, µs; null when the server's pid is unknown. */
  serverCpuMicrosPerOp: number | null;
  /** Peak RSS during the run (VmHWM after resetting it), or since the server started when it could not be reset (see `peakRssNote`). */
  peakRssBytes: number | null;
  peakRssNote?: string;
  /** The load generator's CPU (all threads) per completed call, µs. */
  generatorCpuMicrosPerOp: number;
  /** Busy CPU of everything else on the machine during the run, in cores (other users' noise). */
  otherCpuCores: number;
  connectionsLost: number;
}

export interface TargetRuns {
  target: string;
  samples: RunSample[];
}

export interface LoadScenarioResult {
  kind: 'load';
  name: string;
  title: string;
  targets: TargetRuns[];
}

export interface RestartSample {
  round: number;
  /** Spawn → `ready to serve client requests` in its log, ms. */
  readyLogMs: number;
  /** Spawn → first linearizable range answered with the key, ms. */
  firstRangeMs: number;
  rssAfterRestartBytes: number;
}

export interface MemoryTargetResult {
  target: string;
  keys: number;
  valueSize: number;
  load: RunSample;
  /** VmRSS once the load completed. */
  rssAfterLoadBytes: number;
  /** VmHWM since the server started. */
  peakRssBytes: number;
  dataDirBytes: number;
  restarts: RestartSample[];
}

export interface MemoryScenarioResult {
  kind: 'memory';
  name: 'memory';
  title: string;
  targets: MemoryTargetResult[];
}

export type ScenarioResult = LoadScenarioResult | MemoryScenarioResult;

export interface GeneratorCeiling {
  opsPerSec: number;
  generatorCpuMicrosPerOp: number;
  echoServerCpuMicrosPerOp: number;
  clients: number;
  connections: number;
  workers: number;
}

export interface ComparisonReport {
  startedAt: string;
  command: string;
  machine: { cpuModel: string; cores: number; memoryGiB: number; kernel: string; node: string };
  versions: Record<string, string>;
  settings: Record<string, unknown>;
  ceiling: GeneratorCeiling | null;
  scenarios: ScenarioResult[];
  notes: string[];
}

/** The median (mean of the middle two for an even count); NaN for none. */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** What the table shows for one target in one load scenario. */
export interface RunSummary {
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuMicrosPerOp: number | null;
  peakRssBytes: number | null;
  generatorCpuMicrosPerOp: number;
  otherCpuCores: number;
  errorCount: number;
}

/** Medians over rounds; peak RSS the largest; errors the sum. */
export function summarise(samples: RunSample[]): RunSummary {
  const nonNull = (xs: (number | null)[]): number[] => xs.filter((x): x is number => x !== null);
  const cpu = nonNull(samples.map((s) => s.serverCpuMicrosPerOp));
  const rss = nonNull(samples.map((s) => s.peakRssBytes));
  return {
    opsPerSec: median(samples.map((s) => s.opsPerSec)),
    p50Ms: median(samples.map((s) => s.p50Ms)),
    p99Ms: median(samples.map((s) => s.p99Ms)),
    serverCpuMicrosPerOp: cpu.length > 0 ? median(cpu) : null,
    peakRssBytes: rss.length > 0 ? Math.max(...rss) : null,
    generatorCpuMicrosPerOp: median(samples.map((s) => s.generatorCpuMicrosPerOp)),
    otherCpuCores: samples.length > 0 ? Math.max(...samples.map((s) => s.otherCpuCores)) : NaN,
    errorCount: samples.reduce((a, s) => a + s.errorCount, 0),
  };
}
