/**
 * The multi-version store (etcd 3.4's mvcc semantics): write transactions, reads at any revision
 * since the last compaction, flushes to the backend, compaction and hashKV.
 *
 * State lives in three places: the key index (which revisions each key has), the backend (revision
 * → stored value) and `pending`, the values of ended write transactions whose flush has not
 * completed yet; reads look in `pending` first, then read the backend synchronously.
 */
import assert from 'node:assert';
import { Backend, BackendWrite, LevelBackend, ScanEntry } from './backend';
import { crc32c } from '../wal/crc32c';
import { CompactedError, FutureRevisionError } from './errors';
import { IndexHit, KeyIndex } from './key-index';
import { decodeKeyValue, encodeStoredValue, readStoredHeader, StoredFlag, StoredHeader } from './kv-codec';
import { MemoryBackend } from './memory-backend';
import { RevisionSet } from './revision-set';
import {
  DATA_PREFIX,
  decodeUint64,
  encodeUint64,
  META_PREFIX,
  REVISION_KEY_BYTES,
  revisionKey,
  revisionKeyMain,
  revisionKeySub,
  writeRevisionKey,
} from './revision';
import type {
  CommitListener,
  CompactResult,
  EventsBatch,
  EventsQuery,
  MvccEvent,
  HashKVResult,
  MvccStore,
  RangeOptions,
  RangeResult,
  MetaRecordName,
  ReadTxn,
  StoredKeyValue,
  WriteTxn,
} from './types';

/** Options of `openMvccStore`. */
export interface MvccStoreOptions {
  /** Directory of the classic-level backend; absent: an in-memory backend. */
  readonly dir?: string;
  /** Backend revisions deleted per compaction batch (default 1000). */
  readonly compactionBatchLimit?: number;
}

const DEFAULT_COMPACTION_BATCH_LIMIT = 1000;
const REBUILD_SCAN_CHUNK = 4096;

function metaKey(name: string): Uint8Array {
  return new Uint8Array(Buffer.from(String.fromCharCode(META_PREFIX) + name, 'latin1'));
}

const META_CONSISTENT_INDEX = metaKey('consistentIndex');
/** The last compaction whose backend deletions completed. */
const META_COMPACT_REVISION = metaKey('compactRevision');
/** The last compaction started; greater than META_COMPACT_REVISION while one is unfinished. */
const META_SCHEDULED_COMPACT_REVISION = metaKey('scheduledCompactRevision');
/** The raised alarms, an opaque record of server/apply/quota.ts. */
/** Meta records by name: one key each, beside the consistent index. */
const META_RECORDS: Readonly<Record<MetaRecordName, Uint8Array>> = { alarms: metaKey('alarms'), members: metaKey('members') };

/** Lease records: `l` + the lease ID as a big-endian int64 (between data `k` and meta `m` keys). */
const LEASE_PREFIX = 0x6c;
const LEASES_START = new Uint8Array([LEASE_PREFIX]);
const LEASES_END = new Uint8Array([LEASE_PREFIX + 1]);

function leaseKey(id: bigint): Uint8Array {
  const key = Buffer.alloc(9);
  key[0] = LEASE_PREFIX;
  key.writeBigInt64BE(id, 1);
  return new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
}

/** First and past-the-end data keys. */
const DATA_START = new Uint8Array([DATA_PREFIX]);
const DATA_END = new Uint8Array([DATA_PREFIX + 1]);

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A predicate over latin1 keys for an optional key range (see EventsQuery.keyRange). */
function keyMatcher(range: EventsQuery['keyRange']): (key: string) => boolean {
  if (range === undefined) return () => true;
  const { key, end } = range;
  if (end === undefined) return (k) => k === key;
  if (end === '') return (k) => k >= key;
  return (k) => k >= key && k < end;
}

/** Opens (or creates) a store; rebuilds the key index from the backend and finishes an interrupted compaction. */
export async function openMvccStore(options: MvccStoreOptions = {}): Promise<MvccStore> {
  const backend = options.dir === undefined ? new MemoryBackend() : await LevelBackend.open(options.dir);
  return Store.open(backend, options);
}

