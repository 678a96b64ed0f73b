/**
 * The fault-injection proxy: it forwards bytes intact, pauses a direction without losing bytes,
 * cuts connections; and PeerTransport reacts as a partition requires (ping timeout on a pause,
 * reconnect after a cut, delivery once healed).
 */
import * as net from 'node:net';
import { MessageType, Message } from '../raft/types';
import { PeerTransport } from './transport';
import { LinkProxy } from './testing/link-proxy';
import { MemoryLogger, message, waitFor } from './testing/helpers';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function echoServer(): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

async function proxyTo(port: number): Promise<LinkProxy> {
  const proxy = new LinkProxy({ target: { host: '127.0.0.1', port } });
  await proxy.start();
  closers.push(() => proxy.close());
  return proxy;
}

function client(port: number): { socket: net.Socket; received: () => number; closed: () => boolean } {
  const socket = net.connect(port, '127.0.0.1');
  let n = 0;
  let closed = false;
  socket.on('data', (d) => (n += d.length));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  closers.push(async () => void socket.destroy());
  return { socket, received: () => n, closed: () => closed };
}

describe('LinkProxy', () => {
  test('forwards, pauses one direction without losing bytes, resumes', async () => {
    const proxy = await proxyTo(await echoServer());
    const c = client(proxy.port);
    c.socket.write(Buffer.alloc(1000, 1));
    await waitFor('echo', () => c.received() === 1000);

    proxy.pause('fromTarget');
    c.socket.write(Buffer.alloc(5000, 2));
    await waitFor('bytes reach the target', () => proxy.bytes.toTarget === 6000);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.received()).toBe(1000);

    proxy.forward();
    await waitFor('echo after resume', () => c.received() === 6000);
  });

  test('cut resets open connections and refuses new ones until forward', async () => {
    const proxy = await proxyTo(await echoServer());
    const c1 = client(proxy.port);
    c1.socket.write('x');
    await waitFor('echo', () => c1.received() === 1);
    proxy.cut();
    await waitFor('c1 closed', () => c1.closed());
    const c2 = client(proxy.port);
    await waitFor('c2 closed', () => c2.closed());
    proxy.forward();
    const c3 = client(proxy.port);
    c3.socket.write('yz');
    await waitFor('echo again', () => c3.received() === 2);
  });

  test('a PeerTransport link through the proxy: pause is noticed by ping timeout, cut at once; both heal', async () => {
    const got: Message[] = [];
    const logA = new MemoryLogger('a');
    const limits = { backoffMinMs: 20, backoffMaxMs: 100, pingIntervalMs: 50, pingTimeoutMs: 200 };
    const b = new PeerTransport({
      memberId: 2n, clusterId: 7n, listenPeerUrls: [new URL('http://127.0.0.1:0')], peers: new Map([[1n, ['http://127.0.0.1:1']]]),
      onMessage: (m) => got.push(m), onUnreachable: () => undefined, onSnapshotStatus: () => undefined, log: new MemoryLogger('b'), limits,
    });
    await b.start();
    closers.push(() => b.close());
    const proxy = await proxyTo(Number(b.boundUrls()[0].port));
    const unreachable: bigint[] = [];
    const a = new PeerTransport({
      memberId: 1n, clusterId: 7n, listenPeerUrls: [new URL('http://127.0.0.1:0')], peers: new Map([[2n, [proxy.url]]]),
      onMessage: () => undefined, onUnreachable: (id) => unreachable.push(id), onSnapshotStatus: () => undefined, log: logA, limits,
    });
    await a.start();
    closers.push(() => a.close());
    const hb = (commit: number): Message => message({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, commit });

    await waitFor('connected through the proxy', () => a.activeSince(2n) !== undefined);
    a.send([hb(1)]);
    await waitFor('delivered', () => got.length === 1);

    proxy.pause();
    a.send([hb(2)]);
    await waitFor('ping timeout', () => logA.has(/ping unanswered/));
    expect(a.activeSince(2n)).toBeUndefined();
    await waitFor('reported unreachable', () => unreachable.includes(2n));
    proxy.forward();
    await waitFor('reconnected after the pause', () => a.activeSince(2n) !== undefined);
    a.send([hb(3)]);
    await waitFor('delivered after the pause', () => got.some((m) => m.commit === 3));

    proxy.cut();
    await waitFor('cut noticed', () => a.activeSince(2n) === undefined);
    a.send([hb(4)]);
    proxy.forward();
    await waitFor('reconnected after the cut', () => a.activeSince(2n) !== undefined);
    a.send([hb(5)]);
    await waitFor('delivered after the cut', () => got.some((m) => m.commit === 5));
    // Every lane is ordered: what got through did so in order.
    const commits = got.map((m) => m.commit);
    expect([...commits].sort((x, y) => x - y)).toEqual(commits);
  });
});
