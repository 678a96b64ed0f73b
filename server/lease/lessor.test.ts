/**
 * The lessor's decisions with a fake clock (etcd 3.4 lease/lessor.go semantics): minimum TTL,
 * expiry on the primary only, renewals, bounded and retried expiry offers, checkpoints, promote
 * after a checkpoint, and rebuilding from the MVCC backend (records + attached keys) with the
 * applier revoking a lease's keys in one revision.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMvccStore } from '../mvcc/store';
import { KvApplier } from '../apply/kv';
import { LeaseApplier } from './apply';
import { LeaseExistsError, LeaseNotFoundError, LeaseTTLTooLargeError } from './errors';
import { EXPIRED_LEASE_RETRY_MS, FOREVER_TTL_SEC, Lessor, MAX_LEASE_TTL_SEC, minLeaseTtlSec } from './lessor';
import { restoreLeases } from './restore';
import { decodeLeaseRecord, encodeLeaseRecord } from './record';
import { LeaseIdGenerator } from './service';

const T0 = 1_700_000_000_000;

function primary(opts: { minTtlSec?: number; checkpointIntervalMs?: number } = {}): Lessor {
  const lessor = new Lessor({ minTtlSec: opts.minTtlSec ?? 2, checkpointIntervalMs: opts.checkpointIntervalMs });
  lessor.promote(T0, 0);
  return lessor;
}

describe('minimum TTL', () => {
  test("etcd's default flags (election 1000 ms, heartbeat 100 ms) give a 2 s minimum", () => {
    expect(minLeaseTtlSec({ electionTimeoutMs: 1000, heartbeatIntervalMs: 100 })).toBe(2);
    expect(minLeaseTtlSec({ electionTimeoutMs: 5000, heartbeatIntervalMs: 500 })).toBe(8);
  });

  test('a grant below the minimum gets the minimum; TTL 0 and negative TTLs too', () => {
    const lessor = primary({ minTtlSec: 2 });
    expect(lessor.grant(1n, 1, T0).ttlSec).toBe(2);
    expect(lessor.grant(2n, 0, T0).ttlSec).toBe(2);
    expect(lessor.grant(3n, -5, T0).ttlSec).toBe(2);
    expect(lessor.grant(4n, 30, T0).ttlSec).toBe(30);
  });
});

describe('grant and revoke', () => {
  test('a TTL above MaxLeaseTTL fails with LeaseTTLTooLargeError and changes nothing', () => {
    const lessor = primary();
    expect(() => lessor.grant(1n, MAX_LEASE_TTL_SEC + 1, T0)).toThrow(LeaseTTLTooLargeError);
    expect(lessor.size).toBe(0);
    expect(lessor.grant(1n, MAX_LEASE_TTL_SEC, T0).ttlSec).toBe(MAX_LEASE_TTL_SEC);
  });

  test('granting an ID in use fails with LeaseExistsError', () => {
    const lessor = primary();
    lessor.grant(7n, 10, T0);
    expect(() => lessor.grant(7n, 20, T0)).toThrow(LeaseExistsError);
    expect(lessor.lookup(7n)!.ttlSec).toBe(10);
  });

  test('revoke returns the attached keys in byte order; revoking again is LeaseNotFound', () => {
    const lessor = primary();
    lessor.grant(1n, 10, T0);
    for (const k of ['b', 'a', 'c']) lessor.attach(1n, Buffer.from(k));
    lessor.detach(1n, Buffer.from('c'));
    expect(lessor.revoke(1n).map(String)).toEqual(['a', 'b']);
    expect(() => lessor.revoke(1n)).toThrow(LeaseNotFoundError);
  });
});

describe('expiry (primary only)', () => {
  test('a lease expires its TTL after the grant; TimeToLive truncates the remaining seconds', () => {
    const lessor = primary();
    const lease = lessor.grant(1n, 10, T0);
    expect(lessor.remainingTtlSec(lease, T0 + 1)).toBe(9);
    expect(lessor.expired(T0 + 9_999, 10)).toEqual([]);
    expect(lessor.expired(T0 + 10_000, 10)).toEqual([1n]);
  });

  test('a member that is not primary never expires leases and reports them as forever', () => {
    const lessor = new Lessor({ minTtlSec: 2 });
    const lease = lessor.grant(1n, 10, T0);
    expect(lessor.expired(T0 + 1e9, 10)).toEqual([]);
    expect(lessor.remainingTtlSec(lease, T0)).toBe(FOREVER_TTL_SEC);
  });

  test('renew restarts the full TTL; an expired lease cannot be renewed', () => {
    const lessor = primary();
    lessor.grant(1n, 10, T0);
    expect(lessor.renew(1n, T0 + 8_000).ttlSec).toBe(10);
    expect(lessor.expired(T0 + 17_999, 10)).toEqual([]);
    expect(lessor.expired(T0 + 18_000, 10)).toEqual([1n]);
    expect(() => lessor.renew(1n, T0 + 18_000)).toThrow(LeaseNotFoundError);
    expect(() => lessor.renew(99n, T0)).toThrow(LeaseNotFoundError);
  });

  test('expired leases are offered at most `limit` at a time, earliest first, and again after the retry interval', () => {
    const lessor = primary();
    lessor.grant(1n, 5, T0);
    lessor.grant(2n, 3, T0);
    lessor.grant(3n, 4, T0);
    const now = T0 + 6_000;
    expect(lessor.expired(now, 2)).toEqual([2n, 3n]);
    expect(lessor.expired(now, 2)).toEqual([1n]);
    expect(lessor.expired(now + 1, 10)).toEqual([]);
    expect(lessor.expired(now + EXPIRED_LEASE_RETRY_MS, 10)).toEqual([2n, 3n, 1n]);
  });

  test('promote extends every lease by the given time; demote stops expiry', () => {
    const lessor = new Lessor({ minTtlSec: 2 });
    lessor.grant(1n, 10, T0);
    lessor.promote(T0 + 100_000, 1_000);
    expect(lessor.expired(T0 + 110_999, 10)).toEqual([]);
    expect(lessor.expired(T0 + 111_000, 10)).toEqual([1n]);
    lessor.demote();
    expect(lessor.expired(T0 + 500_000, 10)).toEqual([]);
  });
});

describe('checkpoints', () => {
  test('off unless an interval is configured', () => {
    const lessor = primary();
    lessor.grant(1n, 600, T0);
    expect(lessor.dueCheckpoints(T0 + 1e6, 10)).toEqual([]);
  });

  test('a lease longer than the interval is checkpointed each interval with its remaining TTL rounded up', () => {
    const lessor = primary({ checkpointIntervalMs: 60_000 });
    lessor.grant(1n, 600, T0);
    lessor.grant(2n, 30, T0); // shorter than one interval: never checkpointed
    expect(lessor.dueCheckpoints(T0 + 59_999, 10)).toEqual([]);
    expect(lessor.dueCheckpoints(T0 + 60_500, 10)).toEqual([{ id: 1n, remainingTtlSec: 540 }]);
    // Not offered again until its checkpoint is applied, which schedules the next one.
    expect(lessor.dueCheckpoints(T0 + 61_000, 10)).toEqual([]);
    lessor.checkpoint(1n, 540, T0 + 61_000);
    expect(lessor.dueCheckpoints(T0 + 121_000, 10)).toEqual([{ id: 1n, remainingTtlSec: 479 }]);
  });

  test('after a checkpoint, a promote counts from the remaining TTL, not the full TTL', () => {
    const lessor = primary({ checkpointIntervalMs: 60_000 });
    lessor.grant(1n, 600, T0);
    lessor.checkpoint(1n, 540, T0 + 60_000);
    lessor.demote();
    lessor.promote(T0 + 200_000, 1_000);
    expect(lessor.remainingTtlSec(lessor.lookup(1n)!, T0 + 200_000)).toBe(541);
  });

  test('a renewal of a checkpointed lease asks to clear the checkpoint', () => {
    const lessor = primary({ checkpointIntervalMs: 60_000 });
    lessor.grant(1n, 600, T0);
    expect(lessor.renew(1n, T0 + 1).clearCheckpoint).toBe(false);
    lessor.checkpoint(1n, 540, T0 + 60_000);
    expect(lessor.renew(1n, T0 + 60_001).clearCheckpoint).toBe(true);
  });
});

describe('persistence and rebuild', () => {
  test('records round-trip', () => {
    expect(decodeLeaseRecord(encodeLeaseRecord({ ttlSec: MAX_LEASE_TTL_SEC, remainingTtlSec: 17 }))).toEqual({ ttlSec: MAX_LEASE_TTL_SEC, remainingTtlSec: 17 });
  });

  test('leases, checkpoints and attached keys are rebuilt from the backend; revoked leases are gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-lease-'));
    const store = await openMvccStore({ dir });
    const lessor = new Lessor({ minTtlSec: 2, records: store, checkpointIntervalMs: 60_000 });
    lessor.promote(T0, 0);
    const kv = new KvApplier({ store, leaseExists: (id) => lessor.exists(id), attachLease: (id, k) => lessor.attach(id, k), detachLease: (id, k) => lessor.detach(id, k) });
    const leases = new LeaseApplier({ lessor, store, clock: () => T0 });
    leases.grant({ ID: 10, TTL: 600 });
    leases.grant({ ID: 11, TTL: 5 });
    leases.grant({ ID: -3, TTL: 50 }); // client-given negative IDs are kept as given
    kv.put({ key: Buffer.from('a'), value: Buffer.from('1'), lease: 10 });
    kv.put({ key: Buffer.from('b'), value: Buffer.from('2'), lease: 10 });
    kv.put({ key: Buffer.from('c'), value: Buffer.from('3'), lease: 11 });
    kv.put({ key: Buffer.from('b'), value: Buffer.from('2'), lease: 11 }); // moves b from 10 to 11
    kv.deleteRange({ key: Buffer.from('a') }); // detaches a
    leases.checkpoint({ checkpoints: [{ ID: 10, remaining_TTL: 420 }] });
    leases.revoke({ ID: -3 });
    store.setConsistentIndex(1);
    await store.close();

    const reopened = await openMvccStore({ dir });
    const rebuilt = new Lessor({ minTtlSec: 2, records: reopened });
    expect(await restoreLeases(rebuilt, reopened)).toEqual({ leases: 2, keys: 2 });
    expect(rebuilt.leases().map((l) => [l.id, l.ttlSec, l.remainingTtlSec, l.sortedKeys().map(String)])).toEqual([
      [10n, 600, 420, []],
      [11n, 5, 0, ['b', 'c']],
    ]);
    rebuilt.promote(T0, 0);
    expect(rebuilt.remainingTtlSec(rebuilt.lookup(10n)!, T0)).toBe(420);
    await reopened.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('revoking a lease deletes all its keys in one revision', async () => {
    const store = await openMvccStore({});
    const lessor = new Lessor({ minTtlSec: 2 });
    const kv = new KvApplier({ store, leaseExists: (id) => lessor.exists(id), attachLease: (id, k) => lessor.attach(id, k), detachLease: (id, k) => lessor.detach(id, k) });
    const leases = new LeaseApplier({ lessor, store, clock: () => T0 });
    leases.grant({ ID: 1, TTL: 10 });
    for (const k of ['x', 'y', 'z']) kv.put({ key: Buffer.from(k), value: Buffer.from('v'), lease: 1 });
    kv.put({ key: Buffer.from('w'), value: Buffer.from('v') });
    const before = store.currentRevision;
    expect(leases.revoke({ ID: 1 }).header).toEqual({ revision: before + 1 });
    expect(store.read().range(Buffer.from([0]), Buffer.from([0])).kvs.map((k) => String(k.key))).toEqual(['w']);
    expect(() => leases.revoke({ ID: 1 })).toThrow(LeaseNotFoundError);
    expect(() => kv.put({ key: Buffer.from('q'), value: Buffer.from('v'), lease: 1 })).toThrow('etcdserver: requested lease not found');
    await store.close();
  });
});

describe('server-chosen IDs', () => {
  test('positive, distinct, carrying the member ID low 16 bits', () => {
    const gen = new LeaseIdGenerator(0xbdae9bbc11dd390dn, T0);
    const a = gen.next();
    const b = gen.next();
    expect(a > 0n && b > 0n && a !== b).toBe(true);
    expect(a >> 48n).toBe(0x390dn);
  });
});

describe('key → lease, from memory', () => {
  test('leaseOf follows attach and detach, ignores keys of a lease that is gone, and is cleared by reset', () => {
    const lessor = new Lessor({ minTtlSec: 2 });
    lessor.grant(1n, 10, 0);
    lessor.grant(2n, 10, 0);
    const k = Buffer.from('k\xff', 'latin1');
    expect(lessor.leaseOf(k)).toBe(0n);
    lessor.attach(1n, k);
    expect(lessor.leaseOf(k)).toBe(1n);
    // Moving the key to another lease: detach from the old, attach to the new.
    lessor.detach(1n, k);
    lessor.attach(2n, k);
    expect(lessor.leaseOf(k)).toBe(2n);
    // A stale detach (of a lease the key is no longer on) leaves the key's lease alone.
    lessor.detach(1n, k);
    expect(lessor.leaseOf(k)).toBe(2n);
    lessor.attach(99n, Buffer.from('other'));
    expect(lessor.leaseOf(Buffer.from('other'))).toBe(0n);
    lessor.reset();
    expect(lessor.leaseOf(k)).toBe(0n);
  });
});
