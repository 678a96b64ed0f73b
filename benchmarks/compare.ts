/**
 * Compares etcd-compatible servers side by side — by default real etcd and Cairn — in one run:
 * starts each on free 127.0.0.1 ports with a fresh data directory on disk, runs every scenario
 * against them in alternation (etcd, cairn, etcd, cairn, ...), and reports medians over rounds and
 * the ratio to the first target. The machine is shared and noisy, so the ratios are the result;
 * absolute numbers are context.
 *
 *   node scripts/build.js && node dist/benchmarks/compare.js            # the standard suite
 *   node dist/benchmarks/compare.js --members 3                          # 3-member clusters, failover
 *   node dist/benchmarks/compare.js --targets etcd --scenarios memory
 *   node dist/benchmarks/compare.js --endpoint http://127.0.0.1:2379 [--endpoint-pid 1234]
 *
 * Every run writes its outputs (console table, JSON, Markdown, HTML) into one directory
 * (`--out`, default `bench-results/<time>`), named at the end.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { measureGeneratorCeiling } from './lib/ceiling';
import { StopCondition } from './lib/closed-loop';
import { runFailoverScenario } from './lib/failover';
import { connectAll } from './lib/grpc-client';
import { renderHtml } from './lib/html';
import { Instance, Lab, Target } from './lib/lab';
import { renderMarkdown } from './lib/markdown';
import { runMemoryScenario } from './lib/memory-scenario';
import { Progress } from './lib/progress';
import { collectErrors, ComparisonReport, LoadScenarioResult, ScenarioResult, TargetRuns } from './lib/results';
import { LoadScenario, loadScenarios, measureRun, STANDARD_SUITE } from './lib/scenarios';
import { validateWatchSpec } from './lib/watch-load';
import { runWatchMemoryScenario, validateWatchMemory } from './lib/watch-memory';
import { createWorkload } from './lib/workloads';

const REPO_ROOT = path.resolve(__dirname, '..', '..'); // dist/benchmarks → repository
/** The 3-member suite (`--members 3` without `--scenarios`). */
const CLUSTER_SUITE = ['put-1', 'put-256', 'range-256', 'range-serializable-256', 'txn-put', 'failover'];
/** Scenarios that are not load runs. */
const SPECIAL_SCENARIOS = ['failover', 'watch-memory', 'memory'];

interface CompareOptions {
  scenarios?: string;
  members: number;
  clients?: number;
  connections?: number;
  heartbeatInterval: number;
  electionTimeout: number;
  failoverRepetitions: number;
  failoverPutRate: number;
  wmWatchers: number;
  wmStreams: number;
  stmKeys: number;
  stmKeysPerTxn: number;
  latencyWatchers: number;
  latencyStreams: number;
  latencyPutRate: number;
  out?: string;
  html?: string;
  progress: boolean;
  targets: string;
  duration: number;
  warmup: number;
  total?: number;
  rounds: number;
  workers: number;
  keySize: number;
  valueSize: number;
  keySpace: number;
  sequential: boolean;
  rate?: number;
  prefixKeys: number;
  rwRatio: number;
  leaseTtl: number;
  watchers: number;
  watchStreams: number;
  watchPutRate: number;
  k8sObjects: number;
  k8sNamespaces: number;
  k8sPageSize: number;
  k8sListRatio: number;
  k8sChurn: number;
  k8sValueSize: number;
  memoryKeys: number;
  memoryValueSize: number;
  ceiling: boolean;
  endpoint?: string;
  endpointPid?: number;
  etcdBin: string;
  cairnBin: string;
  dataRoot: string;
  keepData: boolean;
  json?: string;
  markdown?: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a non-negative number');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a number between 0 and 1');
  return n;
}

const SCENARIO_HELP = `put-1, put-16, put-256, range-256, range-serializable-256, range-prefix, txn-put, txn-mixed, lease-keepalive, watch, watch-latency, stm, k8s, failover (--members 3), watch-memory, memory; default: the standard suite ${STANDARD_SUITE.join(',')} (with --members 3: ${CLUSTER_SUITE.join(',')})`;

