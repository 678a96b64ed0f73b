/**
 * A Backend held in memory (a sorted map), for fast tests. Same semantics as LevelBackend: writes
 * are atomic and copied; scans see the state as of each chunk.
 */
import BTree from 'sorted-btree';
import { Backend, BackendWrite, DEFAULT_SCAN_CHUNK, ScanEntry, ScanOptions } from './backend';

function toKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function fromKey(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'latin1'));
}

/** A Backend in a sorted map (keys as latin1 strings); nothing persists. */
export class MemoryBackend implements Backend {
  private readonly tree = new BTree<string, Uint8Array>();
  private closed = false;

  getSync(key: Uint8Array): Uint8Array | undefined {
    this.assertOpen();
    return this.tree.get(toKey(key));
  }

  async write(writes: readonly BackendWrite[], _options?: { readonly sync?: boolean }): Promise<void> {
    this.assertOpen();
    for (const w of writes) {
      if (w.type === 'put') this.tree.set(toKey(w.key), new Uint8Array(w.value));
      else this.tree.delete(toKey(w.key));
    }
  }

  scan(options: ScanOptions): AsyncIterable<ScanEntry[]> {
    this.assertOpen();
    return MemoryBackend.readChunks(this.tree, options);
  }

  snapshotScan(options: ScanOptions): AsyncIterable<ScanEntry[]> {
    this.assertOpen();
    // A copy-on-write clone: later writes do not reach it.
    return MemoryBackend.readChunks(this.tree.clone(), options);
  }

  private static async *readChunks(tree: BTree<string, Uint8Array>, options: ScanOptions): AsyncIterable<ScanEntry[]> {
    const chunkSize = options.chunkSize ?? DEFAULT_SCAN_CHUNK;
    const high = toKey(options.lt);
    let low = toKey(options.gte);
    for (;;) {
      const chunk: ScanEntry[] = [];
      for (const [k, v] of tree.entries(low)) {
        if (k >= high || chunk.length === chunkSize) break;
        chunk.push([fromKey(k), options.values ? v : undefined]);
      }
      if (chunk.length === 0) return;
      low = toKey(chunk[chunk.length - 1][0]) + '\x00';
      yield chunk;
    }
  }

  async approximateSize(gte: Uint8Array, lt: Uint8Array): Promise<number> {
    let total = 0;
    this.tree.forRange(toKey(gte), toKey(lt), false, (k, v) => {
      total += k.length + v.length;
    });
    return total;
  }

  async totalSize(): Promise<number> {
    return this.approximateSize(new Uint8Array([0]), new Uint8Array([0xff, 0xff]));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('backend is closed');
  }
}
