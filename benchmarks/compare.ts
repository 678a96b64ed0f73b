/**
 * Compares etcd-compatible servers side by side — by default real etcd and Cairn — in one run:
 * starts each on free 127.0.0.1 ports with a fresh data directory on disk, runs every scenario
 * against them in alternation (etcd, cairn, etcd, cairn, ...), and reports medians over rounds and
 * the ratio to the first target. The machine is shared and noisy, so the ratios are the result;
 * absolute numbers are context.
 *
 *   node scripts/build.js && node dist/benchmarks/compare.js [--targets etcd,cairn] [--rounds 3]
 *   node dist/benchmarks/compare.js --targets etcd --scenarios memory
 *   node dist/benchmarks/compare.js --endpoint http://127.0.0.1:2379 [--endpoint-pid 1234]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { measureGeneratorCeiling } from './lib/ceiling';
import { StopCondition } from './lib/closed-loop';
import { Instance, Lab, Target } from './lib/lab';
import { renderMarkdown } from './lib/markdown';
import { runMemoryScenario } from './lib/memory-scenario';
import { ComparisonReport, LoadScenarioResult, ScenarioResult, TargetRuns } from './lib/results';
import { LoadScenario, loadScenarios, measureRun } from './lib/scenarios';
import { validateWatchSpec } from './lib/watch-load';
import { createWorkload } from './lib/workloads';

const REPO_ROOT = path.resolve(__dirname, '..', '..'); // dist/benchmarks → repository
const DEFAULT_SCENARIOS = 'put-1,put-256,range-256';

interface CompareOptions {
  scenarios: string;
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

const SCENARIO_HELP = 'put-1, put-256, range-256, range-serializable-256, range-prefix, txn-put, txn-mixed, lease-keepalive, watch, k8s, memory';

function parseOptions(argv: string[]): CompareOptions {
  const program = new Command('compare')
    .description('Compare etcd-compatible servers (real etcd and Cairn by default) side by side, as ratios.')
    .option('--scenarios <list>', `comma-separated: ${SCENARIO_HELP}`, DEFAULT_SCENARIOS)
    .option('--targets <list>', 'servers to start and compare, first is the baseline: etcd, cairn', 'etcd,cairn')
    .option('--duration <seconds>', 'measured time per run', nonNegativeNumber, 10)
    .option('--warmup <seconds>', 'unmeasured time before each run', nonNegativeNumber, 2)
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
    .option('--memory-keys <n>', 'memory: keys to load', positiveInt, 1_000_000)
    .option('--memory-value-size <bytes>', 'memory: value size', positiveInt, 256)
    .option('--no-ceiling', "skip measuring the load generator's own ceiling")
    .option('--endpoint <url>', 'measure this already-running endpoint instead of starting servers')
    .option('--endpoint-pid <pid>', 'with --endpoint: its pid, for CPU and RSS figures', positiveInt)
    .option('--etcd-bin <path>', 'the etcd binary', '/usr/bin/etcd')
    .option('--cairn-bin <path>', "Cairn's launcher (run with this node)", path.join(REPO_ROOT, 'bin', 'cairn.js'))
    .option('--data-root <dir>', 'where data directories go (must be a real disk)', os.tmpdir())
    .option('--keep-data', 'keep data directories and server logs', false)
    .option('--json <file>', 'write the full results as JSON')
    .option('--markdown <file>', 'write the report as Markdown');
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
    if (target.name === 'cairn') return `git ${execFileSync('git', ['describe', '--always', '--dirty'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim()}`;
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

/** Runs the load scenarios with every target's server running, alternating targets within each round. */
async function runLoadScenarios(lab: Lab, targets: Target[], scenarios: LoadScenario[], options: CompareOptions, signal: AbortSignal, results: ScenarioResult[]): Promise<void> {
  const instances: Instance[] = [];
  for (const target of targets) instances.push(await lab.start(target, `${target.name}-load`));
  const stop: StopCondition = options.total !== undefined ? { totalRequests: options.total } : { durationMs: options.duration * 1000 };
  for (const scenario of scenarios) {
    const runs: TargetRuns[] = targets.map((t) => ({ target: t.name, samples: [] }));
    results.push({ kind: 'load', name: scenario.name, title: scenario.title, targets: runs }); // filled as runs complete
    for (const instance of instances) await scenario.setup?.(instance.url);
    for (let round = 1; round <= options.rounds; round++) {
      for (const [i, instance] of instances.entries()) {
        if (signal.aborted) throw new Error('interrupted');
        const sample = await measureRun(instance, scenario, { stop, warmupMs: options.warmup * 1000, workers: options.workers, round, signal, ratePerSec: options.rate });
        runs[i]!.samples.push(sample);
        const cpu = sample.serverCpuMicrosPerOp === null ? '' : `, server ${Math.round(sample.serverCpuMicrosPerOp)} µs CPU/op`;
        log(`[${scenario.name}] round ${round}/${options.rounds} ${instance.target.name}: ${Math.round(sample.opsPerSec).toLocaleString('en-US')} ops/s, p50 ${sample.p50Ms.toFixed(2)} ms, p99 ${sample.p99Ms.toFixed(2)} ms${cpu}, ${sample.errorCount} errors, other load ${sample.otherCpuCores.toFixed(2)} cores`);
      }
    }
  }
  for (const instance of instances) await lab.stop(instance);
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
  if (report.scenarios.some((s) => s.kind === 'memory')) {
    notes.push('Memory scenario: loads run one server at a time on a fresh data directory (sequential keys); each restart is a SIGTERM then a start on the same data directory, timed from spawn; restart figures are medians.');
  }
  return notes;
}