function parseOptions(argv: string[]): CompareOptions {
  const program = new Command('cairn-bench')
    .description('Compare etcd-compatible servers (real etcd and Cairn by default) side by side, as ratios.')
    .option('--scenarios <list>', `comma-separated: ${SCENARIO_HELP}`)
    .option('--targets <list>', 'servers to start and compare, first is the baseline: etcd, cairn', 'etcd,cairn')
    .option('--members <n>', 'members per target: 1, or a cluster of 3 (or 5) on loopback, clients spread over the members', positiveInt, 1)
    .option('--clients <n>', 'concurrent clients of every load scenario but watch (default: per scenario)', positiveInt)
    .option('--connections <n>', 'HTTP/2 connections of every load scenario but watch (default: per scenario)', positiveInt)
    .option('--duration <seconds>', 'measured time per run', positiveNumber, 5)
    .option('--warmup <seconds>', 'unmeasured time before each run', nonNegativeNumber, 1)
    .option('--total <requests>', 'requests per run instead of a duration (no warm-up)', positiveInt)
    .option('--rounds <n>', 'runs per scenario and target, alternating targets', positiveInt, 3)
    .option('--workers <n>', 'load generator threads (0: the main thread)', (v) => (v === '0' ? 0 : positiveInt(v)), 1)
    .option('--key-size <bytes>', 'put: key size', positiveInt, 8)
    .option('--value-size <bytes>', 'put: value size', (v) => (v === '0' ? 0 : positiveInt(v)), 256)
    .option('--key-space <keys>', 'put: number of distinct keys', positiveInt, 100_000)
    .option('--sequential', 'put: sequential keys instead of random ones', false)
    .option('--rate <ops/s>', 'open loop: send at this fixed rate (latency from the scheduled send time, queueing included); clients cap the calls in flight', positiveNumber)
    .option('--prefix-keys <n>', 'range-prefix: keys under the prefix, all returned by each range', positiveInt, 100)
    .option('--rw-ratio <reads per write>', 'txn-mixed: ranges per txn-put', nonNegativeNumber, 1)
    .option('--lease-ttl <seconds>', 'lease-keepalive: TTL of each lease', positiveInt, 60)
    .option('--watchers <n>', 'watch: watchers on the key', positiveInt, 1000)
    .option('--watch-streams <n>', 'watch: streams the watchers are spread over', positiveInt, 10)
    .option('--watch-put-rate <puts/s>', 'watch: fixed rate of puts on the watched key', positiveNumber, 100)
    .option('--k8s-objects <n>', 'k8s: pods', positiveInt, 10_000)
    .option('--k8s-namespaces <n>', 'k8s: namespaces the pods are spread over', positiveInt, 100)
    .option('--k8s-page-size <n>', 'k8s: list page size (Range limit)', positiveInt, 500)
    .option('--k8s-list-ratio <fraction>', 'k8s: fraction of calls that are list pages', fraction, 0.01)
    .option('--k8s-churn <fraction>', 'k8s: fraction of writes that delete a pod (re-created later)', fraction, 0.1)
    .option('--k8s-value-size <bytes>', 'k8s: bytes per pod object', positiveInt, 1024)
    .option('--stm-keys <n>', 'stm: keys the transactions pick from', positiveInt, 1000)
    .option('--stm-keys-per-txn <n>', 'stm: keys read and written by each transaction', positiveInt, 2)
    .option('--latency-watchers <n>', 'watch-latency: watchers on the key', positiveInt, 100)
    .option('--latency-streams <n>', 'watch-latency: streams the watchers are spread over', positiveInt, 10)
    .option('--latency-put-rate <puts/s>', 'watch-latency: fixed rate of puts on the watched key', positiveNumber, 1000)
    .option('--heartbeat-interval <ms>', 'both servers: --heartbeat-interval', positiveInt, 100)
    .option('--election-timeout <ms>', 'both servers: --election-timeout', positiveInt, 1000)
    .option('--failover-repetitions <n>', 'failover: leader kills per target (median reported)', positiveInt, 5)
    .option('--failover-put-rate <puts/s>', 'failover: steady put load during the kill (open loop, to the followers)', positiveNumber, 200)
    .option('--wm-watchers <n>', 'watch-memory: idle watchers on distinct keys', positiveInt, 100_000)
    .option('--wm-streams <n>', 'watch-memory: streams the watchers are spread over', positiveInt, 500)
    .option('--memory-keys <n>', 'memory: keys to load', positiveInt, 1_000_000)
    .option('--memory-value-size <bytes>', 'memory: value size', positiveInt, 256)
    .option('--no-ceiling', "skip measuring the load generator's own ceiling")
    .option('--endpoint <url>', 'measure this already-running endpoint instead of starting servers')
    .option('--endpoint-pid <pid>', 'with --endpoint: its pid, for CPU and RSS figures', positiveInt)
    .option('--etcd-bin <path>', 'the etcd binary', '/usr/bin/etcd')
    .option('--cairn-bin <path>', "Cairn's launcher (run with this node)", path.join(REPO_ROOT, 'bin', 'cairn.js'))
    .option('--data-root <dir>', 'where data directories go (must be a real disk)', os.tmpdir())
    .option('--keep-data', 'keep data directories and server logs', false)
    .option('--out <dir>', 'directory for all outputs (report.json, report.md, report.html, summary.txt); default bench-results/<time>')
    .option('--json <file>', 'also write the full results as JSON here')
    .option('--markdown <file>', 'also write the report as Markdown here')
    .option('--html <file>', 'also write the HTML report here')
    .option('--no-progress', 'no live progress bars (plain lines), even on a terminal');
  program.exitOverride(); // a bad option throws (CommanderError, message already printed) instead of exiting the process
  program.parse(argv, { from: 'user' });
  return program.opts<CompareOptions>();
}

