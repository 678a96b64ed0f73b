/**
 * Renders a comparison report as one self-contained HTML page: inline CSS, inline SVG charts, no
 * script and no network. For each load scenario: the latency distribution of each target (a
 * percentile curve over the runs' merged histograms, on a log scale) and the throughput over time
 * of every run; then the failover, watch-memory and memory results; a summary table with the
 * ratios; the machine and versions. A run with errors says so at the top.
 */
import type { FailoverScenarioResult } from './failover';
import { Histogram } from './histogram';
import { failedPuts, integer, mib, ms, pairedRatio, ratio } from './markdown';
import { collectErrors, ComparisonReport, LoadScenarioResult, median, MemoryScenarioResult, summarise } from './results';
import type { WatchMemoryScenarioResult } from './watch-memory';

const COLOURS = ['#3b6fb6', '#d9622b', '#3a9a5b', '#8e5bb5', '#b8860b'];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');

interface Series {
  label: string;
  colour: string;
  points: [number, number][];
  dash?: string;
  opacity?: number;
  width?: number;
}

interface Axis {
  min: number;
  max: number;
  log: boolean;
  ticks: { value: number; label: string }[];
  title: string;
}

const W = 572;
const H = 300;
const M = { left: 64, right: 30, top: 34, bottom: 46 };

/** An SVG line chart: `series` on `x`/`y` axes, a legend on top. */
function lineChart(kind: string, title: string, x: Axis, y: Axis, series: Series[]): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const tx = (v: number): number => {
    const [a, b, t] = x.log ? [Math.log10(x.min), Math.log10(x.max), Math.log10(Math.max(v, x.min))] : [x.min, x.max, v];
    return M.left + (b === a ? 0 : ((t - a) / (b - a)) * pw);
  };
  const ty = (v: number): number => {
    const [a, b, t] = y.log ? [Math.log10(y.min), Math.log10(y.max), Math.log10(Math.max(v, y.min))] : [y.min, y.max, v];
    return M.top + ph - (b === a ? 0 : ((t - a) / (b - a)) * ph);
  };
  const parts: string[] = [];
  parts.push(`<svg class="chart ${kind}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)}">`);
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="#fbfbfd" stroke="#d5d8de"/>`);
  for (const t of y.ticks) {
    const yy = ty(t.value).toFixed(1);
    parts.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${yy}" y2="${yy}" stroke="#e6e8ec"/>`);
    parts.push(`<text x="${M.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" class="tick">${escapeHtml(t.label)}</text>`);
  }
  for (const t of x.ticks) {
    const xx = tx(t.value).toFixed(1);
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${M.top}" y2="${M.top + ph}" stroke="#eceef1"/>`);
    parts.push(`<text x="${xx}" y="${M.top + ph + 16}" text-anchor="middle" class="tick">${escapeHtml(t.label)}</text>`);
  }
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle" class="axis">${escapeHtml(x.title)}</text>`);
  parts.push(`<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" class="axis">${escapeHtml(y.title)}</text>`);
  parts.push(`<clipPath id="clip-${kind}-${Math.abs(hash(title))}"><rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}"/></clipPath>`);
  parts.push(`<g clip-path="url(#clip-${kind}-${Math.abs(hash(title))})">`);
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${tx(px).toFixed(1)},${ty(py).toFixed(1)}`).join('');
    parts.push(`<path class="series" data-series="${escapeHtml(s.label)}" d="${d}" fill="none" stroke="${s.colour}" stroke-width="${s.width ?? 2}" stroke-linejoin="round"${s.dash !== undefined ? ` stroke-dasharray="${s.dash}"` : ''}${s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : ''}/>`);
  }
  parts.push('</g>');
  // Legend: one entry per distinct label.
  let lx = M.left;
  const seen = new Set<string>();
  for (const s of series) {
    const label = s.label.replace(/ round \d+$/, '');
    if (seen.has(label)) continue;
    seen.add(label);
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="14" y2="14" stroke="${s.colour}" stroke-width="3"/>`);
    parts.push(`<text x="${lx + 24}" y="14" dominant-baseline="middle" class="legend">${escapeHtml(label)}</text>`);
    lx += 34 + label.length * 7.2;
  }
  parts.push(`<text x="${W - M.right}" y="14" text-anchor="end" dominant-baseline="middle" class="charttitle">${escapeHtml(kind === 'latency-chart' ? 'latency distribution' : 'throughput over time')}</text>`);
  parts.push('</svg>');
  return parts.join('');
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/** 1-2-5 ticks between `min` and `max` (log axis). */
function logTicks(min: number, max: number, label: (v: number) => string): { value: number; label: string }[] {
  const out: { value: number; label: string }[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min * 0.999 && v <= max * 1.001) out.push({ value: v, label: label(v) });
    }
  }
  return out;
}

