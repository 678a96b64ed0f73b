/**
 * The watch hub and the per-stream state machine over an in-memory MVCC store (no server): create,
 * cancel, synced fan-out, catch-up from history, compaction, prev_kv, filters, client watch IDs,
 * fragments, progress requests and notifications, and slow streams. etcd 3.4's watch semantics
 * (api/v3rpc/watch.go, mvcc/watchable_store.go); the progress request answers only when every
 * watcher is synced (etcd 3.5's fix: a progress response never runs ahead of events already due).
 */
import fc from 'fast-check';
import { etcdserverpb as pb, mvccpb, toBigInt, toNumber } from '../proto';
import { openMvccStore } from '../server/mvcc/store';
import type { MvccStore } from '../server/mvcc/types';
import { WatchHub } from '../server/watch/watch-hub';
import { WATCH_ERRORS, WatchStream, type HeaderSource } from '../server/watch/watch-stream';

const headers: HeaderSource = {
  header: (revision) => (revision === 0 ? { raftTerm: 2 } : { revision, raftTerm: 2 }),
  headerField: (revision) => {
    const bytes = pb.ResponseHeader.encode(revision === 0 ? { raftTerm: 2 } : { revision, raftTerm: 2 }).finish();
    return Buffer.concat([Buffer.from([0x0a, bytes.length]), Buffer.from(bytes)]);
  },
};

interface Client {
  readonly stream: WatchStream;
  readonly out: { writable: boolean; send(m: Uint8Array): void };
  readonly got: pb.WatchResponse[];
  request(r: pb.IWatchRequest): void;
}

function client(hub: WatchHub, options: { maxRequestBytes?: number; progressIntervalMs?: number } = {}): Client {
  const got: pb.WatchResponse[] = [];
  const out = { writable: true, send: (m: Uint8Array) => got.push(pb.WatchResponse.decode(m)) };
  const stream = new WatchStream({ hub, headers, out, maxRequestBytes: options.maxRequestBytes ?? 1024 * 1024, progressIntervalMs: options.progressIntervalMs ?? 600_000, nowMs: 0 });
  return { stream, out, got, request: (r) => stream.handle(pb.WatchRequest.encode(r).finish()) };
}

function put(store: MvccStore, key: string, value: string): number {
  const txn = store.write();
  txn.put(Buffer.from(key), Buffer.from(value), 0n);
  txn.end();
  return store.currentRevision;
}

function del(store: MvccStore, key: string, end?: string): number {
  const txn = store.write();
  txn.deleteRange(Buffer.from(key), end === undefined ? undefined : Buffer.from(end));
  txn.end();
  return store.currentRevision;
}

/** Lets the catch-up loop run (bounded: it fails rather than hang). */
async function settle(hub: WatchHub, turns = 2000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    await new Promise((r) => setImmediate(r));
    if (hub.unsyncedCount === 0 && i > 3) return;
  }
}

interface Seen {
  type: 'PUT' | 'DELETE';
  key: string;
  value: string;
  modRevision: number;
  prev?: string;
}

function events(responses: pb.WatchResponse[], watchId?: number): Seen[] {
  const out: Seen[] = [];
  for (const r of responses) {
    if (watchId !== undefined && toNumber(r.watchId) !== watchId) continue;
    for (const e of r.events) {
      out.push({
        type: e.type === mvccpb.Event.EventType.DELETE ? 'DELETE' : 'PUT',
        key: Buffer.from(e.kv!.key!).toString(),
        value: Buffer.from(e.kv!.value!).toString(),
        modRevision: toNumber(e.kv!.modRevision),
        ...(e.prevKv != null ? { prev: Buffer.from(e.prevKv.value!).toString() } : {}),
      });
    }
  }
  return out;
}

const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

let store: MvccStore;
let hub: WatchHub;
beforeEach(async () => {
  store = await openMvccStore();
  hub = new WatchHub({ store, onError: (err) => { throw err; } });
});
afterEach(async () => {
  await store.close();
});

