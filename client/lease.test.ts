/**
 * Leases through the SDK: keep-alive keeps keys alive past the TTL, revoke deletes them, the lease
 * list and time-to-live, and 'lost' when the lease is revoked elsewhere. Runs against TARGETS.lease.
 */
import { InvalidArgumentError, LeaseLostError } from './index';
import { TARGETS, freshPrefix, useMember } from './testing/targets';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.each(TARGETS.lease)('lease against %s', (kind) => {
  const fx = useMember(kind);

  test('automatic keep-alive keeps the keys alive past the TTL; revoke deletes them', async () => {
    const c = fx.client();
    const p = freshPrefix('keepalive');
    const lease = c.lease(2);
    let keepalives = 0;
    lease.on('keepalive', () => keepalives++);
    const { revision } = await lease.put(`${p}k`, 'alive');
    expect(typeof lease.id).toBe('bigint');
    const kv = await c.get(`${p}k`).kv();
    expect(kv!.lease).toBe(lease.id);
    expect(kv!.modRevision).toBe(revision);
    await sleep(4_500); // more than twice the TTL
    expect(await c.get(`${p}k`)).toBe('alive');
    expect(keepalives).toBeGreaterThanOrEqual(3);
    const ttl = await lease.timeToLive({ keys: true });
    expect(ttl.grantedTtl).toBe(2);
    expect(ttl.keys.map((k) => k.toString())).toEqual([`${p}k`]);
    expect((await c.leases()).map((l) => l.id)).toContain(lease.id);
    await lease.revoke();
    expect(await c.get(`${p}k`)).toBeNull();
  }, 20_000);

  test('a lease without keep-alive expires with its keys', async () => {
    const c = fx.client();
    const p = freshPrefix('expire');
    const lease = c.lease(1, { autoKeepAlive: false });
    await lease.put(`${p}k`, 'v');
    await sleep(3_000);
    expect(await c.get(`${p}k`)).toBeNull();
  }, 10_000);

  test("'lost' is emitted when the lease is revoked by someone else", async () => {
    const c = fx.client();
    const other = fx.client();
    const lease = c.lease(2);
    const id = await lease.grant();
    const lost = new Promise<LeaseLostError>((resolve) => lease.on('lost', resolve));
    await other.revokeLease(id);
    const err = await lost;
    expect(err).toBeInstanceOf(LeaseLostError);
    expect(err.leaseId).toBe(id);
    expect(lease.lost).toBe(true);
  }, 10_000);

  test('bad TTLs throw InvalidArgumentError before any request', () => {
    const c = fx.client();
    expect(() => c.lease(0)).toThrow(InvalidArgumentError);
    expect(() => c.lease(1.5)).toThrow(InvalidArgumentError);
    expect(() => c.lease(-3)).toThrow(InvalidArgumentError);
  });
});