/** Opens a store on a given backend (tests: reopen a MemoryBackend). */
export async function openMvccStoreOnBackend(backend: Backend, options: MvccStoreOptions = {}): Promise<MvccStore> {
  return Store.open(backend, options);
}

class Store implements MvccStore {
  private index = new KeyIndex();
  private currentRevisionValue = 1;
  private compactRevisionValue = 0;
  private consistentIndexValue = 0;
  /** Values of ended transactions not yet written: main → values by sub. */
  private readonly pending = new Map<number, Buffer[]>();
  /** Mains of ended transactions not yet handed to a flush, ascending. */
  private unbatchedMains: number[] = [];
  private lastBatchedMain = 0;
  private lastWrittenMain = 0;
  private flushedConsistentIndex = 0;
  /** Meta records for the next flush batch. */
  private readonly dirtyMeta = new Map<Uint8Array, Uint8Array>();
  /** Lease records for the next flush batch; undefined deletes. */
  private readonly dirtyLeases = new Map<bigint, Uint8Array | undefined>();
  private flushTail: Promise<void> = Promise.resolve();
  /** Bytes of the revision keys and values the backend holds: the store's size in use. */
  private dataBytes = 0;
  private compactionTail: Promise<void> = Promise.resolve();
  private openWrite: StoreWriteTxn | undefined;
  private cachedRead: StoreReadTxn | undefined;
  private closed = false;
  private readonly keyScratch = new Uint8Array(REVISION_KEY_BYTES);
  private readonly hitScratch: IndexHit = { modMain: 0, modSub: 0, createRevision: 0, version: 0 };
  private readonly commitListeners: CommitListener[] = [];

  private constructor(
    private backend: Backend,
    private readonly compactionBatchLimit: number,
  ) {}

  static async open(backend: Backend, options: MvccStoreOptions): Promise<Store> {
    const limit = options.compactionBatchLimit ?? DEFAULT_COMPACTION_BATCH_LIMIT;
    assert(Number.isSafeInteger(limit) && limit > 0, 'compactionBatchLimit must be a positive integer');
    const store = new Store(backend, limit);
    await store.rebuild();
    return store;
  }

  get currentRevision(): number {
    return this.currentRevisionValue;
  }

  get compactRevision(): number {
    return this.compactRevisionValue;
  }

  get consistentIndex(): number {
    return this.consistentIndexValue;
  }

  read(): ReadTxn {
    this.assertOpen();
    const cached = this.cachedRead;
    if (cached !== undefined && cached.revision === this.currentRevisionValue) return cached;
    const view = new StoreReadTxn(this, this.currentRevisionValue);
    this.cachedRead = view;
    return view;
  }

  write(): WriteTxn {
    this.assertOpen();
    assert(this.openWrite === undefined, 'mvcc: a write transaction is already open');
    const txn = new StoreWriteTxn(this, this.currentRevisionValue);
    this.openWrite = txn;
    return txn;
  }

  setConsistentIndex(index: number): void {
    assert(Number.isSafeInteger(index) && index >= 0, `bad consistent index ${index}`);
    assert(index >= this.consistentIndexValue, `consistent index went back: ${index} < ${this.consistentIndexValue}`);
    this.consistentIndexValue = index;
  }