function resolveTargets(options: CompareOptions): Target[] {
  if (options.endpoint !== undefined) return [{ name: 'endpoint', launch: null, endpoint: { url: options.endpoint, pid: options.endpointPid ?? null } }];
  const names = options.targets.split(',').map((t) => t.trim()).filter((t) => t.length > 0);
  if (names.length === 0) throw new Error('--targets is empty');
  return names.map((name): Target => {
    if (name === 'etcd') return { name, launch: { command: options.etcdBin, args: [] } };
    if (name === 'cairn') return { name, launch: { command: process.execPath, args: [options.cairnBin], cwd: REPO_ROOT } };
    throw new Error(`unknown target ${name} (known: etcd, cairn; or use --endpoint)`);
  });
}

function versionOf(target: Target, options: CompareOptions): string {
  try {
    if (target.name === 'etcd') return /etcd Version: (\S+)/.exec(execFileSync(options.etcdBin, ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
    if (target.name === 'cairn') return `git ${execFileSync('git', ['describe', '--always', '--dirty'], { cwd: path.dirname(path.resolve(options.cairnBin)), encoding: 'utf8' }).trim()}`;
  } catch {
    return 'unknown';
  }
  return target.endpoint?.url ?? 'unknown';
}

function machine(): ComparisonReport['machine'] {
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
  };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

const thousands = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Runs the load scenarios on running instances (one per target), alternating targets within each round. */
async function runLoadScenarios(instances: Instance[], scenarios: LoadScenario[], options: CompareOptions, signal: AbortSignal, results: ScenarioResult[], progress: Progress): Promise<void> {
  const stop: StopCondition = options.total !== undefined ? { totalRequests: options.total } : { durationMs: options.duration * 1000 };
  for (const scenario of scenarios) {
    const runs: TargetRuns[] = instances.map((t) => ({ target: t.target.name, samples: [] }));
    results.push({ kind: 'load', name: scenario.name, title: scenario.title, targets: runs }); // filled as runs complete
    for (const instance of instances) await scenario.setup?.(instance.url);
    for (let round = 1; round <= options.rounds; round++) {
      for (const [i, instance] of instances.entries()) {
        if (signal.aborted) throw new Error('interrupted');
        const label = `${scenario.name} ${instance.target.name} ${round}/${options.rounds}`;
        const onProgress = progress.startRun(label, options.total !== undefined ? { total: options.total } : { seconds: options.warmup + options.duration });
        const sample = await measureRun(instance, scenario, { stop, warmupMs: options.warmup * 1000, workers: options.workers, round, signal, ratePerSec: options.rate, onProgress });
        runs[i]!.samples.push(sample);
        const cpu = sample.serverCpuMicrosPerOp === null ? '' : `, server ${Math.round(sample.serverCpuMicrosPerOp)} µs CPU/op`;
        const conflicts = sample.conflicts > 0 ? `, ${thousands(sample.conflicts)} conflicts retried` : '';
        const errors = sample.errorCount > 0 ? `${thousands(sample.errorCount)} ERRORS (${Object.keys(sample.errors).slice(0, 2).join('; ')})` : '0 errors';
        progress.endRun(`[${scenario.name}] round ${round}/${options.rounds} ${instance.target.name}: ${thousands(sample.opsPerSec)} ops/s, p50 ${sample.p50Ms.toFixed(2)} ms, p99 ${sample.p99Ms.toFixed(2)} ms${cpu}${conflicts}, ${errors}, other load ${sample.otherCpuCores.toFixed(2)} cores`);
      }
    }
  }
}

/** A time stamp for directory names: 20261123-012345. */
function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Checks an external endpoint answers before anything runs. @throws Error with a clear message. */
async function checkEndpoint(url: string): Promise<void> {
  const urls = url.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  if (urls.length === 0) throw new Error('--endpoint is empty');
  for (const u of urls) {
    try {
      new URL(u);
    } catch {
      throw new Error(`--endpoint ${u} is not a URL (expected http://host:port)`);
    }
    const connections = await connectAll(u, 1, { connectTimeoutMs: 3000 });
    for (const c of connections) c.destroy();
  }
}

/** How the figures were obtained, for the report (only what applies to the scenarios that ran). */
function methodNotes(report: ComparisonReport, targets: Target[], options: CompareOptions): string[] {
  const loads = report.scenarios.filter((s): s is LoadScenarioResult => s.kind === 'load');
  const notes: string[] = [];
  const samples = loads.flatMap((s) => s.targets.flatMap((t) => t.samples));
  if (samples.length > 0) {
    const generatorCores = Math.max(...samples.map((x) => (x.generatorCpuMicrosPerOp * (x.okCount + x.errorCount)) / (x.elapsedMs * 1000)));
    const generatorCpu = samples.map((x) => x.generatorCpuMicrosPerOp);
    notes.push(
      `Each figure is the median of ${options.rounds} run(s) per target${targets.length > 1 ? `, alternating between targets (${[...targets, ...targets].map((t) => t.name).join(', ')}, ...)` : ''}; peak RSS is the largest over the runs, errors the sum.${targets.length > 1 ? ` Ratios pair the runs of each round: the median of the per-round ratios, and their range.` : ''}`,
      options.total !== undefined ? `Each run: ${options.total} requests.` : `Each run: ${options.warmup} s warm-up, then ${options.duration} s measured.`,
      'Server CPU: utime + stime of the server process (all threads) from /proc/<pid>/stat over the measured window, per completed call. Peak RSS: VmHWM, reset before each run. Other load: busy CPU of everything but the server and the generator during the run (other users of this shared machine).',
      `The load generator (${options.workers === 0 ? 'main thread' : `${options.workers} worker thread(s)`}) spent ${Math.min(...generatorCpu).toFixed(0)}–${Math.max(...generatorCpu).toFixed(0)} µs of CPU per call and used at most ${generatorCores.toFixed(2)} cores in any run.`,
      'The load scenarios run every target at the same time (one idles while the other is measured), each on its own fresh data directory.',
    );
  }
  if (report.members > 1) {
    notes.push(`Clusters: each target runs ${report.members} members on 127.0.0.1 (etcd's flags --name --initial-cluster --initial-advertise-peer-urls --listen-peer-urls --initial-cluster-token --initial-cluster-state new, plus --heartbeat-interval ${options.heartbeatInterval} --election-timeout ${options.electionTimeout}), each with its own data directory; connection i of a load goes to member i mod ${report.members}. Server CPU is summed over the members; peak RSS is the largest member's.`);
  }
  if (report.scenarios.some((s) => s.kind === 'failover')) {
    notes.push('Failover: before each kill, the members must agree on a leader (Maintenance.Status); puts go at a fixed rate to the followers; the leader gets SIGKILL; the figure is the time from the kill to the completion of the first put sent at or after the kill that succeeds. The killed member is then restarted on its data before the next repetition.');
  }
  if (report.scenarios.some((s) => s.kind === 'watch-memory')) {
    notes.push('Watch-memory: a fresh server per target, one at a time; VmRSS (summed over members) with the connections open and no watcher, then after every watcher is created and 2 s of settling; per watcher = growth / watchers. One measurement per target (RSS includes whatever the runtime has not returned to the OS).');
  }
  if (report.scenarios.some((s) => s.kind === 'memory')) {
    notes.push('Memory scenario: loads run one server at a time on a fresh data directory (sequential keys); each restart is a SIGTERM then a start on the same data directory, timed from spawn; restart figures are medians.');
  }
  return notes;
}

/** Validated options and the plan of a comparison (no server started yet). @throws Error / CommanderError on bad input. */
function plan(argv: string[]): { options: CompareOptions; targets: Target[]; wanted: string[]; loads: LoadScenario[] } {
  const options = parseOptions(argv);
  const targets = resolveTargets(options);
  if (options.members !== 1 && options.members !== 3 && options.members !== 5) throw new Error(`--members must be 1, 3 or 5, got ${options.members}`);
  if (options.endpoint !== undefined && options.members !== 1) throw new Error('--members starts clusters; with --endpoint list the members instead: --endpoint http://a:2379,http://b:2379,http://c:2379');
  if (options.electionTimeout < 5 * options.heartbeatInterval) throw new Error(`--election-timeout (${options.electionTimeout}) must be at least 5 × --heartbeat-interval (${options.heartbeatInterval}), as etcd requires`);
  if (options.clients !== undefined && options.connections !== undefined && options.clients < options.connections) throw new Error(`--clients (${options.clients}) must be at least --connections (${options.connections})`);
  const catalogue = loadScenarios({
    keySize: options.keySize,
    valueSize: options.valueSize,
    keySpace: options.keySpace,
    sequentialKeys: options.sequential,
    prefixKeys: options.prefixKeys,
    readRatio: options.rwRatio,
    leaseTtlSeconds: options.leaseTtl,
    watchers: options.watchers,
    watchStreams: options.watchStreams,
    watchPutRate: options.watchPutRate,
    k8sObjects: options.k8sObjects,
    k8sNamespaces: options.k8sNamespaces,
    k8sPageSize: options.k8sPageSize,
    k8sListRatio: options.k8sListRatio,
    k8sChurn: options.k8sChurn,
    k8sValueSize: options.k8sValueSize,
    stmKeys: options.stmKeys,
    stmKeysPerTxn: options.stmKeysPerTxn,
    latencyWatchers: options.latencyWatchers,
    latencyStreams: options.latencyStreams,
    latencyPutRate: options.latencyPutRate,
  });
  const wanted =
    options.scenarios === undefined
      ? options.members > 1
        ? CLUSTER_SUITE
        : STANDARD_SUITE
      : options.scenarios.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (wanted.length === 0) throw new Error('--scenarios is empty');
  const known = new Set([...catalogue.map((s) => s.name), ...SPECIAL_SCENARIOS]);
  const unknown = wanted.filter((s) => !known.has(s));
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  if (wanted.includes('failover') && options.members < 3) throw new Error('the failover scenario needs clusters: add --members 3');
  if (wanted.includes('failover') && options.endpoint !== undefined) throw new Error('the failover scenario kills and restarts members: it cannot run against --endpoint');
  const loads = catalogue.filter((s) => wanted.includes(s.name));
  for (const s of loads) {
    if (s.workload.kind === 'watch') continue; // watch scenarios have their own streams
    if (options.clients !== undefined) s.clients = options.clients;
    if (options.connections !== undefined) s.connections = options.connections;
    if (s.connections > s.clients) s.connections = s.clients;
    s.title = s.title.replace(/\d+ clients?, \d+ connections?/, `${s.clients} client${s.clients === 1 ? '' : 's'}, ${s.connections} connection${s.connections === 1 ? '' : 's'}`);
  }
  // Nonsensical combinations are refused before any server starts.
  for (const s of loads) {
    if (s.workload.kind === 'watch') validateWatchSpec(s.workload);
    else createWorkload(s.workload);
  }
  if (wanted.includes('watch-memory')) validateWatchMemory({ watchers: options.wmWatchers, streams: options.wmStreams, connections: 16 });
  if (options.rate !== undefined) {
    for (const s of loads) if (s.workload.kind !== 'watch') s.title += `, open loop at ${options.rate.toLocaleString('en-US')}/s`;
  }
  if (options.members > 1) for (const s of loads) s.title += ` — ${options.members}-member clusters, connections spread over the members`;
  return { options, targets, wanted, loads };
}

function writeOutputs(report: ComparisonReport, consoleText: string, options: CompareOptions, outDir: string): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  const markdown = renderMarkdown(report);
  const html = renderHtml(report);
  const json = JSON.stringify(report, null, 2);
  const files: [string, string][] = [
    [path.join(outDir, 'summary.txt'), consoleText],
    [path.join(outDir, 'report.md'), markdown],
    [path.join(outDir, 'report.json'), json],
    [path.join(outDir, 'report.html'), html],
  ];
  if (options.markdown !== undefined) files.push([options.markdown, markdown]);
  if (options.json !== undefined) files.push([options.json, json]);
  if (options.html !== undefined) files.push([options.html, html]);
  for (const [file, text] of files) fs.writeFileSync(file, text);
  return files.map(([f]) => f);
}

export async function main(argv: string[]): Promise<number> {
  const { options, targets, wanted, loads } = plan(argv);
  if (options.endpoint !== undefined) await checkEndpoint(options.endpoint);
  const outDir = path.resolve(options.out ?? path.join('bench-results', stamp(new Date())));

  const abort = new AbortController();
  const lab = Lab.create(options.dataRoot);
  let interrupts = 0;
  const onSignal = (name: string): void => {
    interrupts++;
    log(`${name}: stopping${interrupts > 1 ? ' now' : ' (again to kill the servers at once)'}`);
    abort.abort();
    if (interrupts > 1) {
      lab.killAllNow();
      process.exit(130);
    }
  };
  const sigint = (): void => onSignal('SIGINT');
  const sigterm = (): void => onSignal('SIGTERM');
  const onExit = (): void => lab.killAllNow();
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  process.on('exit', onExit);

  const report: ComparisonReport = {
    startedAt: new Date().toISOString(),
    command: `node dist/benchmarks/compare.js ${argv.join(' ')}`.trim(),
    machine: machine(),
    members: options.members,
    errorCount: 0,
    versions: Object.fromEntries(targets.map((t) => [t.name, versionOf(t, options)])),
    settings: { ...options, scenarios: wanted.join(',') },
    ceiling: null,
    scenarios: [],
    notes: [],
  };
  const totalRuns = loads.length * targets.length * options.rounds + (wanted.includes('failover') ? options.failoverRepetitions * targets.length : 0) + (wanted.includes('watch-memory') ? targets.length : 0);
  const progress = new Progress({ totalRuns, live: options.progress ? undefined : false });
  const say = (line: string): void => progress.log(line);
  say(`scenarios: ${wanted.join(', ')}; ${options.members > 1 ? `${options.members}-member clusters; ` : ''}data and logs under ${lab.root}${options.keepData ? ' (kept)' : ''}`);
  let exitCode = 0;
  const serverFlags = ['--heartbeat-interval', String(options.heartbeatInterval), '--election-timeout', String(options.electionTimeout)];
  try {
    if (options.ceiling) {
      say('measuring the load generator ceiling (no-op gRPC server)...');
      report.ceiling = await measureGeneratorCeiling({ clients: 256, connections: 16, workers: options.workers, durationMs: 3000, warmupMs: 1000, signal: abort.signal });
      say(`generator ceiling: ${thousands(report.ceiling.opsPerSec)} calls/s, ${report.ceiling.generatorCpuMicrosPerOp.toFixed(1)} µs generator CPU/call`);
    }
    if (loads.length > 0 || wanted.includes('failover')) {
      const instances: Instance[] = [];
      for (const target of targets) {
        say(`starting ${target.name}${options.members > 1 ? ` (${options.members} members)` : ''}...`);
        instances.push(await lab.start(target, `${target.name}-load`, { members: options.members, extraArgs: serverFlags }));
      }
      await runLoadScenarios(instances, loads, options, abort.signal, report.scenarios, progress);
      if (wanted.includes('failover')) {
        report.scenarios.push(
          await runFailoverScenario(lab, instances, {
            repetitions: options.failoverRepetitions,
            putRate: options.failoverPutRate,
            steadyMs: 1500,
            recoveryTimeoutMs: 30_000,
            callTimeoutMs: 5000,
            heartbeatMs: options.heartbeatInterval,
            electionMs: options.electionTimeout,
            signal: abort.signal,
            log: (line) => progress.endRun(line),
          }),
        );
      }
      for (const instance of instances) await lab.stop(instance);
    }
    if (wanted.includes('watch-memory')) {
      report.scenarios.push(
        await runWatchMemoryScenario(lab, targets, { members: options.members, extraArgs: serverFlags }, {
          watchers: options.wmWatchers,
          streams: options.wmStreams,
          connections: 16,
          settleMs: 2000,
          createTimeoutMs: 300_000,
          signal: abort.signal,
          log: (line) => (line.includes('B per watcher') ? progress.endRun(line) : say(line)),
        }),
      );
    }
    if (wanted.includes('memory')) {
      report.scenarios.push(
        await runMemoryScenario(lab, targets, {
          keys: options.memoryKeys,
          keySize: options.keySize,
          valueSize: options.memoryValueSize,
          clients: 256,
          connections: 16,
          workers: options.workers,
          rounds: options.rounds,
          restartTimeoutMs: 300_000,
          signal: abort.signal,
          log: say,
        }),
      );
    }
  } catch (err) {
    say(`compare failed: ${(err as Error).message}`);
    report.notes.push(`INCOMPLETE: ${(err as Error).message.split('\n')[0]}`);
    exitCode = 1;
  } finally {
    progress.stop();
    await lab.stopAll();
    if (!options.keepData) lab.remove();
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
    process.off('exit', onExit);
  }
  report.errorCount = collectErrors(report).total;
  report.notes.push(...methodNotes(report, targets, options));
  const markdown = renderMarkdown(report);
  process.stdout.write(`${markdown}\n`);
  const files = writeOutputs(report, markdown, options, outDir);
  log(`outputs in ${outDir}: ${files.map((f) => (path.dirname(f) === outDir ? path.basename(f) : f)).join(', ')}`);
  if (report.errorCount > 0) {
    log(`this run had ${report.errorCount.toLocaleString('en-US')} errors (see the reports)`);
    if (exitCode === 0) exitCode = 3;
  }
  return exitCode;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2); // commander printed it
      log(`compare: ${err.message}`);
      process.exit(2);
    },
  );
}
