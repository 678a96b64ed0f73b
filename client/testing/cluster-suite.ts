/**
 * The SDK against a 3-member cluster of real processes (Cairn, or etcd 3.4 to show the SDK is a
 * genuine etcd client): the mutex under 20 contending clients, reads and writes across the loss of a
 * member, a watch that resumes across kill -9 of the member serving it with no event lost or
 * repeated, and a kept-alive lease that outlives a leader change. Used by
 * test/client-cluster-cairn.test.ts and test/client-cluster-etcd.test.ts (one file per server, so
 * each stays well under a minute).
 *
 * Every wait is bounded; nothing depends on how fast the machine is beyond those bounds.
 */
import type { MemberKind } from '../../test/harness/member';
import { Client, ClientOptions, EtcdError, Mutex, WatchEvent, op } from '../index';
import { TestCluster, startCluster } from './cluster';
import { freshPrefix, waitFor } from './targets';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Defines the suite for clusters of `kind`. */
export function clusterSuite(kind: MemberKind): void {
  describe(`the SDK against a 3-member ${kind} cluster`, () => {
    let cluster: TestCluster | undefined;
    const clients: Client[] = [];
    const c3 = (): TestCluster => {
      if (cluster === undefined) throw new Error('cluster not started');
      return cluster;
    };
    /** A client on every member (or `endpoints`), closed after the suite. */
    const client = (options: Partial<ClientOptions> = {}): Client => {
      const c = new Client({ endpoints: c3().endpoints(), callTimeoutMs: 10_000, ...options });
      clients.push(c);
      return c;
    };
    /** Restarts any member an earlier test killed and waits for an agreed leader. */
    const allRunning = async (): Promise<void> => {
      for (const m of c3().members) if (!m.running()) await m.restart();
      await c3().leader();
    };

    beforeAll(async () => {
      cluster = await startCluster(kind, `sdk-${kind}`);
    }, 60_000);
    afterAll(async () => {
      for (const c of clients) c.close();
      await cluster?.cleanup();
    });

    test('the mutex gives mutual exclusion to 20 contending clients; fencing revisions only grow', async () => {
      await allRunning();
      const p = freshPrefix('mutex');
      const contenders = 20;
      const rounds = 4;
      const cs = Array.from({ length: contenders }, () => client());
      await cs[0]!.put(`${p}counter`, '0');
      let holders = 0;
      let maxHolders = 0;
      let fencedMax = 0n; // the largest fencing revision the "storage" has accepted
      const staleWrites: bigint[] = [];
      const acquired: bigint[] = [];
      await Promise.all(
        cs.map(async (c) => {
          const session = c.session({ ttl: 10 });
          for (let r = 0; r < rounds; r++) {
            const mutex: Mutex = c.mutex(`${p}lock`, { session });
            const { revision } = await mutex.lock({ timeoutMs: 30_000 });
            holders++;
            maxHolders = Math.max(maxHolders, holders);
            acquired.push(revision);
            // Storage that keeps the largest fencing revision it has seen refuses an older one.
            if (revision <= fencedMax) staleWrites.push(revision);
            fencedMax = revision;
            // A non-atomic read-modify-write, correct only under mutual exclusion, guarded by the
            // fencing revision in the txn (it fails if this holder's key is gone).
            const n = Number(await c.get(`${p}counter`));
            await sleep(1);
            const t = await c.txn().where(mutex.isOwner()).then(op.put(`${p}counter`, String(n + 1))).commit();
            expect(t.succeeded).toBe(true);
            holders--;
            await mutex.unlock();
          }
          await session.close();
        }),
      );
      expect({ maxHolders, staleWrites }).toEqual({ maxHolders: 1, staleWrites: [] });
      expect(acquired).toHaveLength(contenders * rounds);
      expect(await cs[0]!.get(`${p}counter`)).toBe(String(contenders * rounds));
      expect(await cs[0]!.getAll().prefix(`${p}lock/`).count()).toBe(0);
    }, 60_000);

    test('reads and writes keep working when a member is killed', async () => {
      await allRunning();
      const leader = await c3().leader();
      const victim = (leader + 1) % 3; // a follower; the leader is killed in the lease test
      const c = client();
      const p = freshPrefix('failover');
      for (let i = 0; i < 10; i++) await c.put(`${p}before-${i}`, `${i}`);
      await c3().members[victim]!.kill('SIGKILL');
      // Every call after the kill succeeds: the client skips the dead endpoint (its round-robin still
      // lists it) and retries only what is safe.
      for (let i = 0; i < 30; i++) {
        const { revision } = await c.put(`${p}after-${i}`, `${i}`);
        expect((await c.get(`${p}after-${i}`).kv())?.modRevision).toBe(revision);
        expect(await c.get(`${p}before-${i % 10}`)).toBe(`${i % 10}`);
      }
      const t = await c.if(`${p}after-0`, 'value', '==', '0').then(op.delete(`${p}after-0`)).commit();
      expect(t.succeeded).toBe(true);
      expect(await c.getAll().prefix(p).count()).toBe(39);
      // The killed member restarts and catches up; a client on it alone reads every write.
      await c3().members[victim]!.restart();
      const only = client({ endpoints: [c3().members[victim]!.endpoint] });
      await waitFor(async () => (await only.getAll().prefix(p).serializable().count().catch(() => -1)) === 39, 20_000, 100);
    }, 60_000);

    test('a watch resumes across kill -9 of the member serving it, with no event lost or repeated', async () => {
      await allRunning();
      const p = freshPrefix('watch');
      const watching = client();
      const watcher = watching.watch({ prefix: p });
      const events: WatchEvent[] = [];
      let disconnects = 0;
      watcher.on('event', (ev: WatchEvent) => events.push(ev));
      watcher.on('disconnected', () => disconnects++);
      await watcher.ready();
      const victim = c3().endpoints().indexOf(watcher.endpoint!);
      expect(victim).toBeGreaterThanOrEqual(0);
      // The writer writes through the other two members.
      const writer = client({ endpoints: c3().endpoints().filter((_, i) => i !== victim) });
      const keys = Array.from({ length: 5 }, (_, i) => `${p}k${i}`);
      const acked: bigint[] = [];
      const failures: string[] = [];
      let stop = false;
      let ackedAfterKill = 0;
      let killed = false;
      const writing = (async () => {
        for (let i = 0; !stop; i++) {
          try {
            const { revision } = await writer.put(keys[i % keys.length]!, `${i}`, { timeoutMs: 5_000 });
            acked.push(revision);
            if (killed) ackedAfterKill++;
          } catch (e) {
            // An ambiguous failure (maybe applied) is allowed; the watch shows what was applied.
            failures.push(e instanceof EtcdError ? e.name : String(e));
            await sleep(50);
          }
        }
      })();
      await waitFor(() => events.length >= 20, 10_000);
      await c3().members[victim]!.kill('SIGKILL');
      killed = true;
      // Writes go on through the others until the watch has delivered some made after the kill.
      await waitFor(() => ackedAfterKill >= 30 && events.length > 0 && events[events.length - 1]!.revision >= acked[acked.length - 1]! - 5n, 20_000);
      stop = true;
      await writing;
      const lastAcked = acked[acked.length - 1]!;
      await waitFor(() => events.length > 0 && events[events.length - 1]!.revision >= lastAcked, 10_000);

      expect(disconnects).toBeGreaterThanOrEqual(1); // the watch really went through a resume
      expect(watcher.endpoint).not.toBe(c3().members[victim]!.endpoint);
      expect(watcher.ended).toBe(false);
      // Revisions strictly increase: nothing repeated, nothing out of order.
      const repeatedOrOutOfOrder = events.filter((ev, i) => i > 0 && ev.revision <= events[i - 1]!.revision).map((ev) => ev.revision);
      expect(repeatedOrOutOfOrder).toEqual([]);
      // Per key, versions are contiguous from 1: a lost event would leave a gap.
      for (const key of keys) {
        const versions = events.filter((ev) => ev.kv.key.toString() === key).map((ev) => ev.kv.version);
        expect(versions).toEqual(versions.map((_, i) => BigInt(i + 1)));
        const current = await writer.get(key).kv();
        expect(versions[versions.length - 1]).toBe(current?.version);
      }
      // Every acknowledged write was delivered.
      const delivered = new Set(events.map((ev) => ev.revision));
      expect(acked.filter((r) => !delivered.has(r))).toEqual([]);
      expect(ackedAfterKill).toBeGreaterThanOrEqual(30);
      await watcher.cancel();
      console.log(`${kind}: watch resumed after kill -9 of member ${victim}; ${events.length} events, ${acked.length} acked writes, failures: ${JSON.stringify(failures)}`);
    }, 60_000);

    test('a lease with automatic keep-alive keeps its keys across a leader change (kill -9 of the leader)', async () => {
      await allRunning();
      const leader = await c3().leader();
      const eps = c3().endpoints();
      const others = eps.filter((_, i) => i !== leader);
      // Round-robin: the grant goes to others[0] and the keep-alive stream opens on the leader.
      const c = client({ endpoints: [others[0]!, eps[leader]!, others[1]!] });
      const p = freshPrefix('lease');
      const ttl = 3;
      const kept = c.lease(ttl);
      const lost: unknown[] = [];
      kept.on('lost', (e) => lost.push(e));
      await kept.put(`${p}kept`, 'alive');
      // Control: the same TTL without keep-alives, so the test shows leases do expire meanwhile.
      const control = c.lease(ttl, { autoKeepAlive: false });
      await control.put(`${p}control`, 'expires');
      await waitFor(() => kept.keepAliveEndpoint !== undefined, 5_000);
      expect(kept.keepAliveEndpoint).toBe(eps[leader]);

      await c3().members[leader]!.kill('SIGKILL');
      const killedAt = Date.now();
      const checker = client({ endpoints: others });
      const newLeader = await c3().leader(20_000);
      expect(newLeader).not.toBe(leader);
      // Wait (bounded) until the control lease has expired on the new leader: by then more than the
      // TTL has passed since the kill, and the kept lease must still hold its key.
      await waitFor(async () => (await checker.get(`${p}control`).string().catch(() => 'error')) === null, 20_000, 200);
      const elapsedMs = Date.now() - killedAt;
      expect(elapsedMs).toBeGreaterThan(ttl * 1000);
      expect(await checker.get(`${p}kept`)).toBe('alive');
      expect(lost).toEqual([]);
      expect(kept.lost).toBe(false);
      expect((await kept.timeToLive()).ttl).toBeGreaterThan(0);
      expect(kept.keepAliveEndpoint).not.toBe(eps[leader]);
      // Writes go on through the client that listed the dead member.
      expect((await c.put(`${p}after`, 'ok')).revision).toBeGreaterThan(0n);
      // A second TTL later it is still there.
      await sleep(ttl * 1000);
      expect(await checker.get(`${p}kept`)).toBe('alive');
      await kept.revoke();
      expect(await checker.get(`${p}kept`)).toBeNull();
      console.log(`${kind}: control lease gone ${elapsedMs} ms after the leader's kill; kept lease alive through ${kept.keepAliveEndpoint ?? '(closed)'}`);
    }, 60_000);
  });
}
