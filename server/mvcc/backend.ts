/**
 * The store's backend: an ordered byte-key map with synchronous point reads (the read hot path),
 * atomic batched writes and ordered scans. Two implementations pass one conformance suite
 * (backend-conformance.ts): LevelBackend (classic-level, on disk) here, and MemoryBackend for tests.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';

/** One change of a batch. */
export type BackendWrite =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: Uint8Array };

/** What `Backend.scan` reads. */
export interface ScanOptions {
  /** Scan keys in [gte, lt), in byte order. */
  readonly gte: Uint8Array;
  readonly lt: Uint8Array;
  /** Read values too (false: each entry's value is undefined). */
  readonly values: boolean;
  /** Entries per yielded chunk (default 1000). */
  readonly chunkSize?: number;
}

/** A key and its value (undefined in a keys-only scan). */
export type ScanEntry = [key: Uint8Array, value: Uint8Array | undefined];

/** An ordered map of byte keys to byte values; see the file comment. */
export interface Backend {
  /** The value at `key`, or undefined; synchronous. Reflects every completed write. */
  getSync(key: Uint8Array): Uint8Array | undefined;
  /**
   * Applies `writes` atomically, in order. Not fsynced unless `sync`: then this and every earlier
   * completed write are durable when it resolves.
   */
  write(writes: readonly BackendWrite[], options?: { readonly sync?: boolean }): Promise<void>;
  /** Chunks of entries in [gte, lt) in key order; each chunk is non-empty. */
  scan(options: ScanOptions): AsyncIterable<ScanEntry[]>;
  /**
   * As `scan`, but the view is fixed when this is called, not when iteration starts: later writes
   * are not seen (a backend snapshot for a Raft snapshot). The iterable is read once.
   */
  snapshotScan(options: ScanOptions): AsyncIterable<ScanEntry[]>;
  /** Approximate bytes used by keys in [gte, lt). */
  approximateSize(gte: Uint8Array, lt: Uint8Array): Promise<number>;
  /** Bytes the backend takes on its medium (files on disk, or memory). */
  totalSize(): Promise<number>;
  /** Compacts the storage of keys in [gte, lt) (LevelDB's CompactRange); absent: nothing to do. */
  compactRange?(gte: Uint8Array, lt: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Entries per scan chunk when the caller does not say. */
export const DEFAULT_SCAN_CHUNK = 1000;

/** A Backend on classic-level (LevelDB) in `dir`. */
export class LevelBackend implements Backend {
  private constructor(
    private readonly db: ClassicLevel<Uint8Array, Uint8Array>,
    private readonly dir: string,
  ) {}

  static async open(dir: string): Promise<LevelBackend> {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    return new LevelBackend(db, dir);
  }

  getSync(key: Uint8Array): Uint8Array | undefined {
    return this.db.getSync(key);
  }

  async write(writes: readonly BackendWrite[], options?: { readonly sync?: boolean }): Promise<void> {
    if (writes.length === 0) return;
    // abstract-level merges options into every operation: pass them only when needed.
    if (options?.sync === true) await this.db.batch(writes as BackendWrite[], { sync: true });
    else await this.db.batch(writes as BackendWrite[]);
  }

  async *scan(options: ScanOptions): AsyncIterable<ScanEntry[]> {
    // The iterator (and its implicit LevelDB snapshot) is made when iteration starts.
    yield* this.snapshotScan(options);
  }

  snapshotScan(options: ScanOptions): AsyncIterable<ScanEntry[]> {
    // classic-level reads an iterator from an implicit snapshot taken when the iterator is created.
    const iterator = this.db.iterator({ gte: options.gte, lt: options.lt, keys: true, values: options.values });
    return LevelBackend.readChunks(iterator, options.chunkSize ?? DEFAULT_SCAN_CHUNK);
  }

  private static async *readChunks(iterator: ReturnType<ClassicLevel<Uint8Array, Uint8Array>['iterator']>, chunkSize: number): AsyncIterable<ScanEntry[]> {
    // The next chunk is read (on libuv's thread pool) while the caller handles this one.
    let next: Promise<ScanEntry[]> | undefined = iterator.nextv(chunkSize) as Promise<ScanEntry[]>;
    try {
      for (;;) {
        const chunk: ScanEntry[] = await next;
        next = undefined;
        if (chunk.length === 0) return;
        next = iterator.nextv(chunkSize) as Promise<ScanEntry[]>;
        yield chunk;
      }
    } finally {
      // A caller that stops early leaves a read in flight: let it settle before closing.
      if (next !== undefined) await next.catch(() => undefined);
      await iterator.close();
    }
  }

  approximateSize(gte: Uint8Array, lt: Uint8Array): Promise<number> {
    return this.db.approximateSize(gte, lt);
  }

  async totalSize(): Promise<number> {
    let total = 0;
    for (const name of await readdir(this.dir)) {
      const info = await stat(join(this.dir, name));
      if (info.isFile()) total += info.size;
    }
    return total;
  }

  compactRange(gte: Uint8Array, lt: Uint8Array): Promise<void> {
    return this.db.compactRange(gte, lt);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
