/**
 * Makes sure `dist/` holds a build of the current sources before a Cairn process is started.
 *
 * Jest runs test files in several worker processes, and engineers build the same checkout by hand, so
 * the build runs under a lock directory in os.tmpdir() and is skipped when a build that started
 * after the newest source change already ran. A failing build (for example a type error in a folder
 * someone is editing) is not fatal by itself, since tsc still emits: the error is kept and reported
 * if the server then fails to start. Set CAIRN_TEST_NO_BUILD=1 to skip building altogether.
 */
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from './binaries';

const buildTimeoutMs = 240_000;
const lockWaitMs = 240_000;
const lockStaleMs = 300_000;
const lockPollMs = 200;

export interface BuildResult {
  /** True when this call (or an earlier one) ran the build; false when it was fresh already. */
  ran: boolean;
  /** Output of a build that exited non-zero, '' otherwise. */
  error: string;
}

function newestMtimeMs(dir: string, accept: (file: string) => boolean): number {
  let newest = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || entry.name === 'gen') continue;
      newest = Math.max(newest, newestMtimeMs(full, accept));
    } else if (accept(full)) {
      newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  }
  return newest;
}

function sourcesMtimeMs(root: string): number {
  const isSource = (file: string): boolean => /\.(ts|proto|js|json)$/.test(file) && !file.endsWith('.d.ts');
  return Math.max(
    newestMtimeMs(path.join(root, 'server'), isSource),
    newestMtimeMs(path.join(root, 'proto'), isSource),
    newestMtimeMs(path.join(root, 'bin'), isSource),
    newestMtimeMs(path.join(root, 'scripts'), isSource),
  );
}

function stateFiles(root: string): { stamp: string; lock: string } {
  const tag = crypto.createHash('sha256').update(root).digest('hex').slice(0, 12);
  return {
    stamp: path.join(os.tmpdir(), `cairn-test-build-${tag}.stamp`),
    lock: path.join(os.tmpdir(), `cairn-test-build-${tag}.lock`),
  };
}

function isFresh(root: string, stamp: string): boolean {
  if (!fs.existsSync(path.join(root, 'dist', 'server', 'main.js'))) return false;
  let stampMtimeMs: number;
  try {
    stampMtimeMs = fs.statSync(stamp).mtimeMs;
  } catch {
    return false;
  }
  return stampMtimeMs >= sourcesMtimeMs(root);
}

async function acquireLock(lock: string): Promise<void> {
  const deadline = Date.now() + lockWaitMs;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    try {
      if (Date.now() - fs.statSync(lock).mtimeMs > lockStaleMs) fs.rmSync(lock, { recursive: true, force: true });
    } catch {
      // The holder released it between our mkdir and stat.
    }
    if (Date.now() > deadline) throw new Error(`cairn build lock ${lock} still held after ${lockWaitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, lockPollMs));
  }
}

function runBuild(root: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, 'scripts', 'build.js')],
      { cwd: root, timeout: buildTimeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve(err ? `${err.message}\n${stdout}\n${stderr}`.slice(-8000) : ''),
    );
  });
}

let pending: Promise<BuildResult> | undefined;

/** Builds Cairn into dist/ unless a build newer than every source already ran. Once per process. */
export function ensureCairnBuilt(): Promise<BuildResult> {
  if (process.env.CAIRN_TEST_NO_BUILD === '1') return Promise.resolve({ ran: false, error: '' });
  pending ??= (async (): Promise<BuildResult> => {
    const root = repoRoot();
    const { stamp, lock } = stateFiles(root);
    if (isFresh(root, stamp)) return { ran: false, error: '' };
    await acquireLock(lock);
    try {
      if (isFresh(root, stamp)) return { ran: false, error: '' };
      const startedMs = Date.now();
      const error = await runBuild(root);
      fs.writeFileSync(stamp, error === '' ? 'ok\n' : error);
      const started = new Date(startedMs);
      fs.utimesSync(stamp, started, started);
      return { ran: true, error };
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  })();
  return pending;
}

/** The error output of the last build recorded in the stamp ('' when it succeeded or never ran). */
export function lastBuildError(): string {
  const { stamp } = stateFiles(repoRoot());
  try {
    const text = fs.readFileSync(stamp, 'utf8');
    return text === 'ok\n' ? '' : text;
  } catch {
    return '';
  }
}
