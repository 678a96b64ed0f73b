/**
 * PeerTransport over real HTTP/2 on 127.0.0.1: delivery and order per lane, large and many
 * messages, a dead peer (drops, onUnreachable, bounded queue), reconnect with backoff, refusal of a
 * foreign cluster or an unknown member, snapshots (intact, corrupted, refused).
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { crc32c } from '../wal/crc32c';
import { Message, MessageType } from '../raft/types';
import { PeerTransport, PeerTransportOptions } from './transport';
import { TransportLimits } from './limits';
import { encodeChunkHeader, encodeSnapshotHead } from './snapshot-stream';
import { formatId, HEADER_ERROR, HEADER_SNAPSHOT_BYTES, PATH_SNAPSHOT, streamHeaders } from './wire';
import { entries, freePort, MemoryLogger, message, waitFor } from './testing/helpers';

const CLUSTER = 0xc1a5n;

interface Node {
  readonly id: bigint;
  readonly t: PeerTransport;
  readonly url: string;
  readonly got: Message[];
  readonly unreachable: bigint[];
  readonly snapStatus: [bigint, boolean][];
  readonly log: MemoryLogger;
}

const open: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

const FAST: Partial<TransportLimits> = { backoffMinMs: 20, backoffMaxMs: 200, dialTimeoutMs: 1000 };

async function node(id: bigint, o: { port?: number; clusterId?: bigint; limits?: Partial<TransportLimits>; peers?: Map<bigint, string[]> } = {}): Promise<Node> {
  const got: Message[] = [];
  const unreachable: bigint[] = [];
  const snapStatus: [bigint, boolean][] = [];
  const log = new MemoryLogger(`m${id}`);
  const opts: PeerTransportOptions = {
    memberId: id,
    clusterId: o.clusterId ?? CLUSTER,
    listenPeerUrls: [new URL(`http://127.0.0.1:${o.port ?? 0}`)],
    peers: o.peers ?? new Map(),
    onMessage: (m) => got.push(m),
    onUnreachable: (p) => unreachable.push(p),
    onSnapshotStatus: (p, ok) => snapStatus.push([p, ok]),
    log,
    limits: { ...FAST, ...o.limits },
  };
  const t = new PeerTransport(opts);
  open.push(t);
  await t.start();
  return { id, t, url: t.boundUrls()[0].href, got, unreachable, snapStatus, log };
}

/** Makes every node a peer of every other. */
function mesh(nodes: Node[]): void {
  for (const a of nodes) for (const b of nodes) if (a !== b) a.t.addPeer(b.id, [b.url]);
}

function heartbeat(from: bigint, to: bigint, commit: number): Message {
  return message({ type: MessageType.MsgHeartbeat, from, to, commit });
}

function append(from: bigint, to: bigint, index: number, count: number, bytes: number): Message {
  return message({ type: MessageType.MsgApp, from, to, index, logTerm: 1, commit: index, entries: entries(index + 1, count, bytes) });
}

async function connected(a: Node, b: Node): Promise<void> {
  await waitFor(`${a.id} → ${b.id} connected`, () => a.t.activeSince(b.id) !== undefined);
}

