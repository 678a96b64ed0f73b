/**
 * The MVCC store's watch hooks: commit listeners (one call per write transaction that changed
 * something, in revision order) and bounded history reads with etcd's watch rule for compaction
 * (history from revision r is gone when r < compactRevision: mvcc/watchable_store.go chooseAll).
 */
import { CompactedError } from '../server/mvcc/errors';
import { openMvccStore } from '../server/mvcc/store';
import type { MvccEvent, MvccStore } from '../server/mvcc/types';

let store: MvccStore;
beforeEach(async () => {
  store = await openMvccStore();
});
afterEach(async () => {
  await store.close();
});

const brief = (e: MvccEvent): string => `${e.type}:${e.key}@${e.modRevision}`;

test('onCommit sees each changing transaction once with its changes in order; a no-op transaction is not reported', () => {
  const seen: string[] = [];
  store.onCommit((events, revision) => seen.push(`${revision}: ${events.map(brief).join(' ')}`));
  let txn = store.write();
  txn.put(Buffer.from('a'), Buffer.from('1'), 0n);
  txn.put(Buffer.from('b'), Buffer.from('1'), 0n);
  txn.end();
  txn = store.write();
  txn.deleteRange(Buffer.from('zzz'), undefined);
  txn.end();
  txn = store.write();
  txn.deleteRange(Buffer.from('a'), Buffer.from('c'));
  txn.end();
  expect(seen).toEqual(['2: put:a@2 put:b@2', '3: delete:a@3 delete:b@3']);
});

test('events reads whole revisions from the backend and from unflushed values, bounded by limit', async () => {
  for (let i = 0; i < 6; i++) {
    const txn = store.write();
    txn.put(Buffer.from(`k${i}`), Buffer.from('v'), 0n);
    txn.put(Buffer.from(`j${i}`), Buffer.from('v'), 0n);
    txn.end();
    if (i === 2) await store.flush();
  }
  const first = await store.events({ fromRevision: 2, toRevision: 100, limit: 3 });
  expect(first.events.map(brief)).toEqual(['put:k0@2', 'put:j0@2', 'put:k1@3', 'put:j1@3']);
  expect(first.nextRevision).toBe(4);
  const rest = await store.events({ fromRevision: 4, toRevision: 100, limit: 100, keyRange: { key: 'k', end: 'l' } });
  expect(rest.events.map(brief)).toEqual(['put:k2@4', 'put:k3@5', 'put:k4@6', 'put:k5@7']);
  expect(rest.nextRevision).toBe(8);
});

test('events from below the compact revision fail with CompactedError; from the compact revision they succeed', async () => {
  for (let i = 0; i < 5; i++) {
    const txn = store.write();
    txn.put(Buffer.from('a'), Buffer.from(String(i)), 0n);
    txn.end();
  }
  await store.compact(4).done;
  await expect(store.events({ fromRevision: 3, toRevision: 6, limit: 10 })).rejects.toBeInstanceOf(CompactedError);
  const at = await store.events({ fromRevision: 4, toRevision: 6, limit: 10 });
  expect(at.events.map(brief)).toEqual(['put:a@4', 'put:a@5', 'put:a@6']);
});
