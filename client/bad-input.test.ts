/**
 * Bad input to the SDK throws InvalidArgumentError before any request is sent: every case below
 * runs against a client whose only endpoint is a TCP listener that counts connections, and the
 * listener must see none (grpc-js connects lazily, on the first call). No server is needed.
 */
import * as net from 'node:net';
import { Client, ClientOptions, InvalidArgumentError, compare, op } from './index';

/** Runs `f`; returns what it threw or its promise rejected with (undefined if neither). */
async function thrown(f: () => unknown): Promise<unknown> {
  try {
    const r = f();
    if (r !== null && typeof r === 'object' && 'then' in r && typeof (r as PromiseLike<unknown>).then === 'function') await r;
    return undefined;
  } catch (e) {
    return e;
  }
}

describe('bad input throws InvalidArgumentError before anything is sent', () => {
  let server: net.Server;
  let connections = 0;
  let endpoint = '';
  let c: Client;

  beforeAll(async () => {
    server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    c = new Client({ endpoints: [endpoint], callTimeoutMs: 2_000 });
  });
  afterAll(async () => {
    c.close();
    await new Promise((r) => server.close(r));
  });

  const cases: [string, () => unknown][] = [
    // Keys and selectors.
    ['get of an empty key', () => c.get('')],
    ['put of an empty key', () => c.put('', 'v')],
    ['put of an empty Buffer key', () => c.put(Buffer.alloc(0), 'v')],
    ['delete of an empty key', () => c.delete('')],
    ['a value that is not bytes', () => c.put('k', 42 as never)],
    ['a selector with two forms', () => c.deleteRange({ prefix: 'a', fromKey: 'b' } as never)],
    ['a selector with no form', () => c.deleteRange({} as never)],
    ['all: false', () => c.deleteRange({ all: false } as never)],
    ['an empty rangeEnd', () => c.deleteRange({ key: 'a', rangeEnd: '' })],
    ['rangeEnd before key', () => c.deleteRange({ key: 'b', rangeEnd: 'a' })],
    ['prefix then fromKey', () => c.getAll().prefix('a').fromKey('b')],
    ['a watch of an empty key', () => c.watch('')],
    ['an empty namespace', () => c.namespace('')],
    // Range options.
    ['a negative limit', () => c.getAll().limit(-1)],
    ['a fractional limit', () => c.getAll().limit(1.5)],
    ['keysOnly with countOnly', () => c.getAll().keysOnly().options({ countOnly: true })],
    ['an unknown sort target', () => c.getAll().sort('size' as never)],
    ['an unknown sort order', () => c.getAll().sort('key', 'up' as never)],
    ['minModRevision above maxModRevision', () => c.getAll().modRevisions(5n, 2n)],
    ['minCreateRevision above maxCreateRevision', () => c.getAll().createRevisions(9, 3)],
    ['a negative revision', () => c.get('k').revision(-1)],
    ['a fractional revision', () => c.get('k').revision(1.5)],
    ['a revision beyond int64', () => c.get('k').revision(1n << 63n)],
    ['iterate with a limit', () => c.getAll().limit(3).iterate()],
    ['iterate of a count', () => c.getAll().options({ countOnly: true }).iterate()],
    ['iterate sorted descending', () => c.getAll().sort('key', 'descend').iterate()],
    ['iterate with pageSize 0', () => c.getAll().iterate({ pageSize: 0 })],
    // Put options.
    ['ignoreValue with a value', () => c.put('k', 'v', { ignoreValue: true })],
    ['ignoreLease with a lease', () => c.put('k', '', { ignoreLease: true, lease: 5n })],
    ['a negative lease', () => c.put('k', 'v', { lease: -1 })],
    ['a call timeout of 0', () => c.put('k', 'v', { timeoutMs: 0 })],
    ['a negative call timeout', () => c.get('k').options({ timeoutMs: -5 }).exec()],
    ['a NaN call timeout', () => c.getAll().options({ timeoutMs: Number.NaN }).exec()],
    // Transactions.
    ['a version compare with a string', () => c.if('k', 'version', '==', 'x' as never)],
    ['a value compare with a number', () => c.if('k', 'value', '==', 5 as never)],
    ['a fractional version compare', () => c.if('k', 'version', '==', 1.5)],
    ['an unknown compare operator', () => compare('k', 'version', '>=' as never, 1)],
    ['an unknown compare target', () => compare('k', 'size' as never, '==', 1 as never)],
    ['where() with something else', () => c.txn().where({ key: 'k' } as never)],
    ['then() with something else', () => c.txn().then({ put: 'k' } as never)],
    ['else() with something else', () => c.txn().else('k' as never)],
    ['op.txn with something else', () => op.txn([], [{ type: 'nope' } as never])],
    ['an op with an empty key', () => op.put('', 'v')],
    ['a range op with bad options', () => op.range({ prefix: 'a' }, { limit: -2 })],
    // Watches.
    ['a watch with noPut and noDelete', () => c.watch('k', { filters: { noPut: true, noDelete: true } })],
    ['a watch from a negative revision', () => c.watch('k', { startRevision: -3 })],
    ['a watch buffer of 0 events', () => c.watch('k', { eventsBufferedMax: 0 })],
    // Leases, sessions, locks, elections, STM.
    ['a lease TTL of 0', () => c.lease(0)],
    ['a fractional lease TTL', () => c.lease(2.5)],
    ['a lease ID of 0', () => c.lease(5, { id: 0n })],
    ['a session TTL of -1', () => c.session({ ttl: -1 })],
    ['an empty mutex name', () => c.mutex('')],
    ['an empty election name', () => c.election('')],
    ['an unknown STM isolation', () => c.stm(() => undefined, { isolation: 'snapshot' as never })],
    ['STM retriesMax 0', () => c.stm(() => undefined, { retriesMax: 0 })],
    ['a negative lease id to revoke', () => c.revokeLease(-1n)],
    ['compact to revision 0', () => c.compact(0)],
    // Admin services.
    ['memberAdd without peer URLs', () => c.cluster.memberAdd([])],
    ['memberAdd with a bad URL', () => c.cluster.memberAdd(['127.0.0.1:2380'])],
    ['memberRemove of id 0', () => c.cluster.memberRemove(0n)],
    ['moveLeader to id 0', () => c.maintenance.moveLeader(0n)],
    ['disarm of an unknown alarm', () => c.maintenance.disarm({ memberId: 1n, alarm: 'fire' as never })],
    ['userAdd with an empty name', () => c.auth.userAdd('', 'pw')],
    ['an unknown permission type', () => c.auth.roleGrantPermission('r', 'all' as never, 'k')],
  ];

  test.each(cases)('%s', async (_name, f) => {
    const err = await thrown(f);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).notApplied).toBe(true);
    expect((err as Error).message.length).toBeGreaterThan(10);
  });

  test('bad client options throw in the constructor', async () => {
    const bad: Partial<ClientOptions>[] = [
      { endpoints: [] },
      { endpoints: ['not an endpoint'] },
      { endpoints: ['http://127.0.0.1'] }, // no port
      { endpoints: ['https://127.0.0.1:1', 'http://127.0.0.1:2'] },
      { callTimeoutMs: 0 },
      { callTimeoutMs: 1.5 },
      { retry: { attemptsMax: 0 } },
      { retry: { backoffMs: -1 } },
      { keepalive: { timeMs: 0 } },
      { auth: { username: '', password: 'x' } },
      { tls: { cert: 'x' } },
    ];
    for (const options of bad) {
      const err = await thrown(() => new Client({ endpoints: [endpoint], ...options }));
      expect({ options, err }).toEqual({ options, err: expect.any(InvalidArgumentError) });
    }
  });

  test('(control) a valid call does connect, so the count below can see a request', async () => {
    // Runs last: every case above left the listener untouched.
    expect(connections).toBe(0);
    const probe = new Client({ endpoints: [endpoint], callTimeoutMs: 500, retry: { attemptsMax: 1 } });
    await thrown(() => probe.get('k'));
    probe.close();
    expect(connections).toBeGreaterThan(0);
  });
});