describe('create and cancel', () => {
  test('create answers created with a server-chosen ID from 0 and the current revision in the header', () => {
    put(store, 'x', '1');
    const c = client(hub);
    c.request({ createRequest: { key: enc('a') } });
    c.request({ createRequest: { key: enc('b') } });
    expect(c.got.map((r) => [toNumber(r.watchId), r.created, toNumber(r.header!.revision)])).toEqual([
      [0, true, 2],
      [1, true, 2],
    ]);
  });

  test('a synced watcher gets each later event on its key once, in order, with the revision in the header', () => {
    const c = client(hub);
    c.request({ createRequest: { key: enc('a') } });
    put(store, 'a', '1');
    put(store, 'b', '1');
    del(store, 'a');
    expect(events(c.got)).toEqual([
      { type: 'PUT', key: 'a', value: '1', modRevision: 2 },
      { type: 'DELETE', key: 'a', value: '', modRevision: 4 },
    ]);
    expect(c.got.slice(1).map((r) => toNumber(r.header!.revision))).toEqual([2, 4]);
  });

  test('a prefix watch (range_end = prefix + 1) and a from-key watch (range_end "\\x00")', () => {
    const c = client(hub);
    c.request({ createRequest: { key: enc('p/'), rangeEnd: enc('p0') } });
    c.request({ createRequest: { key: enc('q'), rangeEnd: new Uint8Array([0]) } });
    put(store, 'p/1', 'v');
    put(store, 'p0', 'v');
    put(store, 'z', 'v');
    expect(events(c.got, 0).map((e) => e.key)).toEqual(['p/1']);
    expect(events(c.got, 1).map((e) => e.key)).toEqual(['z']);
  });

  test('cancel answers canceled and stops events; cancelling an unknown ID is ignored (etcd 3.4)', () => {
    const c = client(hub);
    c.request({ createRequest: { key: enc('a') } });
    c.request({ cancelRequest: { watchId: 0 } });
    c.request({ cancelRequest: { watchId: 42 } });
    put(store, 'a', '1');
    expect(c.got.length).toBe(2);
    expect([toNumber(c.got[1]!.watchId), c.got[1]!.canceled]).toEqual([0, true]);
  });

  test('a client-chosen watch ID is used; a duplicate is refused with created+canceled, ID -1 and mvcc error text', () => {
    const c = client(hub);
    c.request({ createRequest: { key: enc('a'), watchId: 7 } });
    c.request({ createRequest: { key: enc('b'), watchId: 7 } });
    expect([toNumber(c.got[0]!.watchId), c.got[0]!.created]).toEqual([7, true]);
    expect([toBigInt(c.got[1]!.watchId), c.got[1]!.created, c.got[1]!.canceled, c.got[1]!.cancelReason]).toEqual([-1n, true, true, WATCH_ERRORS.duplicateId]);
    put(store, 'a', '1');
    expect(events(c.got, 7).length).toBe(1);
  });

  test('a range whose end is not after its key is refused with "mvcc: watcher range is empty"', () => {
    const c = client(hub);
    c.request({ createRequest: { key: enc('b'), rangeEnd: enc('a') } });
    expect(c.got[0]!.cancelReason).toBe('mvcc: watcher range is empty');
    expect(toBigInt(c.got[0]!.watchId)).toBe(-1n);
  });

  test('a start revision in the future waits for it', () => {
    const c = client(hub);
    c.request({ createRequest: { key: enc('a'), startRevision: 4 } });
    put(store, 'a', '1');
    put(store, 'a', '2');
    put(store, 'a', '3');
    expect(events(c.got).map((e) => e.modRevision)).toEqual([4]);
  });

  test('closing the stream removes its watchers', () => {
    const c = client(hub);
    c.request({ createRequest: { key: enc('a') } });
    c.stream.close();
    expect(hub.syncedCount).toBe(0);
  });
});

describe('filters and prev_kv', () => {
  test('NOPUT and NODELETE drop their events; a response left empty is not sent', () => {
    const c = client(hub);
    c.request({ createRequest: { key: enc('a'), filters: [pb.WatchCreateRequest.FilterType.NOPUT] } });
    c.request({ createRequest: { key: enc('a'), filters: [pb.WatchCreateRequest.FilterType.NODELETE] } });
    put(store, 'a', '1');
    del(store, 'a');
    expect(events(c.got, 0).map((e) => e.type)).toEqual(['DELETE']);
    expect(events(c.got, 1).map((e) => e.type)).toEqual(['PUT']);
    expect(c.got.length).toBe(4);
  });

  test('prev_kv carries the value before the event (at modRevision - 1); none for a new key', () => {
    const c = client(hub);
    c.request({ createRequest: { key: enc('a'), prevKv: true } });
    put(store, 'a', '1');
    put(store, 'a', '2');
    del(store, 'a');
    expect(events(c.got).map((e) => [e.type, e.value, e.prev])).toEqual([
      ['PUT', '1', undefined],
      ['PUT', '2', '1'],
      ['DELETE', '', '2'],
    ]);
  });
});

