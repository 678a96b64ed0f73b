/** Test helpers for server/wal: fresh directories on the real disk, deterministic entries. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EntryType, type Entry } from '../../raft/types';

/** A fresh empty directory under os.tmpdir() (a real disk, not /dev/shm). */
export function makeTempDir(prefix = 'cairn-wal-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Deterministic payload for (index, term): its bytes can be checked after a reopen. */
export function payload(index: number, term: number, bytes: number): Uint8Array {
  const data = new Uint8Array(bytes);
  let x = (index * 2654435761 + term * 40503) >>> 0;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return data;
}

export function entry(index: number, term: number, bytes = 16): Entry {
  return { index, term, type: EntryType.Normal, data: payload(index, term, bytes) };
}

/** Entries [from, to] of `term`. */
export function entries(from: number, to: number, term: number, bytes = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, bytes));
  return out;
}

/** Segment files of `dir`, sorted by name (= by sequence). */
export function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort()
    .map((n) => path.join(dir, n));
}
