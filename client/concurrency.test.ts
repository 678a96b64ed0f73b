/**
 * Concurrency recipes through the SDK: the mutex gives mutual exclusion to many contending clients
 * with growing fencing revisions; election campaign/proclaim/resign/observe (TARGETS.concurrency:
 * they need watch and leases); STM read-modify-write under contention (TARGETS.kv: KV only).
 */
import { AbortedError, Client, InvalidArgumentError, KeyValue, LockNotHeldError, STMConflictError, op } from './index';
import { TARGETS, freshPrefix, useMember, waitFor } from './testing/targets';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.each(TARGETS.concurrency)('mutex and election against %s', (kind) => {
  const fx = useMember(kind);

  test('the mutex gives mutual exclusion to many contending clients, with growing fencing revisions', async () => {
    const p = freshPrefix('mutex');
    const clients: Client[] = Array.from({ length: 8 }, () => fx.client());
    const rounds = 5;
    let holders = 0;
    let maxHolders = 0;
    const fences: bigint[] = [];
    await clients[0]!.put(`${p}counter`, '0');
    await Promise.all(
      clients.map(async (c) => {
        const session = c.session({ ttl: 10 });
        for (let r = 0; r < rounds; r++) {
          const mutex = c.mutex(`${p}lock`, { session });
          const { revision } = await mutex.lock();
          holders++;
          maxHolders = Math.max(maxHolders, holders);
          fences.push(revision);
          // A non-atomic read-modify-write: correct only under mutual exclusion.
          const n = Number(await c.get(`${p}counter`));
          await sleep(2);
          const t = await c.txn().where(mutex.isOwner()).then(op.put(`${p}counter`, String(n + 1))).commit();
          expect(t.succeeded).toBe(true);
          holders--;
          await mutex.unlock();
        }
        await session.close();
      }),
    );
    expect(maxHolders).toBe(1);
    expect(await clients[0]!.get(`${p}counter`)).toBe(String(clients.length * rounds));
    for (let i = 1; i < fences.length; i++) expect(fences[i]!).toBeGreaterThan(fences[i - 1]!);
    expect(await clients[0]!.getAll().prefix(`${p}lock/`).count()).toBe(0);
  }, 60_000);

  test('tryLock fails while held; lock is abortable; unlock without the lock fails', async () => {
    const p = freshPrefix('trylock');
    const a = fx.client().mutex(`${p}m`);
    const b = fx.client().mutex(`${p}m`);
    await a.lock();
    expect(await b.tryLock()).toBe(false);
    const ac = new AbortController();
    const waiting = b.lock({ signal: ac.signal });
    await sleep(100);
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    await a.unlock();
    expect(await b.tryLock()).toBe(true);
    await b.unlock();
    await expect(b.unlock()).rejects.toBeInstanceOf(LockNotHeldError);
    expect(() => fx.client().mutex('')).toThrow(InvalidArgumentError);
  }, 20_000);

  test('election: one leader at a time, proclaim, resign hands over, observe follows', async () => {
    const p = freshPrefix('election');
    const c1 = fx.client();
    const c2 = fx.client();
    const e1 = c1.election(`${p}e`);
    const e2 = c2.election(`${p}e`);
    const observed: string[] = [];
    const ac = new AbortController();
    const observing = (async () => {
      for await (const leader of c1.election(`${p}e`).observe({ signal: ac.signal })) observed.push((leader as KeyValue).value.toString());
    })();
    await e1.campaign('one');
    let second = false;
    const campaign2 = e2.campaign('two').then(() => (second = true));
    await sleep(200);
    expect(second).toBe(false);
    expect((await e1.leader())!.value.toString()).toBe('one');
    await e1.proclaim('one-b');
    await e1.resign();
    await campaign2;
    expect(e2.revision).toBeGreaterThan(0n);
    expect((await e2.leader())!.value.toString()).toBe('two');
    await expect(e1.proclaim('stale')).rejects.toBeInstanceOf(LockNotHeldError);
    await waitFor(() => observed.includes('two'));
    expect(observed).toEqual(['one', 'one-b', 'two']);
    ac.abort();
    await observing;
    await e2.resign();
  }, 20_000);
});

describe.each(TARGETS.kv)('STM against %s', (kind) => {
  const fx = useMember(kind);

  test.each(['serializable', 'repeatable-read'] as const)('%s: concurrent increments are never lost', async (isolation) => {
    const p = freshPrefix('stm');
    const clients = Array.from({ length: 4 }, () => fx.client());
    await clients[0]!.put(`${p}n`, '0');
    await Promise.all(
      clients.flatMap((c) =>
        Array.from({ length: 5 }, () =>
          c.stm(
            async (tx) => {
              const n = Number(await tx.get(`${p}n`));
              tx.put(`${p}n`, String(n + 1));
              tx.put(`${p}last`, String(n + 1));
            },
            { isolation, retriesMax: 100 },
          ),
        ),
      ),
    );
    expect(await clients[0]!.get(`${p}n`)).toBe('20');
    expect(await clients[0]!.get(`${p}last`)).toBe('20');
  }, 30_000);

  test('a transfer reads its own writes; conflicts past retriesMax give STMConflictError', async () => {
    const c = fx.client();
    const p = freshPrefix('stm2');
    await c.put(`${p}a`, '100');
    await c.put(`${p}b`, '0');
    await c.stm(async (tx) => {
      tx.put(`${p}a`, String(Number(await tx.get(`${p}a`)) - 10));
      expect(await tx.get(`${p}a`)).toBe('90');
      tx.put(`${p}b`, String(Number(await tx.get(`${p}b`)) + 10));
    });
    expect(await c.getAll().prefix(p)).toEqual({ [`${p}a`]: '90', [`${p}b`]: '10' });
    const err = await c
      .stm(
        async (tx) => {
          await tx.get(`${p}a`);
          await c.put(`${p}a`, 'changed behind its back');
          tx.put(`${p}b`, 'never');
        },
        { retriesMax: 2 },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(STMConflictError);
    expect(await c.get(`${p}b`)).toBe('10');
  });
});