export async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  const targets = resolveTargets(options);
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
  });
  const wanted = options.scenarios.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const known = new Set([...catalogue.map((s) => s.name), 'memory']);
  const unknown = wanted.filter((s) => !known.has(s));
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  const loads = catalogue.filter((s) => wanted.includes(s.name));
  // Nonsensical combinations are refused before any server starts.
  for (const s of loads) {
    if (s.workload.kind === 'watch') validateWatchSpec(s.workload);
    else createWorkload(s.workload);
  }
  if (options.rate !== undefined) {
    for (const s of loads) if (s.workload.kind !== 'watch') s.title += `, open loop at ${options.rate.toLocaleString('en-US')}/s`;
  }

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
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('exit', () => lab.killAllNow());

  const report: ComparisonReport = {
    startedAt: new Date().toISOString(),
    command: `node dist/benchmarks/compare.js ${argv.join(' ')}`.trim(),
    machine: machine(),
    versions: Object.fromEntries(targets.map((t) => [t.name, versionOf(t, options)])),
    settings: { ...options },
    ceiling: null,
    scenarios: [],
    notes: [],
  };
  log(`data and logs under ${lab.root}${options.keepData ? ' (kept)' : ''}`);
  let exitCode = 0;
  try {
    if (options.ceiling) {
      log('measuring the load generator ceiling (no-op gRPC server)...');
      report.ceiling = await measureGeneratorCeiling({ clients: 256, connections: 16, workers: options.workers, durationMs: 3000, warmupMs: 1000, signal: abort.signal });
      log(`generator ceiling: ${Math.round(report.ceiling.opsPerSec).toLocaleString('en-US')} calls/s, ${report.ceiling.generatorCpuMicrosPerOp.toFixed(1)} µs generator CPU/call`);
    }
    if (loads.length > 0) await runLoadScenarios(lab, targets, loads, options, abort.signal, report.scenarios);
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
          log,
        }),
      );
    }
  } catch (err) {
    log(`compare failed: ${(err as Error).message}`);
    report.notes.push(`INCOMPLETE: ${(err as Error).message.split('\n')[0]}`);
    exitCode = 1;
  } finally {
    await lab.stopAll();
    if (!options.keepData) lab.remove();
  }
  report.notes.push(...methodNotes(report, targets, options));
  const markdown = renderMarkdown(report);
  process.stdout.write(`${markdown}\n`);
  if (options.markdown !== undefined) fs.writeFileSync(options.markdown, markdown);
  if (options.json !== undefined) fs.writeFileSync(options.json, JSON.stringify(report, null, 2));
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