  flush(): Promise<void> {
    this.assertOpen();
    const mains = this.unbatchedMains;
    if (mains.length === 0 && this.dirtyMeta.size === 0 && this.dirtyLeases.size === 0 && this.consistentIndexValue === this.flushedConsistentIndex) {
      return this.flushTail;
    }
    this.unbatchedMains = [];
    const writes: BackendWrite[] = [];
    let changes = 0;
    for (const main of mains) changes += this.pending.get(main)?.length ?? 0;
    // One allocation for all the batch's revision keys; each write gets a view of it.
    const keys = new Uint8Array(changes * REVISION_KEY_BYTES);
    let at = 0;
    for (const main of mains) {
      assert(main > this.lastBatchedMain, `flush out of order: ${main} after ${this.lastBatchedMain}`);
      this.lastBatchedMain = main;
      const values = this.pending.get(main);
      assert(values !== undefined && values.length > 0, `no pending values for revision ${main}`);
      for (let sub = 0; sub < values.length; sub++) {
        const key = writeRevisionKey(keys.subarray(at, at + REVISION_KEY_BYTES), main, sub);
        at += REVISION_KEY_BYTES;
        writes.push({ type: 'put', key, value: values[sub] });
        this.dataBytes += REVISION_KEY_BYTES + values[sub].length;
      }
    }
    writes.push({ type: 'put', key: META_CONSISTENT_INDEX, value: encodeUint64(this.consistentIndexValue) });
    this.flushedConsistentIndex = this.consistentIndexValue;
    for (const [key, value] of this.dirtyMeta) writes.push({ type: 'put', key, value });
    this.dirtyMeta.clear();
    for (const [id, record] of this.dirtyLeases) {
      writes.push(record === undefined ? { type: 'del', key: leaseKey(id) } : { type: 'put', key: leaseKey(id), value: record });
    }
    this.dirtyLeases.clear();
    const tail = this.flushTail.then(async () => {
      if (mains.length > 0) {
        assert(mains[0] > this.lastWrittenMain, `flush writes out of order: ${mains[0]} after ${this.lastWrittenMain}`);
      }
      await this.backend.write(writes);
      for (const main of mains) this.pending.delete(main);
      if (mains.length > 0) this.lastWrittenMain = mains[mains.length - 1];
    });
    this.flushTail = tail;
    return tail;
  }

  sync(): Promise<void> {
    this.assertOpen();
    // A synced batch after the flushed ones: LevelDB's log is sequential, so it makes them durable too.
    const tail = this.flushTail.then(() =>
      this.backend.write([{ type: 'put', key: META_CONSISTENT_INDEX, value: encodeUint64(this.flushedConsistentIndex) }], { sync: true }),
    );
    this.flushTail = tail;
    return tail;
  }

  compact(revision: number): CompactResult {
    this.assertOpen();
    assert(Number.isSafeInteger(revision), `bad compaction revision ${revision}`);
    if (revision <= this.compactRevisionValue) throw new CompactedError(revision, this.compactRevisionValue);
    if (revision > this.currentRevisionValue) throw new FutureRevisionError(revision, this.currentRevisionValue);
    const keep = this.index.compact(revision);
    this.compactRevisionValue = revision;
    this.dirtyMeta.set(META_SCHEDULED_COMPACT_REVISION, encodeUint64(revision));
    const done = this.compactionTail.then(() => this.compactBackend(revision, keep));
    this.compactionTail = done;
    return { done };
  }

  async hashKV(revision: number): Promise<HashKVResult> {
    this.assertOpen();
    const compactRevision = this.compactRevisionValue;
    const currentRevision = this.currentRevisionValue;
    const rev = revision > 0 ? revision : currentRevision;
    if (revision > 0 && revision <= compactRevision) throw new CompactedError(revision, compactRevision);
    if (rev > currentRevision) throw new FutureRevisionError(rev, currentRevision);
    // What a compaction at compactRevision keeps: revisions ≤ it that are still in the backend
    // because the backend compaction is under way are left out, so the hash is deterministic.
    const keep = this.index.keep(compactRevision);
    await this.flush();
    let hash = crc32c(Buffer.from('kv', 'latin1'));
    for await (const chunk of this.backend.scan({ gte: DATA_START, lt: revisionKey(rev + 1, 0), values: true })) {
      for (const [key, value] of chunk) {
        const main = revisionKeyMain(key);
        if (main <= compactRevision && !keep.has(main, revisionKeySub(key))) continue;
        hash = crc32c(key, 0, key.length, hash);
        hash = crc32c(value!, 0, value!.length, hash);
      }
    }
    return { hash, compactRevision, revision: rev };
  }

  async dbSize(): Promise<{ sizeBytes: number; sizeInUseBytes: number }> {
    this.assertOpen();
    // LevelDB's own estimate ignores what is still in its memtable, so the store counts the bytes of
    // the revisions it holds; the files on disk may hold more (obsolete versions not yet merged).
    const total = await this.backend.totalSize();
    return { sizeBytes: Math.max(total, this.dataBytes), sizeInUseBytes: this.dataBytes };
  }

