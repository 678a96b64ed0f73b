/**
 * The connection against real servers (TARGETS.kv): round-robin and failover past an endpoint that
 * refuses connections, deadlines, AbortSignal cancellation, writes not retried once sent, and calls
 * after close.
 */
import * as net from 'node:net';
import { AbortedError, ClientClosedError, DeadlineExceededError, FutureRevisionError, InvalidArgumentError, UnavailableError, op } from './index';
import { TARGETS, freshPrefix, useMember } from './testing/targets';
import { freePort } from '../test/harness/ports';

/** A TCP server that accepts connections and never answers: calls to it hang until their deadline. */
async function blackhole(): Promise<{ endpoint: string; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe.each(TARGETS.kv)('connection against %s', (kind) => {
  const fx = useMember(kind);

  test('reads and writes fail over past an endpoint that refuses connections', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const c = fx.client({ endpoints: [dead, fx.member().endpoint, dead] });
    const p = freshPrefix('failover');
    for (let i = 0; i < 10; i++) {
      await c.put(`${p}${i}`, `${i}`); // never sent to the dead endpoint: safe to retry elsewhere
      expect(await c.get(`${p}${i}`)).toBe(`${i}`);
    }
    expect(await c.getAll().prefix(p).count()).toBe(10);
  });

  test('only dead endpoints: the call fails with UnavailableError marked notApplied', async () => {
    // Never connected: retried until the call's deadline, then the last error.
    const c = fx.client({ endpoints: [`http://127.0.0.1:${await freePort()}`], retry: { attemptsMax: 2 }, callTimeoutMs: 1000 });
    const err = await c.put('k', 'v').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).notApplied).toBe(true);
  });

  // With CAIRN_SDK_CLUSTER=3 the other members answer meanwhile (and a write during the leader's
  // restart may fail ambiguously, as it should): the cluster suite covers that case.
  (fx.size === 1 ? test : test.skip)('a call with a deadline keeps trying while the only member restarts, beyond attemptsMax', async () => {
    const c = fx.client({ callTimeoutMs: 20_000, retry: { attemptsMax: 2, backoffMaxMs: 200 } });
    expect((await c.put(`${freshPrefix('restart')}k`, 'before')).header.revision).toBeGreaterThan(0n);
    await fx.member().stop();
    const put = c.put(`${freshPrefix('restart')}k`, 'during');
    await new Promise((r) => setTimeout(r, 500));
    await fx.member().restart();
    expect((await put).header.revision).toBeGreaterThan(0n);
  }, 60_000);

  test('deadlines and AbortSignal end calls with typed errors', async () => {
    const hole = await blackhole();
    try {
      const c = fx.client({ endpoints: [hole.endpoint], callTimeoutMs: 300 });
      const t0 = Date.now();
      await expect(c.get('k')).rejects.toBeInstanceOf(DeadlineExceededError);
      expect(Date.now() - t0).toBeLessThan(3_000);
      const ac = new AbortController();
      const pending = c.get('k').options({ signal: ac.signal, timeoutMs: 10_000 }).exec();
      setTimeout(() => ac.abort(), 50);
      await expect(pending).rejects.toBeInstanceOf(AbortedError);
      await expect(c.put('k', 'v', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
    } finally {
      hole.close();
    }
  });

  test('both unary transports (http2, grpc-js) give the same answers and typed errors; keepalive pings are answered', async () => {
    const p = freshPrefix('transports');
    const lean = fx.client({ keepalive: { timeMs: 100, timeoutMs: 2_000 } });
    const grpcjs = fx.client({ unaryTransport: 'grpc-js' });
    const first = await lean.put(`${p}k`, 'a');
    const second = await grpcjs.put(`${p}k`, 'b');
    expect(second.revision).toBe(first.revision + 1n);
    for (const c of [lean, grpcjs]) {
      expect(await c.get(`${p}k`)).toBe('b');
      expect((await c.get(`${p}k`).revision(first.revision).kv())?.value.toString()).toBe('a');
      await expect(c.get(`${p}k`).revision(second.revision + 100n)).rejects.toBeInstanceOf(FutureRevisionError);
      const t = await c.if(`${p}k`, 'value', '==', 'b').then(op.get(`${p}k`)).commit();
      expect(t.succeeded).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 350)); // several keepalive pings, answered
    expect(await lean.get(`${p}k`)).toBe('b');
    expect(() => fx.client({ unaryTransport: 'grpc' as never })).toThrow(InvalidArgumentError);
    // A server that accepts the connection but never answers: without a deadline only keepalive
    // notices (the unanswered ping drops the session), and the call fails instead of hanging.
    const hole = await blackhole();
    try {
      const silent = fx.client({ endpoints: [hole.endpoint], callTimeoutMs: undefined, keepalive: { timeMs: 100, timeoutMs: 100 }, retry: { attemptsMax: 2 } });
      const t0 = Date.now();
      await expect(silent.get('k')).rejects.toBeInstanceOf(UnavailableError);
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      hole.close();
    }
  });

  test('calls after close fail with ClientClosedError', async () => {
    const c = fx.client();
    await c.put('closing', '1');
    c.close();
    await expect(c.get('closing')).rejects.toBeInstanceOf(ClientClosedError);
    expect(() => c.watch('closing')).toThrow(ClientClosedError);
  });
});
