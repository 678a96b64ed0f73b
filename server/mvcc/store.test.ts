/**
 * The store's etcd 3.4 mvcc behaviours (etcd server/mvcc kvstore_test.go, kv_test.go): revisions,
 * versions, transactions, reads at old revisions, compaction, restart, consistent index. Each
 * behaviour runs on the in-memory backend and on classic-level in a fresh directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelBackend } from './backend';
import { CompactedError, FutureRevisionError } from './errors';
import { decodeKeyValue } from './kv-codec';
import { MemoryBackend } from './memory-backend';
import { encodeUint64, revisionKeyMain, revisionKeySub } from './revision';
import { openMvccStore, openMvccStoreOnBackend } from './store';
import type { MvccStore, StoredKeyValue } from './types';

const b = (s: string): Buffer => Buffer.from(s);
const ALL = Buffer.from([0]);

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-mvcc-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function put(store: MvccStore, ...pairs: [string, string][]): number {
  const txn = store.write();
  for (const [k, v] of pairs) txn.put(b(k), b(v), 0n);
  txn.end();
  return store.currentRevision;
}

function del(store: MvccStore, key: string, end?: string): number {
  const txn = store.write();
  const n = txn.deleteRange(b(key), end === undefined ? undefined : b(end));
  txn.end();
  return n;
}

function get(store: MvccStore, key: string, revision?: number): StoredKeyValue | undefined {
  return store.read().range(b(key), undefined, { revision }).kvs[0];
}

function summary(kv: StoredKeyValue | undefined): unknown {
  if (kv === undefined) return undefined;
  return { key: kv.key.toString(), value: kv.value.toString(), create: kv.createRevision, mod: kv.modRevision, version: kv.version };
}

type Kind = 'memory' | 'level';
const kinds: Kind[] = ['memory', 'level'];

describe.each(kinds)('mvcc store on the %s backend', (kind) => {
  let dir: string | undefined;
  const open = async (): Promise<MvccStore> => openMvccStore({ dir });
  beforeEach(async () => {
    dir = kind === 'level' ? await freshDir() : undefined;
  });

  test('events stop at a byte bound too, after whole revisions, flushed or not', async () => {
    const store = await open();
    for (let i = 0; i < 10; i++) {
      const w = store.write();
      w.put(Buffer.from(`big-${i}`), Buffer.alloc(1000, 0x61), 0n);
      w.end();
      if (i === 4) await store.flush(); // revisions 2..6 in the backend, 7..11 pending
    }
    const first = await store.events({ fromRevision: 2, toRevision: 11, limit: 1000, bytesLimit: 2500 });
    expect(first.events.map((e) => e.modRevision)).toEqual([2, 3, 4]);
    expect(first.nextRevision).toBe(5);
    const pending = await store.events({ fromRevision: 7, toRevision: 11, limit: 1000, bytesLimit: 1500 });
    expect(pending.events.map((e) => e.modRevision)).toEqual([7, 8]);
    expect(pending.nextRevision).toBe(9);
    const all = await store.events({ fromRevision: 2, toRevision: 11, limit: 1000 });
    expect(all.events).toHaveLength(10);
    await store.close();
  });

  test('a fresh store is at revision 1 and the first write gets revision 2', async () => {
    const store = await open();
    expect(store.currentRevision).toBe(1);
    expect(store.compactRevision).toBe(0);
    expect(put(store, ['a', '1'])).toBe(2);
    expect(summary(get(store, 'a'))).toEqual({ key: 'a', value: '1', create: 2, mod: 2, version: 1 });
    await store.close();
  });

  test('a put of a live key keeps createRevision and increments version', async () => {
    const store = await open();
    put(store, ['a', '1']);
    put(store, ['a', '2']);
    put(store, ['a', '3']);
    expect(summary(get(store, 'a'))).toEqual({ key: 'a', value: '3', create: 2, mod: 4, version: 3 });
    await store.close();
  });

  test('a put after a delete starts a new generation', async () => {
    const store = await open();
    put(store, ['a', '1']);
    put(store, ['a', '2']);
    expect(del(store, 'a')).toBe(1);
    expect(store.currentRevision).toBe(4);
    expect(get(store, 'a')).toBeUndefined();
    put(store, ['a', 'again']);
    expect(summary(get(store, 'a'))).toEqual({ key: 'a', value: 'again', create: 5, mod: 5, version: 1 });
    expect(summary(get(store, 'a', 3))).toEqual({ key: 'a', value: '2', create: 2, mod: 3, version: 2 });
    expect(get(store, 'a', 4)).toBeUndefined();
    await store.close();
  });

  test('deleting nothing does not advance the revision', async () => {
    const store = await open();
    put(store, ['a', '1']);
    expect(del(store, 'zzz')).toBe(0);
    expect(store.currentRevision).toBe(2);
    const txn = store.write();
    txn.end();
    expect(store.currentRevision).toBe(2);
    await store.close();
  });

  test('a transaction with several puts is one revision with sub revisions in order', async () => {
    const store = await open();
    expect(put(store, ['a', '1'], ['b', '2'], ['c', '3'])).toBe(2);
    const r = store.read().range(b('a'), ALL);
    expect(r.count).toBe(3);
    expect(r.kvs.map((kv) => kv.modRevision)).toEqual([2, 2, 2]);
    await store.close();
  });

  test('ranges in a write transaction see its own changes at its new revision', async () => {
    const store = await open();
    put(store, ['a', '1']);
    const txn = store.write();
    expect(txn.revision).toBe(2);
    txn.put(b('a'), b('2'), 0n);
    txn.put(b('b'), b('x'), 0n);
    expect(txn.revision).toBe(3);
    const inside = txn.range(b('a'), ALL);
    expect(inside.kvs.map(summary)).toEqual([
      { key: 'a', value: '2', create: 2, mod: 3, version: 2 },
      { key: 'b', value: 'x', create: 3, mod: 3, version: 1 },
    ]);
    // Others do not see an open transaction.
    expect(store.read().range(b('a'), ALL).count).toBe(1);
    expect(txn.deleteRange(b('a'), undefined)).toBe(1);
    expect(txn.range(b('a'), undefined).count).toBe(0);
    txn.put(b('a'), b('3'), 0n);
    expect(summary(txn.range(b('a'), undefined).kvs[0])).toEqual({ key: 'a', value: '3', create: 3, mod: 3, version: 1 });
    txn.end();
    expect(store.currentRevision).toBe(3);
    expect(summary(get(store, 'a'))).toEqual({ key: 'a', value: '3', create: 3, mod: 3, version: 1 });
    await store.close();
  });

  test('range follows etcd range-end conventions, limit and countOnly', async () => {
    const store = await open();
    put(store, ['a', '1'], ['b', '2'], ['c', '3'], ['d', '4']);
    const read = store.read();
    expect(read.range(b('b'), undefined).kvs.map((kv) => kv.key.toString())).toEqual(['b']);
    expect(read.range(b('b'), Buffer.alloc(0)).kvs.map((kv) => kv.key.toString())).toEqual(['b']);
    expect(read.range(b('b'), b('d')).kvs.map((kv) => kv.key.toString())).toEqual(['b', 'c']);
    expect(read.range(b('b'), ALL).kvs.map((kv) => kv.key.toString())).toEqual(['b', 'c', 'd']);
    expect(read.range(ALL, ALL).count).toBe(4);
    expect(read.range(b('d'), b('b')).count).toBe(0);
    const limited = read.range(b('a'), ALL, { limit: 2 });
    expect(limited.count).toBe(4);
    expect(limited.kvs.map((kv) => kv.key.toString())).toEqual(['a', 'b']);
    const counted = read.range(b('a'), ALL, { countOnly: true });
    expect(counted).toEqual({ kvs: [], count: 4, revision: 2 });
    await store.close();
  });

  test('a range returns the exact mvccpb.KeyValue bytes with the lease', async () => {
    const store = await open();
    const txn = store.write();
    txn.put(b('k'), b('v'), 0x694d71ddacfda00bn);
    txn.end();
    const kv = get(store, 'k')!;
    expect(kv.lease).toBe(0x694d71ddacfda00bn);
    const decoded = decodeKeyValue(kv.encoded);
    expect(decoded.key.toString()).toBe('k');
    expect(decoded.value.toString()).toBe('v');
    expect(decoded.createRevision).toBe(2);
    expect(decoded.modRevision).toBe(2);
    expect(decoded.version).toBe(1);
    expect(decoded.lease).toBe(0x694d71ddacfda00bn);
    await store.close();
  });

  test('reading at an old revision returns the values as of then', async () => {
    const store = await open();
    for (let i = 0; i < 10; i++) put(store, ['k', `v${i}`], [`other${i}`, 'x']);
    await store.flush();
    for (let i = 0; i < 10; i++) {
      expect(summary(get(store, 'k', 2 + i))).toEqual({ key: 'k', value: `v${i}`, create: 2, mod: 2 + i, version: i + 1 });
      expect(store.read().range(b('other'), b('otherz'), { revision: 2 + i }).count).toBe(i + 1);
    }
    await store.close();
  });

  test('a view keeps reading at its revision after later writes', async () => {
    const store = await open();
    put(store, ['a', '1']);
    const view = store.read();
    put(store, ['a', '2']);
    expect(view.range(b('a'), undefined).kvs[0].value.toString()).toBe('1');
    expect(store.read().range(b('a'), undefined).kvs[0].value.toString()).toBe('2');
    await store.close();
  });

  test('future and compacted revisions fail with etcd errors', async () => {
    const store = await open();
    for (let i = 0; i < 5; i++) put(store, ['a', `${i}`]);
    expect(() => store.read().range(b('a'), undefined, { revision: 7 })).toThrow(FutureRevisionError);
    expect(() => store.compact(7)).toThrow(FutureRevisionError);
    expect(() => store.compact(7)).toThrow('mvcc: required revision is a future revision');
    await store.compact(4).done;
    expect(store.compactRevision).toBe(4);
    expect(() => store.read().range(b('a'), undefined, { revision: 3 })).toThrow(CompactedError);
    expect(() => store.read().range(b('a'), undefined, { revision: 3 })).toThrow('mvcc: required revision has been compacted');
    // etcd reads at the compact revision itself (rangeKeys: rev < compactMainRev fails).
    expect(summary(get(store, 'a', 4))).toEqual({ key: 'a', value: '2', create: 2, mod: 4, version: 3 });
    expect(() => store.compact(4)).toThrow(CompactedError);
    expect(() => store.compact(3)).toThrow(CompactedError);
    await store.close();
  });

  test('compaction keeps the latest live value of each key and drops deleted keys', async () => {
    const store = await open();
    put(store, ['a', '1'], ['b', '1'], ['c', '1']); // 2
    put(store, ['a', '2']); // 3
    del(store, 'b'); // 4
    put(store, ['c', '2']); // 5
    put(store, ['a', '3']); // 6
    await store.compact(5).done;
    expect(summary(get(store, 'a', 5))).toEqual({ key: 'a', value: '2', create: 2, mod: 3, version: 2 });
    expect(summary(get(store, 'a'))).toEqual({ key: 'a', value: '3', create: 2, mod: 6, version: 3 });
    expect(get(store, 'b', 5)).toBeUndefined();
    expect(summary(get(store, 'c', 5))).toEqual({ key: 'c', value: '2', create: 2, mod: 5, version: 2 });
    expect(store.read().range(ALL, ALL, { revision: 5 }).count).toBe(2);
    await store.close();
  });

  test('hashKV is equal on two stores with equal history, also while compaction differs in progress', async () => {
    const one = await open();
    const two = await openMvccStore({});
    for (const store of [one, two]) {
      for (let i = 0; i < 50; i++) put(store, [`k${i % 7}`, `v${i}`]);
      del(store, 'k3');
    }
    const h1 = await one.hashKV(0);
    const h2 = await two.hashKV(0);
    expect(h1).toEqual(h2);
    expect(h1.revision).toBe(52);
    const atRev = await one.hashKV(30);
    expect(atRev.hash).not.toBe(h1.hash);
    await one.compact(40).done;
    const compacting = two.compact(40);
    const c2 = await two.hashKV(0);
    await compacting.done;
    const c1 = await one.hashKV(0);
    expect(c1).toEqual(c2);
    expect(c1.compactRevision).toBe(40);
    await expect(one.hashKV(40)).rejects.toThrow(CompactedError);
    await expect(one.hashKV(60)).rejects.toThrow(FutureRevisionError);
    await one.close();
    await two.close();
  });

  test('reads before the flush completes see the writes', async () => {
    const store = await open();
    put(store, ['a', '1']);
    const flushed = store.flush();
    put(store, ['a', '2']);
    expect(get(store, 'a')!.value.toString()).toBe('2');
    expect(get(store, 'a', 2)!.value.toString()).toBe('1');
    const flushed2 = store.flush();
    expect(get(store, 'a')!.value.toString()).toBe('2');
    await flushed;
    await flushed2;
    expect(get(store, 'a')!.value.toString()).toBe('2');
    expect(get(store, 'a', 2)!.value.toString()).toBe('1');
    await store.close();
  });

  test('dbSize reports bytes', async () => {
    const store = await open();
    for (let i = 0; i < 100; i++) put(store, [`k${i}`, 'x'.repeat(100)]);
    await store.flush();
    const size = await store.dbSize();
    expect(size.sizeBytes).toBeGreaterThan(0);
    expect(size.sizeInUseBytes).toBeLessThanOrEqual(size.sizeBytes);
    await store.close();
  });
});

describe('mvcc store on disk across restarts', () => {
  test('size in use counts the revisions held: it grows with writes, shrinks with compaction and survives a restart', async () => {
    const dir = await freshDir();
    const store = await openMvccStore({ dir });
    const empty = (await store.dbSize()).sizeInUseBytes;
    for (let i = 0; i < 50; i++) put(store, ['k', 'v'.repeat(1000)]);
    await store.flush();
    const written = (await store.dbSize()).sizeInUseBytes;
    expect(written).toBeGreaterThan(empty + 50 * 1000);
    await store.compact(store.currentRevision).done;
    const compacted = (await store.dbSize());
    expect(compacted.sizeInUseBytes).toBeLessThan(written / 10);
    expect(compacted.sizeInUseBytes).toBeGreaterThan(1000);
    expect(compacted.sizeBytes).toBeGreaterThanOrEqual(compacted.sizeInUseBytes);
    await store.close();
    const reopened = await openMvccStore({ dir });
    expect((await reopened.dbSize()).sizeInUseBytes).toBe(compacted.sizeInUseBytes);
    await reopened.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a restart rebuilds the same state, revision and consistent index', async () => {
    const dir = await freshDir();
    const store = await openMvccStore({ dir });
    put(store, ['a', '1'], ['b', '1']); // 2
    put(store, ['a', '2']); // 3
    del(store, 'b'); // 4
    put(store, ['b', 'again'], ['c', '1']); // 5
    store.setConsistentIndex(17);
    await store.flush();
    const before = store.read().range(ALL, ALL).kvs.map(summary);
    const hashBefore = await store.hashKV(0);
    await store.close();

    const reopened = await openMvccStore({ dir });
    expect(reopened.currentRevision).toBe(5);
    expect(reopened.consistentIndex).toBe(17);
    expect(reopened.read().range(ALL, ALL).kvs.map(summary)).toEqual(before);
    expect(summary(get(reopened, 'b', 3))).toEqual({ key: 'b', value: '1', create: 2, mod: 2, version: 1 });
    expect(await reopened.hashKV(0)).toEqual(hashBefore);
    expect(put(reopened, ['a', '3'])).toBe(6);
    expect(summary(get(reopened, 'a'))).toEqual({ key: 'a', value: '3', create: 2, mod: 6, version: 3 });
    await reopened.close();
  });

  test('a restart after compaction keeps createRevision and version of compacted keys', async () => {
    const dir = await freshDir();
    const store = await openMvccStore({ dir, compactionBatchLimit: 2 });
    for (let i = 0; i < 10; i++) put(store, ['a', `${i}`], [`x${i}`, 'y']);
    del(store, 'x1');
    await store.compact(store.currentRevision).done;
    const before = store.read().range(ALL, ALL).kvs.map(summary);
    await store.close();
    const reopened = await openMvccStore({ dir });
    expect(reopened.compactRevision).toBe(12);
    expect(reopened.currentRevision).toBe(12);
    expect(reopened.read().range(ALL, ALL).kvs.map(summary)).toEqual(before);
    expect(summary(get(reopened, 'a'))).toEqual({ key: 'a', value: '9', create: 2, mod: 11, version: 10 });
    await reopened.close();
  });

  test('the consistent index is persisted with the batch it was set before', async () => {
    const dir = await freshDir();
    const store = await openMvccStore({ dir });
    put(store, ['a', '1']);
    store.setConsistentIndex(5);
    await store.flush();
    put(store, ['a', '2']);
    store.setConsistentIndex(6);
    // Not flushed: a crash now loses revision 3 and index 6 together; the WAL replays entry 6.
    await store.sync();
    await store.close(); // close flushes
    const reopened = await openMvccStore({ dir });
    expect(reopened.consistentIndex).toBe(6);
    expect(reopened.currentRevision).toBe(3);
    await reopened.close();
  });

  test('a scheduled but unfinished compaction is finished on restart', async () => {
    const dir = await freshDir();
    const store = await openMvccStore({ dir });
    put(store, ['a', '1'], ['b', '1']); // 2
    put(store, ['a', '2']); // 3
    del(store, 'b'); // 4
    put(store, ['a', '3'], ['c', '1']); // 5
    await store.close();
    // A crash right after compact(4) was recorded: the scheduled revision is there, nothing deleted.
    const raw = await LevelBackend.open(dir);
    await raw.write([{ type: 'put', key: Buffer.from('mscheduledCompactRevision', 'latin1'), value: encodeUint64(4) }]);
    await raw.close();

    const reopened = await openMvccStore({ dir });
    expect(reopened.compactRevision).toBe(4);
    expect(reopened.currentRevision).toBe(5);
    expect(() => reopened.read().range(b('a'), undefined, { revision: 3 })).toThrow(CompactedError);
    expect(summary(get(reopened, 'a', 4))).toEqual({ key: 'a', value: '2', create: 2, mod: 3, version: 2 });
    expect(get(reopened, 'b', 4)).toBeUndefined();
    expect(reopened.read().range(ALL, ALL).kvs.map(summary)).toEqual([
      { key: 'a', value: '3', create: 2, mod: 5, version: 3 },
      { key: 'c', value: '1', create: 5, mod: 5, version: 1 },
    ]);
    await reopened.close();
    const after = await LevelBackend.open(dir);
    const revisions: string[] = [];
    for await (const chunk of after.scan({ gte: Buffer.from('k'), lt: Buffer.from('l'), values: false })) {
      for (const [key] of chunk) revisions.push(`${revisionKeyMain(key)}.${revisionKeySub(key)}`);
    }
    expect(revisions).toEqual(['3.0', '5.0', '5.1']);
    expect(Buffer.from(after.getSync(Buffer.from('mcompactRevision', 'latin1'))!).readBigUInt64BE()).toBe(4n);
    await after.close();
  });

  test('a compaction interrupted after deleting a generation but not its tombstone is finished on restart', async () => {
    const dir = await freshDir();
    const store = await openMvccStore({ dir });
    put(store, ['b', '1']); // 2
    del(store, 'b'); // 3
    put(store, ['a', '1']); // 4
    await store.close();
    const raw = await LevelBackend.open(dir);
    await raw.write([
      { type: 'put', key: Buffer.from('mscheduledCompactRevision', 'latin1'), value: encodeUint64(4) },
      { type: 'del', key: Buffer.from('6b00000000000000020000000000000000', 'hex') },
    ]);
    await raw.close();
    const reopened = await openMvccStore({ dir });
    expect(reopened.compactRevision).toBe(4);
    expect(reopened.read().range(ALL, ALL).kvs.map(summary)).toEqual([{ key: 'a', value: '1', create: 4, mod: 4, version: 1 }]);
    await reopened.close();
  });
});

describe('mvcc store: flush, crash and compaction in progress', () => {
  test('a crash loses unflushed writes together with their consistent index', async () => {
    const backend = new MemoryBackend();
    const store = await openMvccStoreOnBackend(backend);
    put(store, ['a', '1']);
    store.setConsistentIndex(5);
    await store.flush();
    put(store, ['a', '2']);
    store.setConsistentIndex(6);
    // Crash: the store is dropped without flushing; a new one opens on what the backend holds.
    const recovered = await openMvccStoreOnBackend(backend);
    expect(recovered.consistentIndex).toBe(5);
    expect(recovered.currentRevision).toBe(2);
    expect(get(recovered, 'a')!.value.toString()).toBe('1');
  });

  test('compaction deletes in bounded batches while reads and writes go on', async () => {
    const dir = await freshDir();
    const store = await openMvccStore({ dir, compactionBatchLimit: 10 });
    for (let i = 0; i < 300; i++) put(store, [`k${i % 20}`, `v${i}`]);
    await store.flush();
    const compaction = store.compact(250);
    let finished = false;
    void compaction.done.then(() => {
      finished = true;
    });
    let writesDuring = 0;
    while (!finished) {
      put(store, ['during', `${writesDuring++}`]);
      expect(store.read().range(b('k'), b('l')).count).toBe(20);
      expect(get(store, 'k5', 250)!.value.toString()).toBe('v245');
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(writesDuring).toBeGreaterThan(3);
    expect(get(store, 'during')!.value.toString()).toBe(`${writesDuring - 1}`);
    await store.close();
    const reopened = await openMvccStore({ dir });
    expect(reopened.compactRevision).toBe(250);
    expect(get(reopened, 'k5', 250)!.version).toBe(13);
    await reopened.close();
  });

  test('a second write transaction while one is open is a programmer error', async () => {
    const store = await openMvccStore({});
    const txn = store.write();
    expect(() => store.write()).toThrow(/already open/);
    txn.end();
    expect(() => txn.put(b('a'), b('1'), 0n)).toThrow(/ended transaction/);
    await store.close();
  });
});