  async openSnapshot(): Promise<AsyncIterable<ScanEntry[]>> {
    this.assertOpen();
    await this.flush();
    // Nothing has run between the flush and here, so the view holds exactly what is applied.
    return this.backend.snapshotScan({ gte: new Uint8Array([0]), lt: new Uint8Array([0xff, 0xff]), values: true, chunkSize: REBUILD_SCAN_CHUNK });
  }

  async restore(open: () => Promise<Backend>): Promise<void> {
    this.assertOpen();
    assert(this.openWrite === undefined, 'mvcc: restore with an open write transaction');
    // Writes of the old state still in flight settle first; their results are discarded with it.
    await this.compactionTail.catch(() => undefined);
    await this.flushTail.catch(() => undefined);
    await this.backend.close();
    this.backend = await open();
    this.index = new KeyIndex();
    this.currentRevisionValue = 1;
    this.compactRevisionValue = 0;
    this.consistentIndexValue = 0;
    this.pending.clear();
    this.unbatchedMains = [];
    this.lastBatchedMain = 0;
    this.lastWrittenMain = 0;
    this.flushedConsistentIndex = 0;
    this.dirtyMeta.clear();
    this.dirtyLeases.clear();
    this.flushTail = Promise.resolve();
    this.compactionTail = Promise.resolve();
    this.dataBytes = 0;
    this.cachedRead = undefined;
    await this.rebuild();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    assert(this.openWrite === undefined, 'mvcc: close with an open write transaction');
    await this.flush();
    await this.compactionTail;
    await this.flushTail;
    this.closed = true;
    await this.backend.close();
  }

  putLease(id: bigint, record: Uint8Array): void {
    this.assertOpen();
    this.dirtyLeases.set(id, record);
  }

  deleteLease(id: bigint): void {
    this.assertOpen();
    this.dirtyLeases.set(id, undefined);
  }

  async leases(): Promise<{ readonly id: bigint; readonly record: Uint8Array }[]> {
    this.assertOpen();
    await this.flush();
    const out: { id: bigint; record: Uint8Array }[] = [];
    for await (const chunk of this.backend.scan({ gte: LEASES_START, lt: LEASES_END, values: true })) {
      for (const [key, value] of chunk) out.push({ id: asBuffer(key).readBigInt64BE(1), record: value! });
    }
    return out;
  }

  putMetaRecord(name: MetaRecordName, record: Uint8Array): void {
    this.assertOpen();
    this.dirtyMeta.set(META_RECORDS[name], record);
  }

  metaRecord(name: MetaRecordName): Uint8Array | undefined {
    this.assertOpen();
    const key = META_RECORDS[name];
    return this.dirtyMeta.get(key) ?? this.backend.getSync(key);
  }

  async defragment(): Promise<void> {
    this.assertOpen();
    await this.flush();
    await this.compactionTail;
    // The whole keyspace: data, lease and meta keys (every key starts with a byte below 0xff).
    const gte = new Uint8Array([0]);
    const lt = new Uint8Array([0xff, 0xff]);
    await this.backend.compactRange?.(gte, lt);
    // LevelDB's CompactRange only merges a level into the next one: a table it has just written from
    // the memtable to an otherwise empty level keeps shadowed versions and deletions. One small write
    // (the consistent index again) lands above it, and a second pass merges the two.
    const tail = this.flushTail.then(() => this.backend.write([{ type: 'put', key: META_CONSISTENT_INDEX, value: encodeUint64(this.flushedConsistentIndex) }]));
    this.flushTail = tail;
    await tail;
    await this.backend.compactRange?.(gte, lt);
  }

  onCommit(listener: CommitListener): void {
    this.commitListeners.push(listener);
  }

  /** True when write transactions must record their changes for commit listeners. */
  get recordsEvents(): boolean {
    return this.commitListeners.length > 0;
  }

