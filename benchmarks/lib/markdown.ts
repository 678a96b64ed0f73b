/** Renders a comparison report as Markdown: a header on machine and method, then one table per kind of scenario. */
import type { FailoverScenarioResult } from './failover';
import { collectErrors, ComparisonReport, LoadScenarioResult, median, MemoryScenarioResult, RunSample, summarise } from './results';
import type { WatchMemoryScenarioResult } from './watch-memory';

const MIB = 1024 * 1024;

export function integer(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}

/** Milliseconds with about 3 significant digits. */
export function ms(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n < 1) return n.toFixed(2);
  if (n < 10) return n.toFixed(1);
  return n.toFixed(0);
}

export function cores(n: number): string {
  return Number.isFinite(n) ? n.toFixed(2) : '–';
}

export function mib(bytes: number | null): string {
  return bytes === null ? '–' : integer(bytes / MIB);
}

export function ratio(a: number | null, b: number | null): string {
  if (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '–';
  return `${(a / b).toFixed(2)}×`;
}

/**
 * A ratio paired by round (each round runs the targets back to back, so they share the machine's
 * conditions): the median of the per-round ratios of `metric`, with their range.
 */
export function pairedRatio(samples: RunSample[], baseSamples: RunSample[], metric: (s: RunSample) => number | null): string {
  const ratios: number[] = [];
  for (const sample of samples) {
    const base = baseSamples.find((b) => b.round === sample.round);
    const a = metric(sample);
    const b = base === undefined ? null : metric(base);
    if (a !== null && b !== null && b > 0) ratios.push(a / b);
  }
  if (ratios.length === 0) return '–';
  const mid = `${median(ratios).toFixed(2)}×`;
  return ratios.length === 1 ? mid : `${mid} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function table(header: string[], rows: string[][]): string[] {
  return [row(header), row(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(row)];
}

function loadTable(scenarios: LoadScenarioResult[]): string[] {
  if (scenarios.length === 0) return [];
  const targets = scenarios[0]!.targets.map((t) => t.target);
  const [base, ...others] = targets;
  const header = [
    'scenario',
    ...targets.map((t) => `${t} ops/s`),
    ...others.map((t) => `${t}/${base}`),
    ...targets.map((t) => `${t} p50 / p99 / p99.9 ms`),
    ...targets.map((t) => `${t} CPU µs/op`),
    ...others.map((t) => `${t}/${base} CPU/op`),
    ...targets.map((t) => `${t} peak RSS MiB`),
    `errors (${targets.join(' / ')})`,
    'other load (cores)',
  ];
  const rows = scenarios.map((s) => {
    const sums = s.targets.map((t) => summarise(t.samples));
    return [
      sums.some((x) => x.conflicts > 0) ? `${s.title} — conflicts retried: ${sums.map((x) => integer(x.conflicts)).join(' / ')}` : s.title,
      ...sums.map((x) => integer(x.opsPerSec)),
      ...s.targets.slice(1).map((t) => pairedRatio(t.samples, s.targets[0]!.samples, (x) => x.opsPerSec)),
      ...sums.map((x) => `${ms(x.p50Ms)} / ${ms(x.p99Ms)} / ${ms(x.p999Ms)}`),
      ...sums.map((x) => (x.serverCpuMicrosPerOp === null ? '–' : integer(x.serverCpuMicrosPerOp))),
      ...s.targets.slice(1).map((t) => pairedRatio(t.samples, s.targets[0]!.samples, (x) => x.serverCpuMicrosPerOp)),
      ...sums.map((x) => mib(x.peakRssBytes)),
      sums.map((x) => integer(x.errorCount)).join(' / '),
      cores(Math.max(...sums.map((x) => x.otherCpuCores))),
    ];
  });
  return table(header, rows);
}

function memoryTable(scenario: MemoryScenarioResult): string[] {
  const t = scenario.targets;
  if (t.length === 0) return [];
  type Target = MemoryScenarioResult['targets'][number];
  const seconds = (n: number | null): string => (n === null || !Number.isFinite(n) ? '–' : (n / 1000).toFixed(2));
  const restartMedian = (x: Target, pick: (r: Target['restarts'][number]) => number): number | null =>
    x.restarts.length > 0 ? median(x.restarts.map(pick)) : null;
  /** A row: a label, one cell per target, then each other target's ratio to the first (when `withRatio`). */
  const line = (label: string, value: (x: Target) => number | null, format: (n: number | null) => string, withRatio = true): string[] => {
    const values = t.map(value);
    return [label, ...values.map(format), ...values.slice(1).map((v) => (withRatio ? ratio(v, values[0]!) : ''))];
  };
  const rows = [
    line('load: puts/s', (x) => x.load.opsPerSec, (n) => integer(n ?? NaN)),
    [`load: p50 / p99 ms`, ...t.map((x) => `${ms(x.load.p50Ms)} / ${ms(x.load.p99Ms)}`), ...t.slice(1).map(() => '')],
    line('load: errors', (x) => x.load.errorCount, (n) => integer(n ?? NaN), false),
    line('RSS after load, MiB', (x) => x.rssAfterLoadBytes, mib),
    line('peak RSS, MiB', (x) => x.peakRssBytes, mib),
    line('data dir, MiB', (x) => x.dataDirBytes, mib),
    line('restart → ready log line, s', (x) => restartMedian(x, (r) => r.readyLogMs), seconds),
    line('restart → first range answered, s', (x) => restartMedian(x, (r) => r.firstRangeMs), seconds),
    line('RSS after restart, MiB', (x) => restartMedian(x, (r) => r.rssAfterRestartBytes), mib),
  ];
  const header = ['', ...t.map((x) => x.target), ...t.slice(1).map((x) => `${x.target}/${t[0]!.target}`)];
  return table(header, rows);
}

function errorLines(report: ComparisonReport): string[] {
  const lines = collectErrors(report).lines.map((l) => `- ${l.scenario}, ${l.target}: ${integer(l.count)} × ${l.what}`);
  for (const s of report.scenarios) {
    if (s.kind !== 'load') continue;
    for (const t of s.targets) {
      const lost = t.samples.reduce((a, x) => a + x.connectionsLost, 0);
      if (lost > 0) lines.push(`- ${s.name}, ${t.target}: ${lost} connection(s) lost`);
    }
  }
  return lines;
}

/** `12 (UNAVAILABLE: etcdserver: no leader × 12)`: failed puts of a failover target and why. */
export function failedPuts(t: FailoverScenarioResult['targets'][number]): string {
  const why: Record<string, number> = {};
  for (const x of t.samples) for (const [k, n] of Object.entries(x.errors)) why[k] = (why[k] ?? 0) + n;
  const total = t.samples.reduce((a, x) => a + x.failedPuts, 0);
  const reasons = Object.entries(why).map(([k, n]) => `${k} × ${integer(n)}`);
  return reasons.length > 0 ? `${integer(total)} (${reasons.join('; ')})` : integer(total);
}

function failoverTable(s: FailoverScenarioResult): string[] {
  if (s.targets.length === 0) return [];
  const base = s.targets[0]!;
  const med = (t: FailoverScenarioResult['targets'][number]): number => median(t.samples.flatMap((x) => (x.recoveryMs === null ? [] : [x.recoveryMs])));
  const header = ['', ...s.targets.map((t) => t.target), ...s.targets.slice(1).map((t) => `${t.target}/${base.target}`)];
  const rows = [
    ['kill → next successful write, median ms', ...s.targets.map((t) => integer(med(t))), ...s.targets.slice(1).map((t) => ratio(med(t), med(base)))],
    ['each repetition, ms', ...s.targets.map((t) => t.samples.map((x) => (x.recoveryMs === null ? 'none' : integer(x.recoveryMs))).join(', ')), ...s.targets.slice(1).map(() => '')],
    ['puts sent after the kill that failed before the first success (sum; not counted as errors)', ...s.targets.map((t) => failedPuts(t)), ...s.targets.slice(1).map(() => '')],
  ];
  return table(header, rows);
}

function watchMemoryTable(s: WatchMemoryScenarioResult): string[] {
  if (s.targets.length === 0) return [];
  const base = s.targets[0]!;
  const header = ['', ...s.targets.map((t) => t.target), ...s.targets.slice(1).map((t) => `${t.target}/${base.target}`)];
  const rows = [
    ['RSS growth per watcher, bytes', ...s.targets.map((t) => integer(t.bytesPerWatcher)), ...s.targets.slice(1).map((t) => ratio(t.bytesPerWatcher, base.bytesPerWatcher))],
    ['RSS before → after, MiB', ...s.targets.map((t) => `${mib(t.rssBeforeBytes)} → ${mib(t.rssAfterBytes)}`), ...s.targets.slice(1).map(() => '')],
    ['time to create all watchers, s', ...s.targets.map((t) => (t.createMs / 1000).toFixed(1)), ...s.targets.slice(1).map((t) => ratio(t.createMs, base.createMs))],
  ];
  return table(header, rows);
}

/** The whole report as Markdown. */
export function renderMarkdown(report: ComparisonReport): string {
  const m = report.machine;
  const out: string[] = [
    `## Benchmark: ${Object.keys(report.versions).join(' vs ')}${report.members > 1 ? `, ${report.members}-member clusters` : ''} (${report.startedAt})`,
    '',
    ...(report.errorCount > 0 ? [`**WARNING: this run had ${integer(report.errorCount)} errors (listed below).**`, ''] : []),
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}. ` +
      `Versions: ${Object.entries(report.versions).map(([k, v]) => `${k} ${v}`).join('; ')}.`,
    '',
    `Command: \`${report.command}\``,
    '',
  ];
  const c = report.ceiling;
  if (c !== null) {
    out.push(
      `Load generator ceiling (put, ${c.clients} clients over ${c.connections} connections, against a no-op gRPC server on the same machine): ` +
        `${integer(c.opsPerSec)} calls/s; the generator spends ${c.generatorCpuMicrosPerOp.toFixed(1)} µs of CPU per call ` +
        `(≈ ${integer(1e6 / c.generatorCpuMicrosPerOp)} calls/s per core), the no-op server ${c.echoServerCpuMicrosPerOp.toFixed(1)} µs.`,
      '',
    );
  }
  const loads = report.scenarios.filter((s): s is LoadScenarioResult => s.kind === 'load');
  if (loads.length > 0) {
    out.push(...loadTable(loads), '');
  }
  for (const s of report.scenarios) {
    if (s.kind === 'memory') out.push(`### ${s.title}`, '', ...memoryTable(s), '');
    if (s.kind === 'failover') out.push(`### ${s.title}`, '', ...failoverTable(s), '');
    if (s.kind === 'watch-memory') out.push(`### ${s.title}`, '', ...watchMemoryTable(s), '');
  }
  const errors = errorLines(report);
  out.push(...(errors.length > 0 ? [`**This run had errors (${integer(collectErrors(report).total)}); figures of the scenarios concerned count only the successful calls:**`, ...errors, ''] : ['Errors: none.', '']));
  if (report.notes.length > 0) out.push(...report.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
