// The catch-up bounds what one batch sends to one stream: a stream cannot hear that its client
// stopped reading until the transport thread tells it, so without a bound one batch sent each of
// its watchers a copy of the whole batch. Every watcher still gets every event once, in order.
import type { EventsBatch, EventsQuery, MvccEvent, MvccStore } from '../mvcc/types';
import { WatchHub } from './watch-hub';
import { Watcher, type WatchSink } from './watcher';
import type { WatchEvent } from './event-codec';

function fakeStore(history: MvccEvent[]): MvccStore {
  const store = {
    currentRevision: history.length + 1,
    compactRevision: 0,
    onCommit: () => undefined,
    events: async (q: EventsQuery): Promise<EventsBatch> => {
      const events = history.filter((e) => e.modRevision >= q.fromRevision && e.modRevision <= q.toRevision).slice(0, q.limit);
      const last = events[events.length - 1];
      return { events, nextRevision: last === undefined ? q.toRevision + 1 : last.modRevision + 1 };
    },
  };
  return store as unknown as MvccStore;
}

test('a catch-up batch sends one stream about catchUpStreamBytesPerBatch, and every watcher gets every event once, in order', async () => {
  const history: MvccEvent[] = Array.from({ length: 40 }, (_, i) => ({ type: 'put', key: 'k', modRevision: i + 2, kv: Buffer.alloc(1000, i) }));
  const store = fakeStore(history);
  const batches: number[][] = [];
  let current: number[] = [];
  const got = new Map<bigint, number[]>();
  const sink: WatchSink = {
    writable: true,
    sendEvents: (w: Watcher, events: readonly WatchEvent[]) => {
      for (const e of events) {
        current.push(e.field(false).length);
        const list = got.get(w.id) ?? [];
        list.push(e.modRevision);
        got.set(w.id, list);
      }
    },
    sendCompacted: () => undefined,
    watcherSynced: () => undefined,
  };
  const pending: (() => void)[] = [];
  const hub = new WatchHub({ store, onError: (err) => { throw err; }, defer: (fn) => pending.push(fn), catchUpChangesPerBatch: 10, catchUpStreamBytesPerBatch: 15_000 });
  for (let i = 0; i < 10; i++) hub.add(new Watcher({ id: BigInt(i), range: { key: 'k', end: undefined }, sink, prevKv: false, noPut: false, noDelete: false, fragment: false, progressNotify: false }), 2);
  for (let step = 0; step < 1000 && pending.length > 0; step++) {
    pending.shift()!();
    await new Promise((r) => setImmediate(r));
    batches.push(current);
    current = [];
  }
  expect(hub.unsyncedCount).toBe(0);
  expect(hub.syncedCount).toBe(10);
  for (let i = 0; i < 10; i++) expect(got.get(BigInt(i))).toEqual(history.map((e) => e.modRevision));
  // A batch is 10 events of ~1 KB: at most one watcher's share past the 15 KB bound per stream.
  for (const b of batches) expect(b.reduce((a, n) => a + n, 0)).toBeLessThan(15_000 + 10 * 1100);
});