describe('PeerTransport', () => {
  test('two members exchange messages; each lane keeps its order', async () => {
    const [a, b] = [await node(1n), await node(2n)];
    mesh([a, b]);
    await connected(a, b);
    await connected(b, a);
    const n = 5000;
    for (let k = 0; k < n; k++) {
      // Appends with gaps between them: none continues the one before, so none is merged.
      a.t.send([heartbeat(1n, 2n, k), append(1n, 2n, 2 * k, 1, 16)]);
      if (k % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    b.t.send([heartbeat(2n, 1n, 42)]);
    await waitFor('all messages at b', () => b.got.length === 2 * n);
    await waitFor('reply at a', () => a.got.length === 1);
    const hb = b.got.filter((m) => m.type === MessageType.MsgHeartbeat).map((m) => m.commit);
    const app = b.got.filter((m) => m.type === MessageType.MsgApp).map((m) => m.index);
    expect(hb).toEqual([...Array(n).keys()]);
    expect(app).toEqual([...Array(n).keys()].map((k) => 2 * k));
    expect(b.got.every((m) => m.from === 1n && m.to === 2n)).toBe(true);
    expect(a.got[0].commit).toBe(42);
    expect(a.unreachable).toEqual([]);
  });

  test('contiguous appends, accepting acks and proposals queued together travel merged, in order', async () => {
    const [a, b] = [await node(1n), await node(2n)];
    mesh([a, b]);
    await connected(a, b);
    const batch: Message[] = [];
    for (let k = 0; k < 100; k++) {
      batch.push(append(1n, 2n, 10 + k, 1, 16));
      batch.push(message({ type: MessageType.MsgApp, from: 1n, to: 2n, index: 11 + k, logTerm: 1, commit: 11 + k }));
      batch.push(message({ type: MessageType.MsgAppResp, from: 1n, to: 2n, index: 10 + k }));
      batch.push(message({ type: MessageType.MsgProp, from: 1n, to: 2n, term: 0, entries: entries(0, 1, 8) }));
    }
    a.t.send(batch);
    await waitFor('merged messages', () => b.got.length === 3);
    const app = b.got.find((m) => m.type === MessageType.MsgApp)!;
    expect([app.index, app.logTerm, app.commit, app.entries.length]).toEqual([10, 1, 110, 100]);
    expect(app.entries.map((e) => e.index)).toEqual([...Array(100).keys()].map((k) => 11 + k));
    expect(b.got.find((m) => m.type === MessageType.MsgAppResp)!.index).toBe(109);
    expect(b.got.find((m) => m.type === MessageType.MsgProp)!.entries.length).toBe(100);
    expect(a.t.queuedMessages(2n)).toBe(0);
  });

  test('large entries and large batches arrive intact', async () => {
    const [a, b] = [await node(1n), await node(2n)];
    mesh([a, b]);
    await connected(a, b);
    const big = append(1n, 2n, 10, 1, 3 * 1024 * 1024);
    const many = append(1n, 2n, 11, 2000, 500);
    a.t.send([big, many]);
    await waitFor('two appends', () => b.got.length === 2);
    expect(Buffer.compare(Buffer.from(b.got[0].entries[0].data), Buffer.from(big.entries[0].data))).toBe(0);
    expect(b.got[1].entries.length).toBe(2000);
    b.got[1].entries.forEach((e, k) => {
      expect(e.index).toBe(12 + k);
      expect(Buffer.compare(Buffer.from(e.data), Buffer.from(many.entries[k].data))).toBe(0);
    });
  });

  test('a heartbeat is not held up behind 32 MiB of appends', async () => {
    const [a, b] = [await node(1n), await node(2n)];
    mesh([a, b]);
    await connected(a, b);
    for (let k = 0; k < 32; k++) a.t.send([append(1n, 2n, k, 1, 1024 * 1024)]);
    a.t.send([heartbeat(1n, 2n, 7)]);
    await waitFor('heartbeat', () => b.got.some((m) => m.type === MessageType.MsgHeartbeat));
    const appsBefore = b.got.findIndex((m) => m.type === MessageType.MsgHeartbeat);
    expect(appsBefore).toBeLessThan(32);
    await waitFor('all appends', () => b.got.length === 33);
  });

  test('three members: every pair delivers', async () => {
    const ns = [await node(1n), await node(2n), await node(3n)];
    mesh(ns);
    for (const x of ns) for (const y of ns) if (x !== y) x.t.send([heartbeat(x.id, y.id, Number(x.id * 10n + y.id))]);
    await waitFor('every member got two', () => ns.every((x) => x.got.length === 2));
    for (const y of ns) expect(y.got.map((m) => m.commit).sort()).toEqual(ns.filter((x) => x !== y).map((x) => Number(x.id * 10n + y.id)).sort());
  });

  test('a dead peer: messages are dropped, onUnreachable is called, and the queue stays bounded over 100k sends', async () => {
    const deadPort = await freePort();
    const queueMessagesMax = 1000;
    const a = await node(1n, { limits: { queueMessagesMax, queueBytesMax: 1024 * 1024 } });
    a.t.addPeer(2n, [`http://127.0.0.1:${deadPort}`]);
    const payload = entries(1, 1, 1024);
    const heapBefore = process.memoryUsage().heapUsed;
    let queuedMax = 0;
    for (let k = 0; k < 100_000; k++) {
      a.t.send([message({ type: MessageType.MsgApp, from: 1n, to: 2n, index: k, entries: payload }), heartbeat(1n, 2n, k)]);
      if (k % 1000 === 0) {
        queuedMax = Math.max(queuedMax, a.t.queuedMessages(2n));
        await new Promise((r) => setImmediate(r));
      }
    }
    queuedMax = Math.max(queuedMax, a.t.queuedMessages(2n));
    expect(queuedMax).toBeLessThanOrEqual(2 * queueMessagesMax);
    // 200k messages were sent; retained they would be ≥ 100 MiB of entries' references and objects.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    await waitFor('onUnreachable', () => a.unreachable.length > 0);
    expect(new Set(a.unreachable)).toEqual(new Set([2n]));
    // Reports are coalesced per turn, not one per dropped message.
    expect(a.unreachable.length).toBeLessThan(1000);
    expect(a.t.activeSince(2n)).toBeUndefined();
    expect(a.log.has(/cannot connect to peer/)).toBe(true);
  });

  test('reconnects with backoff after the peer restarts, and becomes active again', async () => {
    const port = await freePort();
    const a = await node(1n);
    let b = await node(2n, { port });
    mesh([a, b]);
    await connected(a, b);
    const firstActive = a.t.activeSince(2n);
    a.t.send([heartbeat(1n, 2n, 1)]);
    await waitFor('first heartbeat', () => b.got.length === 1);

    await b.t.close();
    await waitFor('a notices', () => a.t.activeSince(2n) === undefined);
    a.t.send([heartbeat(1n, 2n, 2)]);
    await waitFor('unreachable while down', () => a.unreachable.includes(2n));

    b = await node(2n, { port });
    b.t.addPeer(1n, [a.url]);
    await connected(a, b);
    expect(a.t.activeSince(2n)).toBeGreaterThan(firstActive ?? 0);
    a.t.send([heartbeat(1n, 2n, 3)]);
    await waitFor('heartbeat after restart', () => b.got.length === 1);
    expect(b.got[0].commit).toBe(3);
    expect(a.log.has(/lost peer stream/)).toBe(true);
  });

  test('a stream from another cluster is refused with 412 and logged', async () => {
    const a = await node(1n, { clusterId: 0xaaan });
    const b = await node(2n, { clusterId: 0xbbbn });
    mesh([a, b]);
    a.t.send([heartbeat(1n, 2n, 1)]);
    await waitFor('refusal logged', () => b.log.has(/cluster ID mismatch/));
    await waitFor('sender saw the refusal', () => a.log.has(/412 cluster ID mismatch/));
    expect(b.got).toEqual([]);
    expect(a.t.activeSince(2n)).toBeUndefined();
  });

  test('a stream from an unknown member is refused with 403; a removed member is cut off', async () => {
    const a = await node(1n);
    const b = await node(2n);
    a.t.addPeer(2n, [b.url]); // b does not know a
    a.t.send([heartbeat(1n, 2n, 1)]);
    await waitFor('refusal', () => b.log.has(/unknown member 0000000000000001/));
    await waitFor('sender saw 403', () => a.log.has(/refused the stream: 403/));
    expect(b.got).toEqual([]);

    b.t.addPeer(1n, [a.url]);
    await connected(a, b);
    a.t.send([heartbeat(1n, 2n, 2)]);
    await waitFor('delivered once known', () => b.got.length === 1);
    b.t.removePeer(1n);
    await waitFor('a loses its stream', () => a.t.activeSince(2n) === undefined);
    a.t.send([heartbeat(1n, 2n, 3)]);
    await waitFor('refused again', () => b.log.lines.filter((l) => /unknown member/.test(String(l.fields.err))).length >= 2);
    expect(b.got.length).toBe(1);
  });

  test('a 5 MiB snapshot is delivered intact and reported ok; a heartbeat is not held up by it', async () => {
    const [a, b] = [await node(1n, { limits: { snapshotChunkBytes: 256 * 1024 } }), await node(2n)];
    mesh([a, b]);
    await connected(a, b);
    const data = new Uint8Array(5 * 1024 * 1024);
    for (let k = 0; k < data.length; k++) data[k] = (k * 31 + (k >>> 11)) & 0xff;
    const snap = message({
      type: MessageType.MsgSnap,
      from: 1n,
      to: 2n,
      term: 4,
      snapshot: { metadata: { index: 1234, term: 3, confState: { voters: [1n, 2n, 3n], learners: [4n] } }, data },
    });
    a.t.send([snap, heartbeat(1n, 2n, 9)]);
    await waitFor('snapshot status', () => a.snapStatus.length === 1);
    expect(a.snapStatus).toEqual([[2n, true]]);
    const got = b.got.find((m) => m.type === MessageType.MsgSnap);
    expect(got?.snapshot?.metadata).toEqual(snap.snapshot?.metadata);
    expect(got?.term).toBe(4);
    expect(Buffer.compare(Buffer.from(got?.snapshot?.data ?? []), Buffer.from(data))).toBe(0);
    expect(b.got.some((m) => m.type === MessageType.MsgHeartbeat)).toBe(true);
  });

  test('a snapshot to a peer that is not connected fails at once', async () => {
    const a = await node(1n);
    a.t.addPeer(2n, [`http://127.0.0.1:${await freePort()}`]);
    a.t.send([message({ type: MessageType.MsgSnap, from: 1n, to: 2n, snapshot: { metadata: { index: 1, term: 1, confState: { voters: [1n], learners: [] } }, data: new Uint8Array(10) } })]);
    await waitFor('status', () => a.snapStatus.length === 1);
    expect(a.snapStatus).toEqual([[2n, false]]);
  });

  test('a snapshot with a corrupted chunk is refused and not delivered', async () => {
    const b = await node(2n);
    b.t.addPeer(1n, ['http://127.0.0.1:1']);
    const data = new Uint8Array(3000).fill(7);
    const snap = message({ type: MessageType.MsgSnap, from: 1n, to: 2n, snapshot: { metadata: { index: 5, term: 1, confState: { voters: [1n, 2n], learners: [] } }, data } });
    const corrupted = data.slice();
    corrupted[1500] ^= 0x01;
    const body = [
      encodeSnapshotHead(snap),
      encodeChunkHeader(1000, crc32c(data, 0, 1000)),
      Buffer.from(corrupted.subarray(0, 1000)),
      encodeChunkHeader(2000, crc32c(data, 1000, 3000)),
      Buffer.from(corrupted.subarray(1000)),
      encodeChunkHeader(0, crc32c(data)),
    ];
    const answer = await rawUpload(b.url, streamHeaders({ clusterId: CLUSTER, from: 1n, to: 2n }), data.length, body);
    expect(answer.status).toBe(400);
    expect(answer.error).toMatch(/chunk 1 at offset 1000 failed its checksum/);
    expect(b.got).toEqual([]);
    expect(b.log.has(/failed its checksum/)).toBe(true);

    // The same body with honest bytes is accepted: the test's framing is right.
    const ok = await rawUpload(b.url, streamHeaders({ clusterId: CLUSTER, from: 1n, to: 2n }), data.length, [
      body[0], body[1], Buffer.from(data.subarray(0, 1000)), body[3], Buffer.from(data.subarray(1000)), body[5],
    ]);
    expect(ok.status).toBe(200);
    expect(b.got.length).toBe(1);
  });

  test('the sender reports onSnapshotStatus(false) when the receiver refuses the snapshot', async () => {
    // A stand-in peer that accepts message lanes and refuses every snapshot as corrupted.
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      if (headers[':path'] === PATH_SNAPSHOT) {
        stream.resume();
        stream.respond({ ':status': 400, [HEADER_ERROR]: 'snapshot chunk 0 failed its checksum' }, { endStream: true });
      } else {
        stream.respond({ ':status': 200 });
        stream.resume();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const a = await node(1n);
      a.t.addPeer(2n, [`http://127.0.0.1:${(server.address() as AddressInfo).port}`]);
      await waitFor('connected', () => a.t.activeSince(2n) !== undefined);
      a.t.send([message({ type: MessageType.MsgSnap, from: 1n, to: 2n, snapshot: { metadata: { index: 9, term: 2, confState: { voters: [1n, 2n], learners: [] } }, data: new Uint8Array(100_000) } })]);
      await waitFor('status', () => a.snapStatus.length === 1);
      expect(a.snapStatus).toEqual([[2n, false]]);
      expect(a.log.has(/400 snapshot chunk 0 failed its checksum/)).toBe(true);
      await a.t.close();
    } finally {
      server.close();
    }
  });

  test('misuse is refused: non-http listen URLs, bad limits', () => {
    const base = { memberId: 1n, clusterId: 1n, peers: new Map(), onMessage: () => undefined, onUnreachable: () => undefined, onSnapshotStatus: () => undefined, log: new MemoryLogger() };
    expect(() => new PeerTransport({ ...base, listenPeerUrls: [new URL('https://127.0.0.1:1')] })).toThrow(/only http/);
    expect(() => new PeerTransport({ ...base, listenPeerUrls: [], limits: { backoffMinMs: 0 } })).toThrow(/positive integer/);
    expect(formatId(0x1234n)).toBe('0000000000001234');
  });
});

/** POSTs a snapshot body to `url` as raw buffers; returns the answer's status and error header. */
async function rawUpload(url: string, headers: Record<string, string>, dataBytes: number, body: Buffer[]): Promise<{ status: number; error: string }> {
  const session = http2.connect(url);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': PATH_SNAPSHOT, ...headers, [HEADER_SNAPSHOT_BYTES]: String(dataBytes) });
      stream.on('response', (h) => resolve({ status: Number(h[':status']), error: String(h[HEADER_ERROR] ?? '') }));
      stream.on('error', reject);
      stream.resume();
      for (const b of body) stream.write(b);
      stream.end();
    });
  } finally {
    session.destroy();
  }
}
