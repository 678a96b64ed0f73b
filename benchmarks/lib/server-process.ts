/**
 * Starts and stops one single-member etcd-compatible server (real etcd, or Cairn) with etcd's flags
 * on 127.0.0.1, and knows when it is ready: its log (stdout or stderr) shows
 * `ready to serve client requests`. Logs go to a file next to the data directory.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

export const READY_LINE = 'ready to serve client requests';

/** How to launch a server: the program and the arguments that precede etcd's flags. */
export interface ServerCommand {
  command: string;
  args: string[];
  cwd?: string;
}

export interface ServerOptions {
  /** Label in messages (`etcd`, `cairn`). */
  label: string;
  launch: ServerCommand;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  /** Where stdout and stderr are written (appended). */
  logFile: string;
  /** Default 60000. */
  readyTimeoutMs?: number;
  /** Member name (`--name`); default `label`. */
  name?: string;
  /** A multi-member cluster: `--initial-cluster` (name=peer URL, ...) and `--initial-cluster-token`; default: this member alone. */
  cluster?: { initialCluster: string; token: string };
  /** More flags, after etcd's (e.g. `--heartbeat-interval 100 --election-timeout 1000`). */
  extraArgs?: string[];
}

/** Raised when a server exits or stays silent before it is ready. */
export class ServerStartError extends Error {
  constructor(label: string, reason: string, logTail: string) {
    super(`${label} did not become ready: ${reason}${logTail.length > 0 ? `\n--- last lines of its log ---\n${logTail}` : ''}`);
    this.name = 'ServerStartError';
  }
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** etcd's flags for a member listening on 127.0.0.1 only: alone, or one of `cluster`. */
export function etcdFlags(options: { name: string; dataDir: string; clientPort: number; peerPort: number; cluster?: { initialCluster: string; token: string } }): string[] {
  const client = `http://127.0.0.1:${options.clientPort}`;
  const peer = `http://127.0.0.1:${options.peerPort}`;
  // A single member names only itself; a cluster member names everyone and the cluster token.
  const cluster = options.cluster === undefined
    ? ['--initial-cluster', `${options.name}=${peer}`]
    : ['--initial-cluster', options.cluster.initialCluster, '--initial-cluster-token', options.cluster.token, '--initial-cluster-state', 'new'];
  return [
    '--name', options.name,
    '--data-dir', options.dataDir,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    ...cluster,
  ]; // prettier-ignore
}

function tailOf(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n').trimEnd();
  } catch {
    return '';
  }
}

/** A running server. */
export class ServerProcess {
  /** When `start` spawned it (performance.now() ms). */
  readonly spawnedAtMs: number;
  /** Spawn to the ready log line, ms. */
  readyAfterMs = 0;
  private exitCode: number | null | undefined = undefined;
  private readonly exited: Promise<void>;

  private constructor(
    readonly options: ServerOptions,
    private readonly child: ChildProcess,
  ) {
    this.spawnedAtMs = performance.now();
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal !== null ? -1 : null);
        resolve();
      });
      child.once('error', () => {
        if (child.pid !== undefined) return; // spawned: 'exit' follows
        this.exitCode = null; // never started
        resolve();
      });
    });
  }

  /** Spawns the server and resolves once it is ready. @throws ServerStartError */
  static async start(options: ServerOptions): Promise<ServerProcess> {
    const flags = [...etcdFlags({ name: options.name ?? options.label, dataDir: options.dataDir, clientPort: options.clientPort, peerPort: options.peerPort, cluster: options.cluster }), ...(options.extraArgs ?? [])];
    const log = fs.openSync(options.logFile, 'a');
    fs.writeSync(log, `\n### ${new Date().toISOString()} ${options.launch.command} ${[...options.launch.args, ...flags].join(' ')}\n`);
    const child = spawn(options.launch.command, [...options.launch.args, ...flags], { cwd: options.launch.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new ServerProcess(options, child);
    let seen = '';
    let scanning = true;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ServerStartError(options.label, `no "${READY_LINE}" within ${options.readyTimeoutMs ?? 60_000} ms`, tailOf(options.logFile))), options.readyTimeoutMs ?? 60_000);
      const onData = (chunk: Buffer): void => {
        fs.writeSync(log, chunk);
        if (!scanning) return;
        seen = (seen + chunk.toString('latin1')).slice(-4096);
        if (seen.includes(READY_LINE)) {
          scanning = false;
          server.readyAfterMs = performance.now() - server.spawnedAtMs;
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new ServerStartError(options.label, `cannot run ${options.launch.command}: ${err.message}`, ''));
      });
      void server.exited.then(() => {
        clearTimeout(timer);
        reject(new ServerStartError(options.label, `exited with code ${server.exitCode}`, tailOf(options.logFile)));
      });
    });
    child.once('close', () => fs.closeSync(log)); // after its stdout and stderr have ended
    try {
      await ready;
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** `http://127.0.0.1:<client port>`. */
  get clientUrl(): string {
    return `http://127.0.0.1:${this.options.clientPort}`;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Asks the server to exit (SIGTERM); kills it (SIGKILL) if still there after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** `kill -9` (a crash, for failover); resolves once it has exited. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Synchronous last resort (process exit handlers): SIGKILL if still running. */
  killNow(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  /** The last lines of its log. */
  logTail(lines = 30): string {
    return tailOf(this.options.logFile, lines);
  }
}