/** About `count` round ticks from 0 to `max` (linear axis). */
function linearTicks(max: number, count: number, label: (v: number) => string): { value: number; label: string }[] {
  if (!(max > 0)) return [{ value: 0, label: label(0) }];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: { value: number; label: string }[] = [];
  for (let v = 0; v <= max * 1.0001; v += step) out.push({ value: v, label: label(v) });
  return out;
}

const msLabel = (v: number): string => (v >= 1000 ? `${fmt(v / 1000, v >= 10_000 ? 0 : 1)} s` : v >= 1 ? `${fmt(v, 0)} ms` : `${fmt(v, v >= 0.1 ? 1 : 2)} ms`);
const opsLabel = (v: number): string => (v >= 1_000_000 ? `${fmt(v / 1e6, 1)}M` : v >= 1000 ? `${fmt(v / 1000, v >= 10_000 ? 0 : 1)}k` : fmt(v, 0));

/** Percentile curve: x = "nines" (−log10(1 − p)), y = latency (log). */
function latencyChart(s: LoadScenarioResult): string {
  const curves: Series[] = [];
  let yMin = Infinity;
  let yMax = 0;
  let maxNines = 1;
  for (const [i, t] of s.targets.entries()) {
    const h = new Histogram();
    for (const x of t.samples) if (x.histogram !== undefined) h.add(Histogram.fromSparse(x.histogram).snapshot());
    if (h.count === 0) continue;
    const nines = Math.min(5, Math.max(1, Math.log10(h.count)));
    maxNines = Math.max(maxNines, nines);
    const points: [number, number][] = [];
    for (let n = 0; n <= nines + 1e-9; n += 0.02) {
      const p = 100 * (1 - 10 ** -n);
      const v = h.percentile(Math.min(100, p)) / 1000;
      points.push([n, v]);
    }
    points.push([nines, h.max / 1000]);
    for (const [, v] of points) {
      if (v > 0) yMin = Math.min(yMin, v);
      yMax = Math.max(yMax, v);
    }
    curves.push({ label: t.target, colour: COLOURS[i % COLOURS.length]!, points, width: 2.5 });
  }
  if (curves.length === 0) return '<p class="nochart">no successful calls: no latency distribution</p>';
  yMin = 10 ** Math.floor(Math.log10(yMin > 0 && Number.isFinite(yMin) ? yMin : 0.01));
  yMax = 10 ** Math.ceil(Math.log10(Math.max(yMax, yMin * 10)));
  const nineLabels = ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%'];
  const xTicks = Array.from({ length: Math.floor(maxNines) + 1 }, (_, n) => ({ value: n, label: nineLabels[n] ?? '' }));
  return lineChart('latency-chart', `${s.name} latency`, { min: 0, max: maxNines, log: false, ticks: xTicks, title: 'percentile (all runs merged)' }, { min: yMin, max: yMax, log: true, ticks: logTicks(yMin, yMax, msLabel), title: 'latency' }, curves);
}