  async events(query: EventsQuery): Promise<EventsBatch> {
    this.assertOpen();
    const from = query.fromRevision;
    assert(Number.isSafeInteger(from) && from > 0, `bad events fromRevision ${from}`);
    assert(query.limit > 0, 'events limit must be positive');
    if (from < this.compactRevisionValue) throw new CompactedError(from, this.compactRevisionValue);
    const to = Math.min(query.toRevision, this.currentRevisionValue);
    if (from > to) return { events: [], nextRevision: from };
    const match = keyMatcher(query.keyRange);
    // Mains ≤ written are in the backend for good; later ones are taken from `pending` now,
    // synchronously, before a flush can move them.
    const written = this.lastWrittenMain;
    const fromPending: [number, Buffer[]][] = [];
    for (let main = Math.max(from, written + 1); main <= to; main++) {
      const values = this.pending.get(main);
      assert(values !== undefined, `mvcc: revision ${main} is neither written nor pending`);
      fromPending.push([main, values]);
    }
    const events: MvccEvent[] = [];
    const header: StoredHeader = { tombstone: false, key: '', createRevision: 0, version: 0 };
    let examined = 0;
    let examinedBytes = 0;
    const bytesLimit = query.bytesLimit ?? Infinity;
    const enough = (): boolean => examined >= query.limit || examinedBytes >= bytesLimit;
    let nextRevision = from;
    const take = (main: number, stored: Uint8Array): void => {
      examinedBytes += stored.length;
      readStoredHeader(stored, header);
      if (match(header.key)) {
        events.push({ type: header.tombstone ? 'delete' : 'put', key: header.key, modRevision: main, kv: asBuffer(stored).subarray(1) });
      }
      examined++;
    };
    let full = false;
    if (from <= written) {
      const lt = revisionKey(Math.min(to, written) + 1, 0);
      const chunkSize = Math.min(query.limit + 1, 1000);
      scan: for await (const chunk of this.backend.scan({ gte: revisionKey(from, 0), lt, values: true, chunkSize })) {
        for (const [key, value] of chunk) {
          const main = revisionKeyMain(key);
          if (main !== nextRevision - 1 && enough()) {
            full = true;
            nextRevision = main;
            break scan;
          }
          take(main, value!);
          nextRevision = main + 1;
        }
      }
      if (!full) nextRevision = Math.min(to, written) + 1;
    }
    if (!full) {
      for (const [main, values] of fromPending) {
        if (enough()) break;
        for (const stored of values) take(main, stored);
        nextRevision = main + 1;
      }
    }
    // A compaction that started during the read may have removed part of what it covered.
    if (from < this.compactRevisionValue) throw new CompactedError(from, this.compactRevisionValue);
    return { events, nextRevision };
  }

  // ---- used by the transactions ----

  /** etcd's rangeKeys: validates the revision, then reads from the index and the values. */
  rangeAt(key: Buffer, end: Buffer | undefined, options: RangeOptions | undefined, currentRevision: number): RangeResult {
    this.assertOpen();
    const asked = options?.revision ?? 0;
    assert(Number.isSafeInteger(asked), `bad range revision ${asked}`);
    if (asked > currentRevision) throw new FutureRevisionError(asked, currentRevision);
    const rev = asked > 0 ? asked : currentRevision;
    if (rev < this.compactRevisionValue) throw new CompactedError(rev, this.compactRevisionValue);
    const k = key.toString('latin1');
    const e = end === undefined || end.length === 0 ? undefined : end.toString('latin1');
    if (options?.countOnly === true) {
      return { kvs: [], count: this.index.countRange(k, e, rev), revision: currentRevision };
    }
    const limit = options?.limit !== undefined && options.limit > 0 ? options.limit : Number.POSITIVE_INFINITY;
    const kvs: StoredKeyValue[] = [];
    const count = this.index.range(k, e, rev, (_key, hit) => {
      if (kvs.length >= limit) return false;
      kvs.push(this.readKeyValue(hit));
      return true;
    });
    return { kvs, count, revision: currentRevision };
  }

  private readKeyValue(hit: IndexHit): StoredKeyValue {
    const stored = this.readStored(hit.modMain, hit.modSub);
    assert(stored !== undefined, `mvcc: revision ${hit.modMain}.${hit.modSub} missing from the backend`);
    assert(stored[0] === StoredFlag.Put, `mvcc: revision ${hit.modMain}.${hit.modSub} is not a put`);
    const encoded = asBuffer(stored).subarray(1);
    const kv = decodeKeyValue(encoded);
    return {
      key: kv.key,
      createRevision: hit.createRevision,
      modRevision: hit.modMain,
      version: hit.version,
      value: kv.value,
      lease: kv.lease,
      encoded,
    };
  }

