/**
 * Watch through the SDK: typed events (iterator and emitter forms), start revision, prevKv, filters,
 * progress, many watchers on one stream, compacted start revision → WatchCompactedError, and
 * resumption across killing and restarting the member with no event lost or repeated.
 * Runs against TARGETS.watch (etcd 3.4 today).
 */
import { op, WatchCompactedError, WatchEvent, InvalidArgumentError } from './index';
import { TARGETS, freshPrefix, useMember, waitFor } from './testing/targets';

describe.each(TARGETS.watch)('watch against %s', (kind) => {
  const fx = useMember(kind);

  test('the async iterator yields typed put and delete events in revision order', async () => {
    const c = fx.client();
    const p = freshPrefix('iter');
    const w = c.watch({ prefix: p }, { prevKv: true });
    await w.ready();
    const a = await c.put(`${p}a`, '1');
    await c.put(`${p}a`, '2');
    await c.delete(`${p}a`);
    const seen: WatchEvent[] = [];
    for await (const ev of w) {
      seen.push(ev);
      if (seen.length === 3) break;
    }
    expect(seen.map((e) => [e.type, e.kv.value.toString(), e.prevKv?.value.toString()])).toEqual([
      ['put', '1', undefined],
      ['put', '2', '1'],
      ['delete', '', '2'],
    ]);
    expect(seen[0]!.revision).toBe(a.revision);
    expect(w.ended).toBe(true);
  });

  test('the emitter form, start revision, filters and a shared stream for many watchers', async () => {
    const c = fx.client();
    const p = freshPrefix('emit');
    const first = await c.put(`${p}k`, 'old');
    await c.put(`${p}k`, 'new');
    await c.delete(`${p}k`);
    const history: string[] = [];
    const fromStart = c.watch(`${p}k`, { startRevision: first.revision });
    fromStart.on('event', (ev: WatchEvent) => history.push(`${ev.type}:${ev.kv.value}`));
    const noDeletes: string[] = [];
    const w2 = c.watch({ prefix: p }, { filters: { noDelete: true } });
    w2.on('put', (ev: WatchEvent) => noDeletes.push(ev.kv.key.toString()));
    const many = Array.from({ length: 20 }, () => c.watch({ prefix: p }));
    await Promise.all([fromStart.ready(), w2.ready(), ...many.map((w) => w.ready())]);
    await waitFor(() => history.length === 3);
    expect(history).toEqual(['put:old', 'put:new', 'delete:']);
    await c.put(`${p}x`, '1');
    await c.delete(`${p}x`);
    await waitFor(() => noDeletes.length === 1);
    expect(noDeletes).toEqual([`${p}x`]);
    await Promise.all([fromStart.cancel(), w2.cancel(), ...many.map((w) => w.cancel())]);
  });

  test('progress requests and progress notifications', async () => {
    const c = fx.client();
    const p = freshPrefix('progress');
    const w = c.watch({ prefix: p });
    await w.ready();
    const { revision } = await c.put('unrelated-' + p, 'x');
    const progressed = new Promise<bigint>((resolve) => w.once('progress', resolve));
    w.requestProgress();
    expect(await progressed).toBeGreaterThanOrEqual(revision);
    await w.cancel();
  });

  test('a compacted start revision fails with WatchCompactedError', async () => {
    const c = fx.client();
    const p = freshPrefix('compacted');
    const first = await c.put(`${p}k`, '1');
    const second = await c.put(`${p}k`, '2');
    await c.compact(second.revision);
    const w = c.watch(`${p}k`, { startRevision: first.revision });
    const iterate = async (): Promise<void> => {
      for await (const _ of w) void _;
    };
    const err = await iterate().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchCompactedError);
    expect((err as WatchCompactedError).compactRevision).toBe(second.revision);
  });

  test('bad input throws InvalidArgumentError before any request', () => {
    const c = fx.client();
    expect(() => c.watch('')).toThrow(InvalidArgumentError);
    expect(() => c.watch({ prefix: 'a', fromKey: 'b' } as never)).toThrow(InvalidArgumentError);
    expect(() => c.watch('k', { startRevision: -1n })).toThrow(InvalidArgumentError);
    expect(() => c.watch('k', { filters: { noPut: true, noDelete: true } })).toThrow(InvalidArgumentError);
  });
});

describe.each(TARGETS.watch)('watch resumption against %s', (kind) => {
  const fx = useMember(kind);

  test('a watch resumes across killing the member, with no event lost or repeated', async () => {
    const watching = fx.client();
    const writer = fx.client({ callTimeoutMs: 2_000 });
    const p = freshPrefix('resume');
    const events: WatchEvent[] = [];
    const w = watching.watch({ prefix: p });
    w.on('event', (ev: WatchEvent) => events.push(ev));
    let disconnects = 0;
    w.on('disconnected', () => disconnects++);
    await w.ready();

    // Writes in flight while the member is killed: some are acknowledged, some fail.
    let i = 0;
    let stop = false;
    const writing = (async () => {
      while (!stop) {
        await writer.put(`${p}${String(i).padStart(5, '0')}`, `${i}`).catch(() => undefined);
        i++;
      }
    })();
    await waitFor(() => events.length >= 50);
    await fx.member().kill('SIGKILL');
    stop = true;
    await writing;
    const before = events.length;
    await fx.member().restart();
    // Writes before the watcher has re-registered must still be delivered (resume from revision + 1).
    // A client that keeps retrying while its channel reconnects to the restarted member (its
    // reconnect backoff can outlast the default 5 attempts).
    const afterRestart = fx.client({ callTimeoutMs: 20_000, retry: { attemptsMax: 40, backoffMaxMs: 500 } });
    await afterRestart.txn().then(op.put(`${p}after-1`, 'x'), op.put(`${p}after-2`, 'y')).commit();
    await afterRestart.put(`${p}after-3`, 'z');
    await waitFor(() => events.some((e) => e.kv.key.toString() === `${p}after-3`), 20_000);
    expect(disconnects).toBeGreaterThanOrEqual(1);
    expect(events.length).toBeGreaterThan(before);

    // Every key was put once: the events must be exactly the store's keys, in revision order, once each.
    const stored = await writer.getAll().prefix(p).kvs();
    const storedRevs = stored.map((kv) => kv.modRevision).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const seenRevs = events.map((e) => e.revision);
    for (let k = 1; k < seenRevs.length; k++) expect(seenRevs[k]!).toBeGreaterThanOrEqual(seenRevs[k - 1]!);
    expect(new Set(events.map((e) => e.kv.key.toString())).size).toBe(events.length);
    expect(seenRevs).toEqual(storedRevs);
    await w.cancel();
  }, 60_000);
});
