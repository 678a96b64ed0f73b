/**
 * The servers of one benchmark run: where their data lives (a fresh directory under the OS temp
 * directory, on a real disk), starting them on free 127.0.0.1 ports, restarting them on their data,
 * and stopping every one of them at the end, on error or on interrupt.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, ServerCommand, ServerOptions, ServerProcess } from './server-process';

/** What is measured: a server the lab starts (`launch`), or an endpoint already running. */
export interface Target {
  name: string;
  launch: ServerCommand | null;
  /** For an already-running endpoint: its URL and, when known, its pid (for CPU and RSS). */
  endpoint?: { url: string; pid: number | null };
}

/** One member of a started cluster (or the one server). */
export interface Member {
  name: string;
  url: string;
  /** Null for an external endpoint. */
  server: ServerProcess | null;
  /** How it was started (to restart it on its data). Null for an external endpoint. */
  options: ServerOptions | null;
}

/** A target ready to take load: one server, or a cluster of several members. */
export interface Instance {
  target: Target;
  /** The first member's client URL. */
  url: string;
  /** Every member's client URL (loads spread their connections over them). */
  urls: string[];
  members: Member[];
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

  /**
   * Starts `target` on `<root>/<dataDirName>` (reused if it exists) with fresh ports: one server, or
   * with `members` > 1 a cluster whose members (`<dataDirName>-m1`, ...) start together with the same
   * flags plus `extraArgs`. An external endpoint (`--endpoint a,b,c`) is used as it is.
   */
  async start(target: Target, dataDirName: string, options: { members?: number; extraArgs?: string[] } = {}): Promise<Instance> {
    const size = options.members ?? 1;
    if (target.launch === null) {
      if (target.endpoint === undefined) throw new Error(`target ${target.name} has neither a command nor an endpoint`);
      const urls = target.endpoint.url.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
      const members = urls.map((url, i): Member => ({ name: `endpoint-${i + 1}`, url, server: null, options: null }));
      return { target, url: urls[0]!, urls, members, pid: target.endpoint.pid, server: null, dataDir: null };
    }
    const launch = target.launch;
    const ports = [];
    for (let i = 0; i < size; i++) ports.push({ client: await freePort(), peer: await freePort() });
    const names = ports.map((_, i) => (size === 1 ? target.name : `${target.name}-m${i + 1}`));
    const dirNames = ports.map((_, i) => (size === 1 ? dataDirName : `${dataDirName}-m${i + 1}`));
    const cluster = size === 1 ? undefined : { initialCluster: ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peer}`).join(','), token: `${dataDirName}-token` };
    const serverOptions = ports.map(
      (p, i): ServerOptions => ({
        label: names[i]!,
        name: names[i]!,
        launch,
        dataDir: path.join(this.root, dirNames[i]!),
        clientPort: p.client,
        peerPort: p.peer,
        logFile: path.join(this.root, `${dirNames[i]!}.log`),
        cluster,
        extraArgs: options.extraArgs,
      }),
    );
    const started = await Promise.allSettled(serverOptions.map((o) => this.startServer(target, o)));
    const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure !== undefined) {
      await Promise.all(started.flatMap((r) => (r.status === 'fulfilled' ? [this.stopServer(r.value)] : [])));
      throw failure.reason;
    }
    const servers = started.map((r) => (r as PromiseFulfilledResult<ServerProcess>).value);
    const members = servers.map((server, i): Member => ({ name: names[i]!, url: server.clientUrl, server, options: serverOptions[i]! }));
    return { target, url: members[0]!.url, urls: members.map((m) => m.url), members, pid: servers[0]!.pid, server: servers[0]!, dataDir: serverOptions[0]!.dataDir };
  }

  private async startServer(target: Target, options: ServerOptions): Promise<ServerProcess> {
    const server = await ServerProcess.start(options).catch((err: Error) => {
      throw target.name === 'cairn' ? new Error(`${err.message}\n(is Cairn built? node scripts/build.js)`) : err;
    });
    this.servers.add(server);
    return server;
  }

  private async stopServer(server: ServerProcess): Promise<void> {
    await server.stop();
    this.servers.delete(server);
  }

  /** Starts member `index` of a cluster again on its data directory and ports (after a crash). */
  async restartMember(instance: Instance, index: number): Promise<void> {
    const member = instance.members[index];
    if (member?.options === null || member === undefined) throw new Error(`member ${index} of ${instance.target.name} cannot be restarted`);
    if (member.server !== null) this.servers.delete(member.server);
    member.server = await this.startServer(instance.target, member.options);
    if (index === 0) {
      instance.server = member.server;
      instance.pid = member.server.pid;
    }
  }

  /** The pids of an instance's running members (for CPU and RSS). */
  static pids(instance: Instance): number[] {
    if (instance.members.every((m) => m.server === null)) return instance.pid === null ? [] : [instance.pid];
    return instance.members.flatMap((m) => (m.server !== null && m.server.running ? [m.server.pid] : []));
  }

  /** Stops an instance's server (graceful, then forced). External endpoints are left alone. */
  async stop(instance: Instance): Promise<void> {
    await Promise.all(instance.members.flatMap((m) => (m.server === null ? [] : [this.stopServer(m.server)])));
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