describe('catch-up from history', () => {
  test('a past start revision replays history (backend and unflushed) then continues live', async () => {
    put(store, 'a', '1');
    put(store, 'b', '1');
    await store.flush();
    put(store, 'a', '2');
    const c = client(hub);
    c.request({ createRequest: { key: enc('a'), startRevision: 1, prevKv: true } });
    await settle(hub);
    put(store, 'a', '3');
    expect(events(c.got).map((e) => [e.value, e.modRevision, e.prev])).toEqual([
      ['1', 2, undefined],
      ['2', 4, '1'],
      ['3', 5, '2'],
    ]);
  });

  test('a start revision below the compact revision gets compact_revision and is cancelled; at it, replays', async () => {
    for (let i = 0; i < 5; i++) put(store, 'a', String(i));
    await store.compact(4).done;
    const c = client(hub);
    c.request({ createRequest: { key: enc('a'), startRevision: 3 } });
    c.request({ createRequest: { key: enc('a'), startRevision: 4 } });
    await settle(hub);
    const compacted = c.got.find((r) => toNumber(r.compactRevision) !== 0)!;
    expect([toNumber(compacted.watchId), compacted.canceled, toNumber(compacted.compactRevision), toNumber(compacted.header!.revision)]).toEqual([0, true, 4, 0]);
    expect(events(c.got, 1).map((e) => e.modRevision)).toEqual([4, 5, 6]);
    put(store, 'a', 'x');
    expect(events(c.got, 0)).toEqual([]);
  });

  test('catch-up is read in bounded batches of whole revisions', async () => {
    const small = new WatchHub({ store, onError: (err) => { throw err; }, catchUpChangesPerBatch: 3 });
    for (let i = 0; i < 20; i++) put(store, `k${i % 4}`, String(i));
    const c = client(small);
    c.request({ createRequest: { key: enc('k'), rangeEnd: enc('l'), startRevision: 2 } });
    await settle(small);
    expect(events(c.got).map((e) => e.modRevision)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    expect(c.got.length).toBeGreaterThan(5);
  });
});

describe('fragments', () => {
  test('a revision larger than max-request-bytes is split into fragments when asked, and not otherwise', () => {
    const c = client(hub, { maxRequestBytes: 80 });
    c.request({ createRequest: { key: enc('f/'), rangeEnd: enc('f0'), fragment: true } });
    c.request({ createRequest: { key: enc('f/'), rangeEnd: enc('f0') } });
    for (let i = 0; i < 10; i++) put(store, `f/${i}`, 'x'.repeat(50));
    const txn = store.write();
    txn.deleteRange(Buffer.from('f/'), Buffer.from('f0'));
    txn.end();
    const frags = c.got.filter((r) => toNumber(r.watchId) === 0 && r.events.length > 0 && toNumber(r.header!.revision) === 12);
    expect(frags.length).toBeGreaterThan(1);
    expect(frags.map((r) => r.fragment)).toEqual([...frags.slice(1).map(() => true), false]);
    expect(frags.flatMap((r) => r.events).length).toBe(10);
    const whole = c.got.filter((r) => toNumber(r.watchId) === 1 && toNumber(r.header!.revision) === 12);
    expect(whole.length).toBe(1);
  });
});

describe('progress', () => {
  test('a progress request is answered with watch ID -1 at the current revision', () => {
    const c = client(hub);
    c.request({ createRequest: { key: enc('a') } });
    put(store, 'b', '1');
    c.request({ progressRequest: {} });
    const last = c.got[c.got.length - 1]!;
    expect([toBigInt(last.watchId), toNumber(last.header!.revision), last.events.length]).toEqual([-1n, 2, 0]);
  });

  test('a progress request waits while a watcher catches up, and comes after its events', async () => {
    for (let i = 0; i < 30; i++) put(store, 'a', String(i));
    const small = new WatchHub({ store, onError: (err) => { throw err; }, catchUpChangesPerBatch: 2 });
    const c = client(small);
    c.request({ createRequest: { key: enc('a'), startRevision: 2 } });
    c.request({ progressRequest: {} });
    expect(c.got.length).toBe(1);
    await settle(small);
    const idx = c.got.findIndex((r) => toBigInt(r.watchId) === -1n);
    expect(idx).toBe(c.got.length - 1);
    const progressRevision = toNumber(c.got[idx]!.header!.revision);
    expect(Math.max(...events(c.got).map((e) => e.modRevision))).toBe(progressRevision);
  });

  test('progress_notify watchers get an empty response per interval when synced and idle', () => {
    const c = client(hub, { progressIntervalMs: 100 });
    c.request({ createRequest: { key: enc('a'), progressNotify: true } });
    c.request({ createRequest: { key: enc('b') } });
    c.stream.tick(50);
    expect(c.got.length).toBe(2);
    c.stream.tick(100);
    expect(c.got.length).toBe(3);
    expect([toNumber(c.got[2]!.watchId), c.got[2]!.events.length]).toEqual([0, 0]);
    put(store, 'a', '1');
    c.stream.tick(200);
    // Events were sent in this interval: no notification (etcd).
    expect(c.got.length).toBe(4);
    c.stream.tick(300);
    expect(toNumber(c.got[4]!.header!.revision)).toBe(2);
  });
});

describe('slow streams', () => {
  test('a stream that is not writable gets nothing, does not delay others, and catches up in order when it drains', async () => {
    const slow = client(hub);
    const fast = client(hub);
    slow.request({ createRequest: { key: enc('a') } });
    fast.request({ createRequest: { key: enc('a') } });
    slow.out.writable = false;
    for (let i = 0; i < 100; i++) put(store, 'a', String(i));
    expect(slow.got.length).toBe(1);
    expect(events(fast.got).length).toBe(100);
    expect(hub.unsyncedCount).toBe(1);
    slow.out.writable = true;
    hub.kick();
    await settle(hub);
    expect(events(slow.got)).toEqual(events(fast.got));
  });

  test('property: no event lost, duplicated or reordered across catch-up, bursts and blocked streams', async () => {
    const opArb = fc.oneof(
      fc.record({ op: fc.constant('put' as const), key: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ op: fc.constant('del' as const), key: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ op: fc.constant('block' as const), who: fc.nat(2) }),
      fc.record({ op: fc.constant('unblock' as const), who: fc.nat(2) }),
      fc.record({ op: fc.constant('flush' as const) }),
      fc.record({ op: fc.constant('settle' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 60 }), fc.nat(5), async (ops, start) => {
        const s = await openMvccStore();
        const h = new WatchHub({ store: s, onError: (err) => { throw err; }, catchUpChangesPerBatch: 2 });
        for (let i = 0; i < 5; i++) put(s, 'a', `pre${i}`);
        const clients = [client(h), client(h), client(h)];
        const startRevision = start === 0 ? 0 : start + 1;
        clients[0]!.request({ createRequest: { key: enc('a'), startRevision } });
        clients[1]!.request({ createRequest: { key: enc('a'), rangeEnd: enc('c'), startRevision } });
        clients[2]!.request({ createRequest: { key: enc('a'), rangeEnd: new Uint8Array([0]), startRevision, prevKv: true } });
        const first = startRevision === 0 ? s.currentRevision + 1 : startRevision;
        let n = 0;
        for (const o of ops) {
          if (o.op === 'put') put(s, o.key, String(n++));
          else if (o.op === 'del') del(s, o.key);
          else if (o.op === 'block') clients[o.who]!.out.writable = false;
          else if (o.op === 'unblock') {
            clients[o.who]!.out.writable = true;
            h.kick();
          } else if (o.op === 'flush') await s.flush();
          else await settle(h, 20);
        }
        for (const c of clients) c.out.writable = true;
        h.kick();
        await settle(h);
        const history = (await s.events({ fromRevision: first, toRevision: s.currentRevision, limit: 1e9 })).events;
        const ranges = [(k: string) => k === 'a', (k: string) => k >= 'a' && k < 'c', (k: string) => k >= 'a'];
        clients.forEach((c, i) => {
          const want = history.filter((e) => ranges[i]!(e.key)).map((e) => `${e.type}:${e.key}@${e.modRevision}`);
          const got = events(c.got).map((e) => `${e.type === 'PUT' ? 'put' : 'delete'}:${e.key}@${e.modRevision}`);
          expect(got).toEqual(want);
        });
        await s.close();
      }),
      { numRuns: 60 },
    );
  });
});
