/**
 * Software transactional memory: optimistic read-modify-write. The function reads keys and buffers
 * writes; at the end one Txn commits the writes only if nothing it read has changed (compares on
 * each read key's mod revision); otherwise the function runs again, up to `retriesMax` times.
 *
 * Isolation:
 * - `'serializable'` (default): every read is served at the revision of the first read (one
 *   snapshot), and the commit also checks that the written keys did not change after it;
 * - `'repeatable-read'`: each key is read at the latest revision once, then from the cache; the
 *   commit checks the keys read.
 */
import type { KVView } from './client';
import { Bytes, toBuffer, toKey } from './bytes';
import { InvalidArgumentError, STMConflictError } from './errors';
import { Compare, Op, compare, op } from './txn';

/** STM isolation level. */
export type Isolation = 'serializable' | 'repeatable-read';

/**
 * Options of an STM transaction.
 * @example client.stm(fn, { isolation: 'repeatable-read', retriesMax: 20 })
 */
export interface STMOptions {
  isolation?: Isolation;
  /** Runs of the function before giving up with STMConflictError (default 10). */
  retriesMax?: number;
}

/**
 * What the function of an STM transaction reads and writes through.
 * @example await client.stm(async (tx) => tx.put('n', String(Number((await tx.get('n')) ?? 0) + 1)));
 */
export interface STM {
  /** The value of `key` as a string (null when absent), as of the transaction's snapshot, including its own writes. */
  get(key: Bytes): Promise<string | null>;
  /** The value of `key` as bytes (null when absent). */
  getBuffer(key: Bytes): Promise<Buffer | null>;
  /** Buffers a put, applied at commit. */
  put(key: Bytes, value: Bytes): void;
  /** Buffers a delete, applied at commit. */
  delete(key: Bytes): void;
  /** The revision reads are served at (serializable: the first read's; 0n before any read). */
  readonly revision: bigint;
}

interface ReadEntry {
  readonly value: Buffer | null;
  readonly modRevision: bigint;
}

class STMRun implements STM {
  readonly reads = new Map<string, ReadEntry>();
  readonly writes = new Map<string, Buffer | null>();
  revision = 0n;

  constructor(
    private readonly view: KVView,
    private readonly isolation: Isolation,
  ) {}

  async getBuffer(key: Bytes): Promise<Buffer | null> {
    const k = toKey(key);
    const id = k.toString('latin1');
    if (this.writes.has(id)) return this.writes.get(id)!;
    const cached = this.reads.get(id);
    if (cached !== undefined) return cached.value;
    let q = this.view.get(k);
    if (this.isolation === 'serializable' && this.revision !== 0n) q = q.revision(this.revision);
    const r = await q.exec();
    if (this.revision === 0n) this.revision = r.header.revision;
    const kv = r.kvs[0];
    const entry = { value: kv?.value ?? null, modRevision: kv?.modRevision ?? 0n };
    this.reads.set(id, entry);
    return entry.value;
  }

  async get(key: Bytes): Promise<string | null> {
    return (await this.getBuffer(key))?.toString('utf8') ?? null;
  }

  put(key: Bytes, value: Bytes): void {
    this.writes.set(toKey(key).toString('latin1'), toBuffer(value));
  }

  delete(key: Bytes): void {
    this.writes.set(toKey(key).toString('latin1'), null);
  }

  compares(): Compare[] {
    const out: Compare[] = [];
    for (const [id, r] of this.reads) out.push(compare(Buffer.from(id, 'latin1'), 'modRevision', '==', r.modRevision));
    if (this.isolation === 'serializable' && this.revision !== 0n) {
      for (const id of this.writes.keys()) {
        if (!this.reads.has(id)) out.push(compare(Buffer.from(id, 'latin1'), 'modRevision', '<', this.revision + 1n));
      }
    }
    return out;
  }

  ops(): Op[] {
    return [...this.writes].map(([id, v]) => (v === null ? op.delete(Buffer.from(id, 'latin1')) : op.put(Buffer.from(id, 'latin1'), v)));
  }
}

/** Runs `fn` as an STM transaction on `view`; see {@link KVView.stm}. */
export async function runSTM<T>(view: KVView, fn: (tx: STM) => Promise<T> | T, options: STMOptions = {}): Promise<T> {
  const isolation = options.isolation ?? 'serializable';
  if (isolation !== 'serializable' && isolation !== 'repeatable-read') throw new InvalidArgumentError(`unknown isolation '${String(isolation)}'`);
  const retriesMax = options.retriesMax ?? 10;
  if (!(Number.isSafeInteger(retriesMax) && retriesMax > 0)) throw new InvalidArgumentError('retriesMax must be a positive integer');
  for (let attempt = 1; attempt <= retriesMax; attempt++) {
    const run = new STMRun(view, isolation);
    const result = await fn(run);
    if (run.writes.size === 0 && isolation === 'serializable') return result; // read-only: one snapshot, nothing to commit
    const t = await view.txn().where(...run.compares()).then(...run.ops()).commit();
    if (t.succeeded) return result;
    // Back off a little, more each time, with jitter, so that contenders spread out.
    await new Promise((r) => setTimeout(r, Math.random() * Math.min(5 * 2 ** attempt, 200)));
  }
  throw new STMConflictError(retriesMax);
}
