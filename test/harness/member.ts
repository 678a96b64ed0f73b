/**
 * Starts one single-member server process, Cairn or real etcd, for integration tests.
 *
 * Each member gets fresh loopback ports and (unless given one) a fresh data directory on real disk,
 * is spawned with etcd's client/peer URL flags, and is ready once it logs
 * `ready to serve client requests`. Every process started here is tracked: a top-level `afterAll`
 * registered when this module is imported, and a process 'exit' hook, kill whatever a test left
 * running, even when the test failed.
 *
 * Set CAIRN_TEST_SUBJECT=etcd to start real etcd wherever a test asks for Cairn: the suite then
 * compares etcd with etcd, which checks the tests and the normalization themselves.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ETCD_BIN, repoRoot, requireEtcdBinaries } from './binaries';
import { ensureCairnBuilt, lastBuildError } from './build';
import { freePort } from './ports';

export type MemberKind = 'cairn' | 'etcd';

export interface StartMemberOptions {
  kind: MemberKind;
  /** Extra flags after the harness's own (name, data dir, URLs). */
  flags?: string[];
  /** Data directory to use (kept by cleanup()); default: a fresh directory under os.tmpdir(). */
  dataDir?: string;
  /** Extra environment variables; ETCD_* and ETCDCTL_* variables of the test process are dropped. */
  env?: Record<string, string>;
  /** Member name (--name); default 'm1'. */
  name?: string;
  /** Bound on the wait for the ready line; default 20 000 ms. */
  readyTimeoutMs?: number;
}

export interface Member {
  readonly kind: MemberKind;
  /** The kind actually started: 'etcd' for a 'cairn' member when CAIRN_TEST_SUBJECT=etcd. */
  readonly binaryKind: MemberKind;
  readonly name: string;
  /** http://127.0.0.1:<clientPort> */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerUrl: string;
  readonly peerPort: number;
  readonly dataDir: string;
  /** The full argument list the process was started with. */
  readonly args: readonly string[];
  /** Process id of the current run, undefined when not running. */
  pid(): number | undefined;
  running(): boolean;
  /** The last output (stdout and stderr, interleaved, bounded) across runs. */
  output(): string;
  /** Sends `signal` (default SIGKILL) and waits (bounded) until the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within the bound. Idempotent. */
  stop(): Promise<void>;
  /** Stops (if running) and starts again with the same data dir, ports and flags; waits for ready. */
  restart(): Promise<void>;
  /** Stops, then removes the data directory if the harness created it. */
  cleanup(): Promise<void>;
}

const READY_LINE = 'ready to serve client requests';
const outputCharsMax = 64 * 1024;
const stopGraceMs = 5_000;
const exitWaitMs = 10_000;
const addressInUseRetries = 3;

const tracked = new Set<ChildProcess>();

