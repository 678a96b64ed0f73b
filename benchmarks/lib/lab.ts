/**
 * The servers of one benchmark run: where their data lives (a fresh directory under the OS temp
 * directory, on a real disk), starting them on free 127.0.0.1 ports, restarting them on their data,
 * and stopping every one of them at the end, on error or on interrupt.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, ServerCommand, ServerProcess } from './server-process';

/** What is measured: a server the lab starts (`launch`), or an endpoint already running. */
export interface Target {
  name: string;
  launch: ServerCommand | null;
  /** For an already-running endpoint: its URL and, when known, its pid (for CPU and RSS). */
  endpoint?: { url: string; pid: number | null };
}

/** A target ready to take load. */
export interface Instance {
  target: Target;
  url: string;
  /** Null when the pid of an external endpoint is unknown. */
  pid: number | null;
  /** Null for an external endpoint. */
  server: ServerProcess | null;
  /** Null for an external endpoint. */
  dataDir: string | null;
}

const MEMORY_FILESYSTEMS = new Set(['tmpfs', 'ramfs', 'devtmpfs']);

/** The filesystem type holding `dir` (longest matching mount point in /proc/mounts). */
export function filesystemOf(dir: string): string {
  const real = fs.realpathSync(dir);
  let best = { mountPoint: '', type: 'unknown' };
  for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, mountPoint, type] = line.split(' ');
    if (mountPoint === undefined || type === undefined) continue;
    const inside = real === mountPoint || real.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
    if (inside && mountPoint.length > best.mountPoint.length) best = { mountPoint, type };
  }
  return best.type;
}

/** Bytes allocated on disk under `dir` (as `du`). */
export function diskUsageBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += diskUsageBytes(p);
    else total += fs.lstatSync(p).blocks * 512;
  }
  return total;
}

export class Lab {
  private readonly servers = new Set<ServerProcess>();

  private constructor(readonly root: string) {}

  /**
   * Makes a fresh directory under `parent` (default: the OS temp directory).
   * @throws Error when `parent` is on a memory filesystem: fsync must cost what it costs on disk.
   */
  static create(parent = os.tmpdir()): Lab {
    const type = filesystemOf(parent);
    if (MEMORY_FILESYSTEMS.has(type)) throw new Error(`${parent} is on ${type}, not a real disk; choose another with --data-root`);
    return new Lab(fs.mkdtempSync(path.join(parent, 'cairn-bench-')));
  }

  /** Starts `target` on `<root>/<dataDirName>` (reused if it exists) with fresh ports. */
  async start(target: Target, dataDirName: string): Promise<Instance> {
    if (target.launch === null) {
      if (target.endpoint === undefined) throw new Error(`target ${target.name} has neither a command nor an endpoint`);
      return { target, url: target.endpoint.url, pid: target.endpoint.pid, server: null, dataDir: null };
    }
    const dataDir = path.join(this.root, dataDirName);
    const server = await ServerProcess.start({
      label: target.name,
      launch: target.launch,
      dataDir,
      clientPort: await freePort(),
      peerPort: await freePort(),
      logFile: path.join(this.root, `${dataDirName}.log`),
    }).catch((err: Error) => {
      throw target.name === 'cairn' ? new Error(`${err.message}\n(is Cairn built? node scripts/build.js)`) : err;
    });
    this.servers.add(server);
    return { target, url: server.clientUrl, pid: server.pid, server, dataDir };
  }

  /** Stops an instance's server (graceful, then forced). External endpoints are left alone. */
  async stop(instance: Instance): Promise<void> {
    if (instance.server === null) return;
    await instance.server.stop();
    this.servers.delete(instance.server);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.servers].map((s) => s.stop()));
    this.servers.clear();
  }

  /** Synchronous: SIGKILL every server still running (for `process.on('exit')`). */
  killAllNow(): void {
    for (const s of this.servers) s.killNow();
  }

  /** Deletes the data directories and logs. */
  remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
