// Backend snapshots (what a Raft snapshot carries): the view is fixed when it is opened, the codec
// refuses damaged bytes, and a store restored from a snapshot answers as the store it came from.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LevelBackend } from './backend';
import { MemoryBackend } from './memory-backend';
import { BackendSnapshotError, decodeBackendSnapshot, encodeBackendSnapshot, writeBackendSnapshot } from './backend-snapshot';
import { openMvccStore, openMvccStoreOnBackend } from './store';
import type { MvccStore } from './types';

const ALL = Buffer.from([0]);

function fill(store: MvccStore, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const w = store.write();
    w.put(Buffer.from(`key-${i % 50}`), Buffer.from(`value-${i}`), 0n);
    if (i % 7 === 0) w.deleteRange(Buffer.from(`key-${(i + 3) % 50}`), undefined);
    w.end();
  }
}

function everything(store: MvccStore): string[] {
  return store.read().range(ALL, ALL).kvs.map((kv) => `${kv.key}=${kv.value}@${kv.modRevision}/${kv.createRevision}/${kv.version}`);
}

describe('backend snapshot', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bsnap-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each(['memory', 'level'])('on the %s backend, the view is fixed when it is opened; a restored store equals the source', async (kind) => {
    const source = kind === 'memory' ? await openMvccStoreOnBackend(new MemoryBackend()) : await openMvccStore({ dir: path.join(dir, 'source') });
    fill(source, 0, 400);
    source.compact(150).done.catch(() => undefined);
    source.setConsistentIndex(777);
    source.putMetaRecord('members', Buffer.from('{"m":1}'));
    source.putLease(5n, Buffer.from([1, 2, 3]));
    const expected = everything(source);
    const expectedHash = await source.hashKV(0);
    const view = await source.openSnapshot();
    // Writes after the view was opened must not be in it, even before the scan starts.
    fill(source, 400, 500);
    source.setConsistentIndex(900);
    await source.flush();
    const bytes = await encodeBackendSnapshot(view, 64 * 1024 * 1024);

    const targetBackend = kind === 'memory' ? new MemoryBackend() : await LevelBackend.open(path.join(dir, 'staged'));
    await writeBackendSnapshot(targetBackend, bytes);
    const target = kind === 'memory' ? await openMvccStoreOnBackend(new MemoryBackend()) : await openMvccStore({ dir: path.join(dir, 'target') });
    fill(target, 0, 30); // state that the snapshot replaces
    await target.restore(async () => targetBackend);
    expect(target.consistentIndex).toBe(777);
    expect(everything(target)).toEqual(expected);
    expect(target.compactRevision).toBe(expectedHash.compactRevision);
    expect(await target.hashKV(0)).toEqual(expectedHash);
    expect(Buffer.from(target.metaRecord('members')!).toString()).toBe('{"m":1}');
    expect((await target.leases()).map((l) => l.id)).toEqual([5n]);
    // The restored store goes on from where the source was when the view was taken.
    fill(target, 400, 401);
    expect(target.currentRevision).toBe(expectedHash.revision + 1);
    await target.close();
    await source.close();
  });

  test('damaged snapshot bytes are refused before anything is taken as complete', async () => {
    const source = await openMvccStoreOnBackend(new MemoryBackend());
    fill(source, 0, 20);
    const bytes = await encodeBackendSnapshot(await source.openSnapshot(), 1 << 20);
    const decodeAll = (b: Uint8Array): number => [...decodeBackendSnapshot(b)].reduce((n, batch) => n + batch.length, 0);
    expect(decodeAll(bytes)).toBeGreaterThan(20);
    expect(() => decodeAll(bytes.subarray(0, bytes.length - 5))).toThrow(BackendSnapshotError);
    expect(() => decodeAll(bytes.subarray(0, bytes.length - 40))).toThrow(BackendSnapshotError);
    const wrongCount = Buffer.from(bytes);
    wrongCount.writeBigUInt64BE(1n, wrongCount.length - 8);
    expect(() => decodeAll(wrongCount)).toThrow(/holds \d+ records but says 1/);
    const badMagic = Buffer.from(bytes);
    badMagic[0] = 0x58;
    expect(() => decodeAll(badMagic)).toThrow(/bad magic/);
    await expect(encodeBackendSnapshot(await source.openSnapshot(), 100)).rejects.toThrow(BackendSnapshotError);
    await source.close();
  });
});
