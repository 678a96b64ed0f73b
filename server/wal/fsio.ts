/**
 * The few file operations the WAL needs, as Promises over node's callback API (lighter than
 * FileHandle on the hot path). All run on libuv's thread pool, so the event loop keeps running
 * during writes and fsyncs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function openFile(file: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, flags, 0o600, (err, fd) => (err ? reject(err) : resolve(fd))));
}

export function closeFile(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

/** Writes all of `buf[start, end)` at file position `position`, looping over short writes. */
export function writeAt(fd: number, buf: Uint8Array, start: number, end: number, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (s: number, pos: number): void => {
      if (s >= end) return resolve();
      fs.write(fd, buf, s, end - s, pos, (err, written) => {
        if (err) return reject(err);
        step(s + written, pos + written);
      });
    };
    step(start, position);
  });
}

/** Blocking form of {@link writeAt}, for small saves where a thread-pool round trip costs more than the write. */
export function writeAtSync(fd: number, buf: Uint8Array, start: number, end: number, position: number): void {
  let s = start;
  let pos = position;
  while (s < end) {
    const written = fs.writeSync(fd, buf, s, end - s, pos);
    s += written;
    pos += written;
  }
}

/** Blocking fdatasync (see {@link writeAtSync}). */
export function fdatasyncSync(fd: number): void {
  fs.fdatasyncSync(fd);
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function truncateFile(fd: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, bytes, (err) => (err ? reject(err) : resolve())));
}

/** Makes a directory's entries (created, renamed, removed files) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await openFile(dir, 'r');
  try {
    await new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
  } finally {
    await closeFile(fd);
  }
}

const ZERO_CHUNK_BYTES = 1024 * 1024;
let zeroChunk: Buffer | undefined;

/** Writes zeros over [from, to) (no fsync). */
export async function writeZeros(fd: number, from: number, to: number): Promise<void> {
  zeroChunk ??= Buffer.alloc(ZERO_CHUNK_BYTES);
  for (let p = from; p < to; p += ZERO_CHUNK_BYTES) {
    await writeAt(fd, zeroChunk, 0, Math.min(ZERO_CHUNK_BYTES, to - p), p);
  }
}

/** Creates `dir` (and parents) if missing, making each new directory entry durable. */
export async function ensureDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) missing.unshift(d);
  if (missing.length === 0) return;
  await fs.promises.mkdir(dir, { recursive: true });
  for (const d of missing) await fsyncDir(path.dirname(d));
}