  private readStored(main: number, sub: number): Uint8Array | undefined {
    const values = this.pending.get(main);
    if (values !== undefined) return values[sub];
    return this.backend.getSync(writeRevisionKey(this.keyScratch, main, sub));
  }

  txnPut(txn: StoreWriteTxn, key: Buffer, value: Buffer, lease: bigint, sub: number): void {
    assert(this.openWrite === txn, 'mvcc: write on an ended transaction');
    assert(key.length > 0, 'mvcc: empty key');
    const main = txn.beginRevision + 1;
    const k = key.toString('latin1');
    const hit = this.hitScratch;
    const found = this.index.range(k, undefined, main, (_k, h) => {
      hit.createRevision = h.createRevision;
      hit.version = h.version;
    });
    const createRevision = found > 0 ? hit.createRevision : main;
    const version = found > 0 ? hit.version + 1 : 1;
    const stored = encodeStoredValue(StoredFlag.Put, { key, createRevision, modRevision: main, version, value, lease });
    this.addPending(main, sub, stored);
    this.index.put(k, main, sub);
    txn.recorded?.push({ type: 'put', key: k, modRevision: main, kv: stored.subarray(1) });
  }

  txnDeleteRange(txn: StoreWriteTxn, key: Buffer, end: Buffer | undefined, readRevision: number): number {
    assert(this.openWrite === txn, 'mvcc: write on an ended transaction');
    const k = key.toString('latin1');
    const e = end === undefined || end.length === 0 ? undefined : end.toString('latin1');
    const keys: string[] = [];
    this.index.range(k, e, readRevision, (found) => {
      keys.push(found);
    });
    const main = txn.beginRevision + 1;
    let sub = txn.changes;
    for (const found of keys) {
      const keyBytes = Buffer.from(found, 'latin1');
      // A tombstone carries the key and its mod revision: what a delete event shows.
      const stored = encodeStoredValue(StoredFlag.Tombstone, {
        key: keyBytes,
        createRevision: 0,
        modRevision: main,
        version: 0,
        value: Buffer.alloc(0),
        lease: 0n,
      });
      this.addPending(main, sub, stored);
      this.index.tombstone(found, main, sub);
      txn.recorded?.push({ type: 'delete', key: found, modRevision: main, kv: stored.subarray(1) });
      sub++;
    }
    return keys.length;
  }

  private addPending(main: number, sub: number, stored: Buffer): void {
    let values = this.pending.get(main);
    if (values === undefined) {
      values = [];
      this.pending.set(main, values);
    }
    assert.equal(values.length, sub, 'mvcc: sub revisions must be consecutive');
    values.push(stored);
  }

  txnEnd(txn: StoreWriteTxn): void {
    assert(this.openWrite === txn, 'mvcc: end of a transaction that is not open');
    this.openWrite = undefined;
    if (txn.changes === 0) return;
    const main = txn.beginRevision + 1;
    assert.equal(main, this.currentRevisionValue + 1, 'mvcc: revisions only grow by one per transaction');
    this.currentRevisionValue = main;
    this.unbatchedMains.push(main);
    const events = txn.recorded;
    if (events !== undefined) {
      assert.equal(events.length, txn.changes, 'mvcc: every change is recorded');
      for (const listener of this.commitListeners) listener(events, main);
    }
  }

  // ---- compaction and rebuild ----

  private async compactBackend(revision: number, keep: RevisionSet): Promise<void> {
    // Everything ≤ revision, and the scheduled compaction record, reach the backend first.
    await this.flush();
    const deletes: BackendWrite[] = [];
    const end = revisionKey(revision + 1, 0);
    for await (const chunk of this.backend.scan({ gte: DATA_START, lt: end, values: true, chunkSize: this.compactionBatchLimit })) {
      for (const [key, value] of chunk) {
        if (!keep.has(revisionKeyMain(key), revisionKeySub(key))) {
          deletes.push({ type: 'del', key });
          this.dataBytes -= key.length + value!.length;
        }
      }
      if (deletes.length > 0) {
        await this.backend.write(deletes.splice(0));
      }
      await yieldToEventLoop();
    }
    await this.backend.write([{ type: 'put', key: META_COMPACT_REVISION, value: encodeUint64(revision) }]);
  }

