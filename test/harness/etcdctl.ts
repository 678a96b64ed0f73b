/**
 * Runs the real etcdctl (v3 API) against one endpoint, with a bound on its running time.
 */
import { spawn } from 'node:child_process';
import { ETCDCTL_BIN, requireEtcdBinaries } from './binaries';

export interface EtcdctlOptions {
  /** Written to etcdctl's stdin, which is then closed (stdin is empty when not given). */
  input?: string | Buffer;
  /** Extra environment variables (ETCDCTL_API=3 is always set). */
  env?: Record<string, string>;
  /** Bound on the run; on expiry etcdctl is killed and `timedOut` is true. Default 15 000 ms. */
  timeoutMs?: number;
}

export interface EtcdctlResult {
  /** Exit code; -1 when etcdctl was killed (timeout) or could not be spawned. */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const outputBytesMax = 8 * 1024 * 1024;

/** `etcdctl --endpoints=<endpoint> <args...>` with ETCDCTL_API=3. */
export function etcdctl(endpoint: string, args: readonly string[], options: EtcdctlOptions = {}): Promise<EtcdctlResult> {
  requireEtcdBinaries();
  const timeoutMs = options.timeoutMs ?? 15_000;
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('ETCDCTL_')) env[key] = value;
  }
  Object.assign(env, options.env, { ETCDCTL_API: '3' });
  return new Promise((resolve) => {
    const child = spawn(ETCDCTL_BIN, [`--endpoints=${endpoint}`, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let bytes = 0;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= outputBytesMax) into.push(chunk);
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    let spawnError = '';
    child.once('error', (err) => {
      spawnError = `failed to run ${ETCDCTL_BIN}: ${err.message}\n`;
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      let err = Buffer.concat(stderr).toString('utf8') + spawnError;
      if (timedOut) err += `[harness: etcdctl killed after ${timeoutMs} ms]\n`;
      resolve({ code: code ?? -1, stdout: Buffer.concat(stdout).toString('utf8'), stderr: err, timedOut });
    });
    child.stdin.on('error', () => undefined); // etcdctl may exit before reading all of its input
    child.stdin.end(options.input ?? '');
  });
}
