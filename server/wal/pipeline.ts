/**
 * Prepares the next segment file in the background (as etcd's file pipeline does), so that a save
 * which rolls over does not wait for 64 MiB of zeros to be written. A prepared file is zero-filled
 * to `segmentBytes` and fdatasynced: later writes into it overwrite allocated blocks, so their
 * fdatasync need not commit file-size metadata. One file is kept ready at a time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { closeFile, fdatasync, openFile, writeZeros } from './fsio';
import { PREPARING_SUFFIX } from './segment-name';

/** A zero-filled file under a temporary name, open for reading and writing. */
export interface PreparedFile {
  readonly path: string;
  readonly fd: number;
}

export class SegmentPipeline {
  private next: Promise<PreparedFile> | undefined;
  private count = 0;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
  ) {}

  /** Starts preparing a file if none is under way. */
  start(): void {
    if (this.next !== undefined || this.closed) return;
    const next = this.prepare();
    next.catch(() => undefined); // surfaced by take()
    this.next = next;
  }

  /** Hands over the prepared file (waiting for it if needed) and starts preparing the next one. */
  async take(): Promise<PreparedFile> {
    this.start();
    const next = this.next as Promise<PreparedFile>;
    this.next = undefined;
    try {
      return await next;
    } finally {
      this.start();
    }
  }

  /** Stops preparing and removes the prepared file, if any. */
  async close(): Promise<void> {
    this.closed = true;
    const next = this.next;
    this.next = undefined;
    if (next === undefined) return;
    const file = await next.catch(() => undefined);
    if (file === undefined) return;
    await closeFile(file.fd);
    await fs.promises.rm(file.path, { force: true });
  }

  private async prepare(): Promise<PreparedFile> {
    const file = path.join(this.dir, `${this.count++}${PREPARING_SUFFIX}`);
    const fd = await openFile(file, 'w+');
    try {
      await writeZeros(fd, 0, this.segmentBytes);
      await fdatasync(fd);
    } catch (err) {
      await closeFile(fd).catch(() => undefined);
      throw err;
    }
    return { path: file, fd };
  }
}
