/**
 * Test helper: starts a real etcd 3.4 (when `/usr/bin/etcd` is installed) on free loopback ports
 * with a temporary data dir, for tests that compare Cairn's answers with etcd's. Tests that use it
 * skip themselves when etcd is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const ETCD_BIN = '/usr/bin/etcd';
export const ETCDCTL_BIN = '/usr/bin/etcdctl';

/** True when real etcd and etcdctl are installed here. */
export function etcdInstalled(): boolean {
  return fs.existsSync(ETCD_BIN) && fs.existsSync(ETCDCTL_BIN);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface EtcdProcess {
  /** `127.0.0.1:<port>` of the client listener. */
  readonly endpoint: string;
  /** Runs etcdctl (API v3) against this etcd; returns its exit status, stdout and stderr. */
  etcdctl(args: readonly string[]): { status: number | null; stdout: string; stderr: string };
  stop(): Promise<void>;
}

/** Starts etcd and waits (at most `readyTimeoutMs`) until it answers. */
export async function startEtcd(readyTimeoutMs = 15_000): Promise<EtcdProcess> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-etcd-probe-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child: ChildProcess = spawn(
    ETCD_BIN,
    [
      '--name', 'probe', '--data-dir', dataDir,
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `probe=${peer}`,
    ],
    { stdio: 'ignore' },
  );
  const endpoint = `127.0.0.1:${clientPort}`;
  const etcdctl = (args: readonly string[]) => {
    const r = spawnSync(ETCDCTL_BIN, ['--endpoints', endpoint, '--command-timeout=5s', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (etcdctl(['endpoint', 'health']).status === 0) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error('etcd did not become healthy');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { endpoint, etcdctl, stop };
}

/** Parses `rpc error: code = X desc = Y` out of etcdctl's stderr. */
export function parseEtcdctlError(stderr: string): { code: string; message: string } | undefined {
  const m = /rpc error: code = (\w+) desc = ([^"\n]+)/.exec(stderr);
  return m ? { code: m[1], message: m[2] } : undefined;
}
