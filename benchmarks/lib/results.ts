/**
 * The results a comparison produces (also its JSON output), and how rounds are summarised: each
 * figure is the median over rounds, except peak RSS, which is the largest.
 */

import type { FailoverScenarioResult } from './failover';
import type { SparseHistogram } from './histogram';
import type { WatchMemoryScenarioResult } from './watch-memory';

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
  p999Ms: number;
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
  /** STM: commits retried after a failed compare (not errors). */
  conflicts: number;
  /** The latencies of the successful calls (µs buckets, see `Histogram.sparse`). */
  histogram: SparseHistogram;
  /** Throughput over time: successful and failed calls per interval of the measured window. */
  timeline: { intervalMs: number; ok: number[]; errors: number[] };
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

export type ScenarioResult = LoadScenarioResult | MemoryScenarioResult | FailoverScenarioResult | WatchMemoryScenarioResult;

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
  /** Members per target (1, or 3 for clusters). */
  members: number;
  /** Every error of every run, summed (the report says so when it is not 0). */
  errorCount: number;
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
  p999Ms: number;
  serverCpuMicrosPerOp: number | null;
  peakRssBytes: number | null;
  generatorCpuMicrosPerOp: number;
  otherCpuCores: number;
  errorCount: number;
  /** Summed over rounds. */
  conflicts: number;
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
    p999Ms: median(samples.map((s) => s.p999Ms ?? NaN)),
    serverCpuMicrosPerOp: cpu.length > 0 ? median(cpu) : null,
    peakRssBytes: rss.length > 0 ? Math.max(...rss) : null,
    generatorCpuMicrosPerOp: median(samples.map((s) => s.generatorCpuMicrosPerOp)),
    otherCpuCores: samples.length > 0 ? Math.max(...samples.map((s) => s.otherCpuCores)) : NaN,
    errorCount: samples.reduce((a, s) => a + s.errorCount, 0),
    conflicts: samples.reduce((a, s) => a + (s.conflicts ?? 0), 0),
  };
}

/** Errors of a report by scenario and target (`STATUS: message` → count), and their sum. */
export function collectErrors(report: Pick<ComparisonReport, 'scenarios'>): { lines: { scenario: string; target: string; what: string; count: number }[]; total: number } {
  const lines: { scenario: string; target: string; what: string; count: number }[] = [];
  const add = (scenario: string, target: string, errors: Record<string, number>): void => {
    for (const [what, count] of Object.entries(errors)) if (count > 0) lines.push({ scenario, target, what, count });
  };
  for (const s of report.scenarios) {
    for (const t of s.targets) {
      const merged: Record<string, number> = {};
      const samples = s.kind === 'load' ? (t as TargetRuns).samples : s.kind === 'memory' ? [(t as MemoryTargetResult).load] : [];
      for (const x of samples) for (const [k, n] of Object.entries(x.errors)) merged[k] = (merged[k] ?? 0) + n;
      if (s.kind === 'failover') {
        for (const x of (t as FailoverScenarioResult['targets'][number]).samples) if (x.recoveryMs === null) merged['FAILOVER: no successful write after the kill within the timeout'] = (merged['FAILOVER: no successful write after the kill within the timeout'] ?? 0) + 1;
      }
      if (s.kind === 'watch-memory') Object.assign(merged, (t as WatchMemoryScenarioResult['targets'][number]).errors);
      add(s.name, t.target, merged);
    }
  }
  return { lines, total: lines.reduce((a, l) => a + l.count, 0) };
}
