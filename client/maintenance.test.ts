/**
 * Cluster and Maintenance wrappers against TARGETS.maintenance (etcd and Cairn serve Status, Hash,
 * HashKV, Alarm GET and MemberList); Auth with user/password and token refresh against TARGETS.auth.
 */
import { Client, InvalidArgumentError } from './index';
import { TARGETS, useMember } from './testing/targets';

describe.each(TARGETS.maintenance)('cluster and maintenance against %s', (kind) => {
  const fx = useMember(kind);

  test('status, hash, hashKV, alarms and the member list are typed', async () => {
    const c = fx.client({ endpoints: [fx.member().endpoint] });
    await c.put('m', '1');
    const s = await c.maintenance.status();
    expect(s.version).toMatch(/^3\.\d+\.\d+/);
    expect(typeof s.leader).toBe('bigint');
    if (fx.size === 1) expect(s.leader).toBe(s.header.memberId);
    else expect(s.leader).not.toBe(0n);
    expect(s.dbSize).toBeGreaterThan(0);
    expect(typeof (await c.maintenance.hash()).hash).toBe('number');
    const h = await c.maintenance.hashKV();
    expect(h.header.revision).toBeGreaterThan(0n);
    expect(await c.maintenance.alarms()).toEqual([]);
    const members = await c.cluster.memberList();
    expect(members).toHaveLength(fx.size);
    const me = members.find((m) => m.id === s.header.memberId);
    expect(me?.clientURLs).toEqual([fx.member().endpoint]);
    expect(members.every((m) => !m.isLearner)).toBe(true);
  });

  test('bad member input throws before any request', async () => {
    const c = fx.client();
    await expect(c.cluster.memberAdd([])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(c.cluster.memberRemove(0n)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(c.cluster.memberAdd(['not a url'])).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe.each(TARGETS.auth)('auth against %s', (kind) => {
  const fx = useMember(kind);

  test('user/password auth; the token is refreshed when the server refuses it', async () => {
    const admin = fx.client();
    await admin.auth.userAdd('root', 'rootpw');
    await admin.auth.userGrantRole('root', 'root');
    await admin.auth.roleAdd('app');
    await admin.auth.roleGrantPermission('app', 'readwrite', { prefix: 'app/' });
    await admin.auth.userAdd('alice', 'alicepw');
    await admin.auth.userGrantRole('alice', 'app');
    expect(await admin.auth.roleGet('app')).toEqual([{ type: 'readwrite', key: Buffer.from('app/'), rangeEnd: Buffer.from('app0') }]);
    expect((await admin.auth.userList()).sort()).toEqual(['alice', 'root']);
    await admin.auth.enable();
    const root = fx.client({ auth: { username: 'root', password: 'rootpw' } });
    try {
      expect((await root.auth.userList()).sort()).toEqual(['alice', 'root']);
      const alice = fx.client({ auth: { username: 'alice', password: 'alicepw' } });
      await alice.put('app/x', '1');
      expect(await alice.get('app/x')).toBe('1');
      await expect(alice.put('other', '1')).rejects.toThrow('etcdserver: permission denied');
      // A token the server does not know: the client authenticates again and retries.
      (alice.conn as unknown as { token: string }).token = 'bogus.token';
      expect(await alice.get('app/x')).toBe('1');
      // Watches carry the token too.
      const w = alice.watch({ prefix: 'app/' });
      await w.ready();
      await w.cancel();
      const wrong = fx.client({ auth: { username: 'alice', password: 'nope' } });
      await expect(wrong.get('app/x')).rejects.toThrow('authentication failed');
    } finally {
      await root.auth.disable();
    }
  }, 30_000);

  test('bad auth options throw before connecting', () => {
    expect(() => new Client({ endpoints: fx.member().endpoint, auth: { username: '', password: 'x' } })).toThrow(InvalidArgumentError);
    expect(() => new Client({ endpoints: [] })).toThrow(InvalidArgumentError);
    expect(() => new Client({ endpoints: 'http://host-without-port' })).toThrow(InvalidArgumentError);
    expect(() => new Client({ endpoints: ['http://127.0.0.1:1', 'https://127.0.0.1:2'] })).toThrow(InvalidArgumentError);
    expect(() => new Client({ endpoints: 'https://127.0.0.1:1', tls: { cert: 'x' } })).toThrow(InvalidArgumentError);
  });
});