  private readMeta(key: Uint8Array): number {
    const value = this.backend.getSync(key);
    return value === undefined ? 0 : decodeUint64(value);
  }

  /** Rebuilds the key index from the backend, in revision order; finishes an interrupted compaction. */
  private async rebuild(): Promise<void> {
    this.consistentIndexValue = this.readMeta(META_CONSISTENT_INDEX);
    this.flushedConsistentIndex = this.consistentIndexValue;
    const finished = this.readMeta(META_COMPACT_REVISION);
    const scheduled = this.readMeta(META_SCHEDULED_COMPACT_REVISION);
    assert(scheduled >= finished, `scheduled compaction ${scheduled} before finished ${finished}`);
    let lastMain = 0;
    let lastSub = -1;
    const header: StoredHeader = { tombstone: false, key: '', createRevision: 0, version: 0 };
    for await (const chunk of this.backend.scan({ gte: DATA_START, lt: DATA_END, values: true, chunkSize: REBUILD_SCAN_CHUNK })) {
      for (const [key, value] of chunk) {
        const main = revisionKeyMain(key);
        const sub = revisionKeySub(key);
        assert(main > lastMain || (main === lastMain && sub > lastSub), 'backend revisions out of order');
        lastMain = main;
        lastSub = sub;
        this.dataBytes += key.length + value!.length;
        readStoredHeader(value!, header);
        if (header.tombstone) {
          // An interrupted compaction may have deleted a tombstone's generation but not the tombstone.
          const live = this.index.get(header.key, Number.MAX_SAFE_INTEGER) !== undefined;
          if (!live && main <= scheduled) continue;
          this.index.tombstone(header.key, main, sub);
        } else {
          this.index.restorePut(header.key, main, sub, header.createRevision, header.version);
        }
      }
    }
    this.currentRevisionValue = Math.max(1, lastMain, scheduled);
    this.lastBatchedMain = lastMain;
    this.lastWrittenMain = lastMain;
    this.compactRevisionValue = finished;
    if (scheduled > finished) {
      const keep = this.index.compact(scheduled);
      this.compactRevisionValue = scheduled;
      await this.compactBackend(scheduled, keep);
    }
  }

  private assertOpen(): void {
    assert(!this.closed, 'mvcc: store is closed');
  }
}

/** A read view at a fixed revision. */
class StoreReadTxn implements ReadTxn {
  constructor(
    private readonly store: Store,
    readonly revision: number,
  ) {}

  get compactRevision(): number {
    return this.store.compactRevision;
  }

  range(key: Buffer, end: Buffer | undefined, options?: RangeOptions): RangeResult {
    return this.store.rangeAt(key, end, options, this.revision);
  }
}

/** The open write transaction: its changes get revision beginRevision + 1, subs 0, 1, 2... */
class StoreWriteTxn implements WriteTxn {
  changes = 0;
  /** Changes in sub order, when commit listeners want them. */
  readonly recorded: MvccEvent[] | undefined;

  constructor(
    private readonly store: Store,
    readonly beginRevision: number,
  ) {
    this.recorded = store.recordsEvents ? [] : undefined;
  }

  /** etcd: a transaction with changes reads at its own new revision. */
  get revision(): number {
    return this.changes > 0 ? this.beginRevision + 1 : this.beginRevision;
  }

  get compactRevision(): number {
    return this.store.compactRevision;
  }

  range(key: Buffer, end: Buffer | undefined, options?: RangeOptions): RangeResult {
    return this.store.rangeAt(key, end, options, this.revision);
  }

  put(key: Buffer, value: Buffer, lease: bigint): void {
    this.store.txnPut(this, key, value, lease, this.changes);
    this.changes++;
  }

  deleteRange(key: Buffer, end: Buffer | undefined): number {
    const deleted = this.store.txnDeleteRange(this, key, end, this.revision);
    this.changes += deleted;
    return deleted;
  }

  end(): void {
    this.store.txnEnd(this);
  }
}