/** Throughput over time: successful calls per second in each interval of each run. */
function throughputChart(s: LoadScenarioResult): string {
  const series: Series[] = [];
  let xMax = 0;
  let yMax = 0;
  const rounds = Math.max(...s.targets.map((t) => t.samples.length));
  for (const [i, t] of s.targets.entries()) {
    for (const [r, x] of t.samples.entries()) {
      const tl = x.timeline;
      if (tl === undefined || tl.ok.length === 0) continue;
      const perSec = 1000 / tl.intervalMs;
      // The last interval is usually partial (the window ends inside it): leave it out unless it is the only one.
      const n = tl.ok.length > 1 ? tl.ok.length - 1 : 1;
      const points: [number, number][] = [];
      for (let k = 0; k < n; k++) {
        const v = tl.ok[k]! * perSec;
        points.push([((k + 0.5) * tl.intervalMs) / 1000, v]); // at the middle of its interval
        yMax = Math.max(yMax, v);
      }
      xMax = Math.max(xMax, (n * tl.intervalMs) / 1000);
      series.push({ label: `${t.target} round ${r + 1}`, colour: COLOURS[i % COLOURS.length]!, points, opacity: rounds > 1 ? 0.55 + (0.45 * (r + 1)) / rounds : 1, dash: r === 0 ? undefined : r === 1 ? '6 3' : '2 3', width: 1.6 });
    }
  }
  if (series.length === 0) return '<p class="nochart">no throughput samples</p>';
  const top = yMax * 1.1 || 1;
  return lineChart(
    'throughput-chart',
    `${s.name} throughput`,
    { min: 0, max: xMax, log: false, ticks: linearTicks(xMax, 6, (v) => `${fmt(v, Math.abs(v - Math.round(v)) < 1e-9 ? 0 : Math.abs(v * 10 - Math.round(v * 10)) < 1e-9 ? 1 : 2)} s`), title: `time into the measured window (${s.targets[0]?.samples[0]?.timeline?.intervalMs ?? 250} ms samples; rounds: solid, dashed, dotted)` },
    { min: 0, max: top, log: false, ticks: linearTicks(top, 5, opsLabel), title: 'ops/s' },
    series,
  );
}

