/**
 * Crash safety: a child process saves entries in a loop and prints each acknowledged index; it is
 * killed with SIGKILL at a random moment, several times over the same WAL. After each kill the WAL
 * opens (repairing a torn tail if needed) and holds every acknowledged index with its exact bytes.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Wal } from './index';
import { makeTempDir, payload, removeTempDir } from './testing/fixtures';

const SEGMENT_BYTES = 64 * 1024;
const ROUNDS = 6;
const payloadBytes = (index: number): number => (index * 37) % 1500;

interface ChildRun {
  acknowledged: number;
  stderr: string;
}

/** Runs the child until it has acknowledged at least one save, waits `killAfterMs` more, kills it. */
function runAndKill(dir: string, seed: number, killAfterMs: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--require', path.join(__dirname, 'testing', 'register-ts.js'), path.join(__dirname, 'testing', 'crash-child.js'), dir, String(SEGMENT_BYTES), String(seed)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr += s));
    child.stdout.on('data', (s: string) => {
      out += s;
      if (timer === undefined && /^\d+$/m.test(out)) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(deadline);
      if (timer !== undefined) clearTimeout(timer);
      if (signal !== 'SIGKILL') return reject(new Error(`child exited on its own (signal ${signal}): ${stderr}`));
      const acks = out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
      resolve({ acknowledged: acks.length > 0 ? acks[acks.length - 1] : 0, stderr });
    });
  });
}

test('every index acknowledged before a kill -9 is in the WAL after it', async () => {
  const seed = Date.now() % 100_000;
  const dir = path.join(makeTempDir('cairn-wal-crash-'), 'wal');
  try {
    let acknowledgedMax = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const killAfterMs = 20 + ((seed * (round + 7)) % 250);
      const run = await runAndKill(dir, seed + round, killAfterMs);
      expect(run.acknowledged).toBeGreaterThanOrEqual(acknowledgedMax);
      acknowledgedMax = run.acknowledged;

      const { wal, entries, snapshot } = await Wal.open(dir, { segmentBytes: SEGMENT_BYTES });
      await wal.close();
      const first = (snapshot?.index ?? 0) + 1;
      const last = entries.length > 0 ? entries[entries.length - 1].index : first - 1;
      expect({ seed, round, last: Math.max(last, acknowledgedMax) }).toEqual({ seed, round, last });
      entries.forEach((e, i) => {
        expect(e.index).toBe(first + i);
        expect(Buffer.from(e.data).equals(Buffer.from(payload(e.index, 1, payloadBytes(e.index))))).toBe(true);
      });
    }
    expect(acknowledgedMax).toBeGreaterThan(0);
  } finally {
    removeTempDir(path.dirname(dir));
  }
});