function killTrackedSync(): void {
  for (const child of tracked) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

/** Kills (SIGKILL) every process this module started that is still running, and waits for them. */
export async function killAllMembers(): Promise<void> {
  const alive = [...tracked].filter((c) => c.exitCode === null && c.signalCode === null);
  killTrackedSync();
  await Promise.all(alive.map((child) => waitExit(child, exitWaitMs)));
}

process.on('exit', killTrackedSync);
if (typeof afterAll === 'function') {
  afterAll(async () => {
    await killAllMembers();
    process.removeListener('exit', killTrackedSync);
  });
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.removeListener('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** Where fresh data directories go: os.tmpdir(), unless that is a RAM disk (then /var/tmp). */
export function dataDirRoot(): string {
  const tmp = fs.realpathSync(os.tmpdir());
  if (tmp.startsWith('/dev/shm') || tmp.startsWith('/run')) return '/var/tmp';
  return tmp;
}

function subjectKind(kind: MemberKind): MemberKind {
  if (kind === 'cairn' && process.env.CAIRN_TEST_SUBJECT === 'etcd') return 'etcd';
  return kind;
}

function inheritedEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('ETCD_') || key.startsWith('ETCDCTL_')) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

class ProcessMember implements Member {
  readonly binaryKind: MemberKind;
  readonly name: string;
  private child: ChildProcess | undefined;
  private outputText = '';
  private ports: { client: number; peer: number };
  private readonly ownsDataDir: boolean;
  private readonly readyTimeoutMs: number;

  constructor(
    readonly kind: MemberKind,
    readonly dataDir: string,
    private readonly options: StartMemberOptions,
    ports: { client: number; peer: number },
  ) {
    this.binaryKind = subjectKind(kind);
    this.name = options.name ?? 'm1';
    this.ports = ports;
    this.ownsDataDir = options.dataDir === undefined;
    this.readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  }

  get clientPort(): number {
    return this.ports.client;
  }
  get peerPort(): number {
    return this.ports.peer;
  }
  get endpoint(): string {
    return `http://127.0.0.1:${this.ports.client}`;
  }
  get peerUrl(): string {
    return `http://127.0.0.1:${this.ports.peer}`;
  }

  get args(): readonly string[] {
    return [
      `--name=${this.name}`,
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.endpoint}`,
      `--advertise-client-urls=${this.endpoint}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--initial-cluster=${this.name}=${this.peerUrl}`,
      ...(this.options.flags ?? []),
    ];
  }

  pid(): number | undefined {
    return this.running() ? this.child?.pid : undefined;
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.outputText;
  }

  private append(text: string): void {
    this.outputText += text;
    if (this.outputText.length > outputCharsMax) this.outputText = this.outputText.slice(-outputCharsMax);
  }

  private describe(): string {
    return `${this.kind === this.binaryKind ? this.kind : `${this.kind} (run as ${this.binaryKind})`} member ${this.name} at ${this.endpoint}`;
  }

  private failure(message: string): Error {
    let text = `${this.describe()}: ${message}\n--- command ---\n${this.command().join(' ')}\n--- output (last ${outputCharsMax} chars) ---\n${this.outputText}`;
    if (this.binaryKind === 'cairn') {
      const buildError = lastBuildError();
      if (buildError !== '') text += `\n--- last build (node scripts/build.js) failed ---\n${buildError}`;
    }
    return new Error(text);
  }

  private command(): string[] {
    if (this.binaryKind === 'etcd') return [ETCD_BIN, ...this.args];
    return [process.execPath, path.join(repoRoot(), 'bin', 'cairn.js'), ...this.args];
  }

  /** Spawns the process and waits for the ready line, the process's exit, or the bound. */
  async start(): Promise<void> {
    if (this.running()) throw new Error(`${this.describe()} is already running`);
    const [file, ...args] = this.command();
    this.append(`--- harness: starting ${this.describe()} ---\n`);
    const child = spawn(file!, args, {
      cwd: repoRoot(),
      env: inheritedEnv(this.options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    tracked.add(child);
    child.once('exit', () => tracked.delete(child));
    this.child = child;

    let scanned = '';
    let onReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      this.append(text);
      scanned = (scanned + text).slice(-(READY_LINE.length + text.length));
      if (scanned.includes(READY_LINE)) onReady();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    const exited = new Promise<string>((resolve) => {
      child.once('error', (err) => resolve(`failed to spawn: ${err.message}`));
      child.once('exit', (code, signal) => resolve(`exited (code ${code}, signal ${signal}) before it was ready`));
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`not ready within ${this.readyTimeoutMs} ms`), this.readyTimeoutMs);
    });
    const outcome = await Promise.race([ready.then(() => 'ready'), exited, timedOut]);
    clearTimeout(timer);
    if (outcome === 'ready') return;
    if (this.running()) {
      child.kill('SIGKILL');
      await waitExit(child, exitWaitMs);
    }
    throw this.failure(outcome);
  }

  isAddressInUse(): boolean {
    return /address already in use|EADDRINUSE/.test(this.outputText);
  }

  async repickPorts(): Promise<void> {
    this.ports = { client: await freePort(), peer: await freePort() };
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running()) return;
    child.kill(signal);
    if (!(await waitExit(child, exitWaitMs))) throw this.failure(`did not exit within ${exitWaitMs} ms of ${signal}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running()) return;
    child.kill('SIGTERM');
    if (await waitExit(child, stopGraceMs)) return;
    this.append(`--- harness: no exit ${stopGraceMs} ms after SIGTERM; sending SIGKILL ---\n`);
    await this.kill('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async cleanup(): Promise<void> {
    await this.stop();
    if (this.ownsDataDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * Starts a member and resolves once it is ready to serve clients.
 * @throws Error with the command line and the process's output when it does not become ready.
 */
export async function startMember(options: StartMemberOptions): Promise<Member> {
  requireEtcdBinaries();
  if (subjectKind(options.kind) === 'cairn') await ensureCairnBuilt();
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(dataDirRoot(), `cairn-test-${options.kind}-`));
  const member = new ProcessMember(options.kind, dataDir, options, { client: await freePort(), peer: await freePort() });
  for (let attempt = 0; ; attempt++) {
    try {
      await member.start();
      return member;
    } catch (err) {
      if (attempt < addressInUseRetries && member.isAddressInUse()) {
        await member.repickPorts();
        if (options.dataDir === undefined) {
          fs.rmSync(dataDir, { recursive: true, force: true });
          fs.mkdirSync(dataDir, { mode: 0o700 });
        }
        continue;
      }
      if (options.dataDir === undefined) fs.rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
  }
}