/** Horizontal bars, one per target (failover median, bytes per watcher). */
function barChart(kind: string, title: string, bars: { label: string; value: number; note: string }[], unit: (v: number) => string): string {
  const w = 1000;
  const rowH = 34;
  const h = 30 + bars.length * rowH + 10;
  const left = 90;
  const max = Math.max(...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)), 1e-9);
  const parts = [`<svg class="chart ${kind}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${escapeHtml(title)}">`];
  parts.push(`<text x="${left}" y="16" class="axis">${escapeHtml(title)}</text>`);
  for (const [i, b] of bars.entries()) {
    const y = 30 + i * rowH;
    const bw = Number.isFinite(b.value) ? ((w - left - 430) * b.value) / max : 0;
    parts.push(`<text x="${left - 8}" y="${y + 12}" text-anchor="end" dominant-baseline="middle" class="legend">${escapeHtml(b.label)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${bw.toFixed(1)}" height="24" rx="3" fill="${COLOURS[i % COLOURS.length]}"/>`);
    parts.push(`<text x="${(left + bw + 8).toFixed(1)}" y="${y + 12}" dominant-baseline="middle" class="legend">${escapeHtml(unit(b.value))}${b.note.length > 0 ? ` <tspan class="tick">${escapeHtml(b.note)}</tspan>` : ''}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

function summaryTable(report: ComparisonReport): string {
  const loads = report.scenarios.filter((s): s is LoadScenarioResult => s.kind === 'load');
  const targets = Object.keys(report.versions);
  const base = targets[0] ?? '';
  const others = targets.slice(1);
  const head = [
    'scenario',
    ...targets.map((t) => `${t} ops/s`),
    ...others.map((t) => `${t}/${base} ops/s`),
    ...targets.map((t) => `${t} p50 / p99 / p99.9 ms`),
    ...targets.map((t) => `${t} CPU µs/op`),
    ...others.map((t) => `${t}/${base} CPU/op`),
    ...targets.map((t) => `${t} peak RSS MiB`),
    'errors',
  ];
  const rows: string[] = [];
  for (const s of loads) {
    const sums = s.targets.map((t) => summarise(t.samples));
    const errors = sums.reduce((a, x) => a + x.errorCount, 0);
    const ratioCell = (text: string, better: 'higher' | 'lower'): string => {
      const v = Number.parseFloat(text);
      const cls = !Number.isFinite(v) ? '' : (better === 'higher' ? v >= 1.05 : v <= 0.95) ? 'good' : (better === 'higher' ? v <= 0.95 : v >= 1.05) ? 'bad' : '';
      return `<td class="num ratio ${cls}">${escapeHtml(text)}</td>`;
    };
    rows.push(
      `<tr class="scenario-row" id="row-${escapeHtml(s.name)}" data-scenario="${escapeHtml(s.name)}"><td><a href="#scenario-${escapeHtml(s.name)}">${escapeHtml(s.name)}</a>${sums.some((x) => x.conflicts > 0) ? `<div class="sub">conflicts retried: ${sums.map((x) => integer(x.conflicts)).join(' / ')}</div>` : ''}</td>` +
        sums.map((x) => `<td class="num">${integer(x.opsPerSec)}</td>`).join('') +
        s.targets.slice(1).map((t) => ratioCell(pairedRatio(t.samples, s.targets[0]!.samples, (x) => x.opsPerSec), 'higher')).join('') +
        sums.map((x) => `<td class="num">${ms(x.p50Ms)} / ${ms(x.p99Ms)} / ${ms(x.p999Ms)}</td>`).join('') +
        sums.map((x) => `<td class="num">${x.serverCpuMicrosPerOp === null ? '–' : integer(x.serverCpuMicrosPerOp)}</td>`).join('') +
        s.targets.slice(1).map((t) => ratioCell(pairedRatio(t.samples, s.targets[0]!.samples, (x) => x.serverCpuMicrosPerOp), 'lower')).join('') +
        sums.map((x) => `<td class="num">${mib(x.peakRssBytes)}</td>`).join('') +
        `<td class="num${errors > 0 ? ' errors' : ''}">${sums.map((x) => integer(x.errorCount)).join(' / ')}</td></tr>`,
    );
  }
  for (const s of report.scenarios) {
    if (s.kind === 'failover') {
      const meds = s.targets.map((t) => median(t.samples.flatMap((x) => (x.recoveryMs === null ? [] : [x.recoveryMs]))));
      rows.push(`<tr class="scenario-row" id="row-failover" data-scenario="failover"><td><a href="#scenario-failover">failover</a><div class="sub">kill → next write, median ms</div></td><td class="num" colspan="${targets.length}">${meds.map((m, i) => `${escapeHtml(s.targets[i]!.target)} ${integer(m)}`).join(' · ')}</td><td class="num ratio" colspan="${Math.max(1, others.length)}">${others.length > 0 ? escapeHtml(ratio(meds[1] ?? null, meds[0] ?? null)) : ''}</td><td colspan="${head.length - 1 - targets.length - Math.max(1, others.length)}"></td></tr>`);
    }
    if (s.kind === 'watch-memory') {
      rows.push(`<tr class="scenario-row" id="row-watch-memory" data-scenario="watch-memory"><td><a href="#scenario-watch-memory">watch-memory</a><div class="sub">RSS bytes per idle watcher</div></td><td class="num" colspan="${targets.length}">${s.targets.map((t) => `${escapeHtml(t.target)} ${integer(t.bytesPerWatcher)}`).join(' · ')}</td><td class="num ratio" colspan="${Math.max(1, others.length)}">${s.targets.length > 1 ? escapeHtml(ratio(s.targets[1]!.bytesPerWatcher, s.targets[0]!.bytesPerWatcher)) : ''}</td><td colspan="${head.length - 1 - targets.length - Math.max(1, others.length)}"></td></tr>`);
    }
    if (s.kind === 'memory') {
      rows.push(`<tr class="scenario-row" id="row-memory" data-scenario="memory"><td><a href="#scenario-memory">memory</a><div class="sub">RSS after loading, MiB</div></td><td class="num" colspan="${targets.length}">${s.targets.map((t) => `${escapeHtml(t.target)} ${mib(t.rssAfterLoadBytes)}`).join(' · ')}</td><td class="num ratio" colspan="${Math.max(1, others.length)}">${s.targets.length > 1 ? escapeHtml(ratio(s.targets[1]!.rssAfterLoadBytes, s.targets[0]!.rssAfterLoadBytes)) : ''}</td><td colspan="${head.length - 1 - targets.length - Math.max(1, others.length)}"></td></tr>`);
    }
  }
  return `<div class="tablewrap"><table class="summary"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function loadSection(s: LoadScenarioResult): string {
  const sums = s.targets.map((t) => ({ target: t.target, ...summarise(t.samples) }));
  const facts = sums
    .map((x, i) => `<span class="fact"><span class="swatch" style="background:${COLOURS[i % COLOURS.length]}"></span><b>${escapeHtml(x.target)}</b> ${integer(x.opsPerSec)} ops/s · p50 ${ms(x.p50Ms)} ms · p99 ${ms(x.p99Ms)} ms · p99.9 ${ms(x.p999Ms)} ms${x.errorCount > 0 ? ` · <span class="errors">${integer(x.errorCount)} errors</span>` : ''}</span>`)
    .join('');
  return `<section class="scenario" id="scenario-${escapeHtml(s.name)}" data-scenario="${escapeHtml(s.name)}"><h2>${escapeHtml(s.name)}</h2><p class="title">${escapeHtml(s.title)}</p><p class="facts">${facts}</p><div class="charts">${latencyChart(s)}${throughputChart(s)}</div></section>`;
}

function failoverSection(s: FailoverScenarioResult): string {
  const bars = s.targets.map((t) => {
    const ok = t.samples.flatMap((x) => (x.recoveryMs === null ? [] : [x.recoveryMs]));
    return { label: t.target, value: median(ok), note: `(each: ${t.samples.map((x) => (x.recoveryMs === null ? 'none' : integer(x.recoveryMs))).join(', ')} ms; failed puts: ${failedPuts(t)})` };
  });
  return `<section class="scenario" id="scenario-failover" data-scenario="failover"><h2>failover</h2><p class="title">${escapeHtml(s.title)}</p><div class="charts">${barChart('failover-chart', 'kill -9 leader → next successful write (median)', bars, (v) => `${integer(v)} ms`)}</div></section>`;
}

function watchMemorySection(s: WatchMemoryScenarioResult): string {
  const bars = s.targets.map((t) => ({ label: t.target, value: t.bytesPerWatcher, note: `(RSS ${mib(t.rssBeforeBytes)} → ${mib(t.rssAfterBytes)} MiB, created in ${fmt(t.createMs / 1000, 1)} s)` }));
  return `<section class="scenario" id="scenario-watch-memory" data-scenario="watch-memory"><h2>watch-memory</h2><p class="title">${escapeHtml(s.title)}</p><div class="charts">${barChart('watch-memory-chart', 'server RSS growth per idle watcher', bars, (v) => `${integer(v)} B`)}</div></section>`;
}

function memorySection(s: MemoryScenarioResult): string {
  const bars = s.targets.map((t) => ({ label: t.target, value: t.rssAfterLoadBytes / 2 ** 20, note: `(data dir ${mib(t.dataDirBytes)} MiB)` }));
  return `<section class="scenario" id="scenario-memory" data-scenario="memory"><h2>memory</h2><p class="title">${escapeHtml(s.title)}</p><div class="charts">${barChart('memory-chart', 'RSS after loading the keys', bars, (v) => `${integer(v)} MiB`)}</div></section>`;
}

const CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2430;background:#f3f4f7;margin:0;padding:24px 28px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:0 0 2px}
.meta{color:#5a6372;margin:0 0 14px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:14px 18px;margin:0 0 16px}
.banner{border-radius:8px;padding:10px 16px;margin:0 0 16px;font-weight:600}
.banner.ok{background:#e6f4ea;color:#1e6b34;border:1px solid #b7dfc3}
.banner.bad{background:#fde8e7;color:#9b1c1c;border:1px solid #f3b9b5}
.banner ul{margin:6px 0 0;font-weight:400}
dl.machine{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:2px 14px;margin:0}
dl.machine dt{color:#5a6372}
dl.machine dd{margin:0}
table.summary{border-collapse:collapse;width:100%;font-size:12.5px;background:#fff}
.tablewrap{overflow-x:auto}
table.summary th{background:#eef0f4;text-align:right;padding:6px 7px;font-weight:600;border-bottom:2px solid #d5d9e0;vertical-align:bottom}
table.summary th:first-child,table.summary td:first-child{text-align:left}
table.summary td{padding:5px 7px;border-bottom:1px solid #eceef2}
table.summary td:first-child a{white-space:nowrap;font-weight:600}
table.summary tr:nth-child(even) td{background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.ratio{font-weight:600}
td.good{color:#1e7a3c}
td.bad{color:#b3261e}
td.errors,.errors{color:#b3261e;font-weight:600}
.sub{color:#6b7382;font-size:12px}
.scenario{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:14px 18px;margin:0 0 16px}
.scenario .title{color:#5a6372;margin:0 0 6px}
.facts{margin:0 0 8px}
.fact{display:inline-block;margin:0 18px 4px 0}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{background:#fff;max-width:100%;height:auto}
svg .tick{font-size:11px;fill:#5a6372}
svg .axis{font-size:12px;fill:#39414f}
svg .legend{font-size:12.5px;fill:#1d2430}
svg .charttitle{font-size:13px;font-weight:600;fill:#39414f}
.notes{color:#454d5b;font-size:13px}
.notes li{margin:0 0 4px}
code{background:#eef0f4;padding:1px 4px;border-radius:3px;font-size:12.5px}
`;

/** The whole report as one HTML document. */
export function renderHtml(report: ComparisonReport): string {
  const m = report.machine;
  const targets = Object.keys(report.versions);
  const errors = collectErrors(report);
  const banner =
    errors.total > 0
      ? `<div class="banner bad" id="errors">This run had ${integer(errors.total)} errors; the figures of the scenarios concerned count only successful calls.<ul>${errors.lines.map((l) => `<li>${escapeHtml(l.scenario)}, ${escapeHtml(l.target)}: ${integer(l.count)} × ${escapeHtml(l.what)}</li>`).join('')}</ul></div>`
      : `<div class="banner ok" id="errors">No errors: every call of every run succeeded and was checked.</div>`;
  const incomplete = report.notes.filter((n) => n.startsWith('INCOMPLETE'));
  const sections = report.scenarios
    .map((s) => (s.kind === 'load' ? loadSection(s) : s.kind === 'failover' ? failoverSection(s) : s.kind === 'watch-memory' ? watchMemorySection(s) : memorySection(s)))
    .join('\n');
  const c = report.ceiling;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Benchmark: ${escapeHtml(targets.join(' vs '))} — ${escapeHtml(report.startedAt)}</title>
<style>${CSS}</style></head>
<body>
<h1>Benchmark: ${escapeHtml(targets.join(' vs '))}${report.members > 1 ? `, ${report.members}-member clusters` : ''}</h1>
<p class="meta">${escapeHtml(report.startedAt)} · <code>${escapeHtml(report.command)}</code></p>
${banner}
${incomplete.map((n) => `<div class="banner bad">${escapeHtml(n)}</div>`).join('')}
<div class="card"><dl class="machine">
<dt>CPU</dt><dd>${escapeHtml(m.cpuModel)}</dd><dt>cores</dt><dd>${m.cores}</dd>
<dt>memory</dt><dd>${m.memoryGiB} GiB</dd><dt>kernel</dt><dd>Linux ${escapeHtml(m.kernel)}</dd>
<dt>node</dt><dd>${escapeHtml(m.node)}</dd><dt>members</dt><dd>${report.members} per target</dd>
${Object.entries(report.versions).map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}
${c !== null ? `<dt>generator ceiling</dt><dd>${integer(c.opsPerSec)} calls/s (${fmt(c.generatorCpuMicrosPerOp, 1)} µs CPU/call)</dd>` : ''}
</dl></div>
<div class="card"><h2>Summary</h2><p class="meta">Medians over rounds; ratios are the median of per-round ratios (range in brackets). Green: ${escapeHtml(targets[1] ?? 'the second target')} better by 5 % or more; red: worse.</p>${summaryTable(report)}</div>
${sections}
${report.notes.length > 0 ? `<div class="card notes"><h2>Method</h2><ul>${report.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul></div>` : ''}
</body></html>
`;
}
