/**
 * PeerTransport: carries Raft messages between members over HTTP/2 cleartext.
 *
 * To each peer this member opens two connections, each with one long-lived request stream (a
 * "lane", lane.ts): `app` carries MsgApp, `msg` every other type, so heartbeats and votes never
 * wait behind a large append batch (etcd's rafthttp splits its streams the same way). Order is
 * kept within a lane. Every MsgSnap goes on a connection of its own, in checksummed chunks
 * (snapshot-sender.ts), and its outcome is reported through `onSnapshotStatus`. Peers send to us
 * the same way; the receiver (receiver.ts) checks cluster ID and sender on every stream.
 *
 * Nothing here blocks or grows without bound: each lane's queue has a message and a byte limit;
 * a message that does not fit, or that is sent while the peer is in reconnect backoff, is dropped
 * and the peer reported through `onUnreachable` (Raft retries). Callbacks are never called from
 * inside `send`: they run in a later turn, and not after `close()`.
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Message, MessageType } from '../raft/types';
import { encodedMessageBytes } from './codec';
import { Lane } from './lane';
import { resolveLimits, TransportLimits, TransportLogger } from './limits';
import { Receiver } from './receiver';
import { sendSnapshot, SnapshotTransfer } from './snapshot-sender';
import { formatId, LaneKind, streamHeaders } from './wire';

export interface PeerTransportOptions {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  /** Where to listen for peers (`http://host:port`; port 0 picks a free port, see `boundUrls`). */
  readonly listenPeerUrls: readonly URL[];
  /** Member ID → its peer URLs (`http://host:port`), tried in turn on reconnect. */
  readonly peers: ReadonlyMap<bigint, readonly string[]>;
  /** A message from a peer, in the order that peer sent it on its lane. The receiver has checked `from` and `to`. */
  readonly onMessage: (m: Message) => void;
  /** Messages to `id` were dropped or lost; the host calls `RawNode.reportUnreachable(id)`. Coalesced per turn. */
  readonly onUnreachable: (id: bigint) => void;
  /** The outcome of a MsgSnap to `id`; the host calls `RawNode.reportSnapshot(id, ok)`. */
  readonly onSnapshotStatus: (id: bigint, ok: boolean) => void;
  readonly log: TransportLogger;
  readonly limits?: Partial<TransportLimits>;
  /** What `GET /members` answers (the cluster's member list); absent: not served. */
  readonly members?: () => unknown;
  /** Promotes a learner for a follower that forwarded MemberPromote (absent: not served). */
  readonly promote?: (id: bigint) => Promise<unknown>;
  /** Members removed from the cluster (their streams are refused with 410). */
  readonly isRemovedPeer?: (id: bigint) => boolean;
  /** A peer answered 410: this member was removed from the cluster. */
  readonly onRemoved?: () => void;
}

interface Peer {
  readonly id: bigint;
  urls: readonly string[];
  readonly msg: Lane;
  readonly app: Lane;
  snapshot: SnapshotTransfer | undefined;
}

export class PeerTransport {
  private readonly limits: TransportLimits;
  private readonly log: TransportLogger;
  private readonly peers = new Map<bigint, Peer>();
  private readonly receiver: Receiver;
  private readonly servers: http2.Http2Server[] = [];
  private readonly incomingSessions = new Set<http2.ServerHttp2Session>();
  private bound: URL[] = [];
  private state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  /** Peers to report unreachable at the end of this turn, with the messages dropped for each. */
  private readonly unreachablePending = new Map<bigint, number>();
  private unreachableFlushScheduled = false;

  constructor(private readonly opts: PeerTransportOptions) {
    this.limits = resolveLimits(opts.limits);
    this.log = opts.log;
    for (const u of opts.listenPeerUrls) {
      if (u.protocol !== 'http:') throw new Error(`peer URL ${u.href}: only http:// is supported (no TLS yet)`);
    }
    this.receiver = new Receiver({
      memberId: opts.memberId,
      clusterId: opts.clusterId,
      isKnownPeer: (id) => this.peers.has(id),
      onMessage: (m) => {
        if (this.state !== 'closed') opts.onMessage(m);
      },
      limits: this.limits,
      log: this.log,
      members: opts.members,
      promote: opts.promote,
      isRemovedPeer: opts.isRemovedPeer,
    });
    for (const [id, urls] of opts.peers) this.addPeer(id, urls);
  }

  /**
   * Listens on every listen URL and starts connecting to the peers.
   * @throws the listen error (EADDRINUSE, ...); nothing is left listening then
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`PeerTransport.start() in state ${this.state}`);
    this.state = 'starting';
    try {
      for (const u of this.opts.listenPeerUrls) this.bound.push(await this.listen(u));
    } catch (err) {
      this.state = 'started';
      await this.close();
      throw err;
    }
    if ((this.state as string) === 'closed') return;
    this.state = 'started';
    for (const p of this.peers.values()) {
      p.msg.start();
      p.app.start();
    }
  }

  /** The listen URLs with the ports actually bound (after `start`). */
  boundUrls(): readonly URL[] {
    return this.bound;
  }

  /**
   * Queues messages for their peers and returns at once. A message that cannot be queued is
   * dropped (its peer reported unreachable; a MsgSnap reported as a failed snapshot). Messages to
   * unknown members are ignored.
   */
  send(messages: readonly Message[]): void {
    if (this.state === 'closed') return;
    for (const m of messages) {
      const peer = this.peers.get(m.to);
      if (peer === undefined) {
        this.log.debug({ to: formatId(m.to), type: m.type }, 'ignored a message to an unknown member');
        continue;
      }
      if (m.type === MessageType.MsgSnap) {
        this.sendSnapshot(peer, m);
        continue;
      }
      const bytes = encodedMessageBytes(m);
      if (bytes > this.limits.messageBytesMax) {
        this.log.error({ peer: formatId(peer.id), type: m.type, bytes }, 'dropped a message larger than messageBytesMax');
        this.reportUnreachable(peer.id, 1);
        continue;
      }
      const lane = m.type === MessageType.MsgApp ? peer.app : peer.msg;
      if (!lane.enqueue(m, bytes)) this.reportUnreachable(peer.id, 1);
    }
  }

  /** Starts sending to (and accepting streams from) member `id`. A member already known is left as it is. */
  addPeer(id: bigint, urls: readonly string[]): void {
    if (this.state === 'closed' || this.peers.has(id)) return;
    if (id === this.opts.memberId) throw new Error(`addPeer: ${formatId(id)} is this member`);
    if (urls.length === 0) throw new Error(`addPeer: member ${formatId(id)} has no peer URLs`);
    const headers = streamHeaders({ clusterId: this.opts.clusterId, from: this.opts.memberId, to: id });
    const logFields = { peer: formatId(id) };
    const lane = (kind: LaneKind): Lane =>
      new Lane({
        kind,
        urls,
        headers,
        limits: this.limits,
        log: this.log,
        logFields,
        onLoss: () => this.reportUnreachable(id),
        onRemoved: () => {
          if (this.state !== 'closed') this.opts.onRemoved?.();
        },
      });
    const peer: Peer = { id, urls, msg: lane('msg'), app: lane('app'), snapshot: undefined };
    this.peers.set(id, peer);
    if (this.state === 'started') {
      peer.msg.start();
      peer.app.start();
    }
  }

  /** Stops sending to member `id`, cuts its streams to us, and refuses its new ones. */
  removePeer(id: bigint): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    this.peers.delete(id);
    peer.msg.close();
    peer.app.close();
    peer.snapshot?.abort();
    this.receiver.closePeer(id);
  }

  /** New peer URLs for member `id`: its lanes reconnect to them. */
  updatePeer(id: bigint, urls: readonly string[]): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    if (urls.length === 0) throw new Error(`updatePeer: member ${formatId(id)} has no peer URLs`);
    peer.urls = urls;
    peer.msg.setUrls(urls);
    peer.app.setUrls(urls);
  }

  /**
   * Date.now() at which both lanes to `id` have been connected without interruption, or
   * undefined when either is not connected (or `id` is unknown).
   */
  activeSince(id: bigint): number | undefined {
    const peer = this.peers.get(id);
    const a = peer?.msg.connectedSinceMs;
    const b = peer?.app.connectedSinceMs;
    return a === undefined || b === undefined ? undefined : Math.max(a, b);
  }

  /** Messages waiting for `id` in its two lanes (for tests and metrics). */
  queuedMessages(id: bigint): number {
    const peer = this.peers.get(id);
    return peer === undefined ? 0 : peer.msg.queuedMessages + peer.app.queuedMessages;
  }

  /** Stops everything: lanes, snapshot transfers, incoming connections, listeners. No callback runs afterwards. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const p of this.peers.values()) {
      p.msg.close();
      p.app.close();
      p.snapshot?.abort();
    }
    for (const s of this.incomingSessions) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.servers.length = 0;
  }

  private sendSnapshot(peer: Peer, m: Message): void {
    const id = peer.id;
    const url = peer.msg.connectedUrl;
    if (peer.snapshot !== undefined || url === undefined) {
      this.log.warn({ peer: formatId(id), inFlight: peer.snapshot !== undefined, lane: peer.msg.state }, 'dropped a snapshot: one is in flight or the peer is not connected');
      this.later(() => this.opts.onSnapshotStatus(id, false));
      return;
    }
    const transfer = sendSnapshot({
      url,
      headers: streamHeaders({ clusterId: this.opts.clusterId, from: this.opts.memberId, to: id }),
      message: m,
      limits: this.limits,
      log: this.log,
      logFields: { peer: formatId(id) },
    });
    peer.snapshot = transfer;
    void transfer.result.then((ok) => {
      if (peer.snapshot === transfer) peer.snapshot = undefined;
      if (this.state !== 'closed' && this.peers.get(id) === peer) this.opts.onSnapshotStatus(id, ok);
    });
  }

  /** Reports `id` unreachable once per turn however many of its messages were dropped (`dropped`). */
  private reportUnreachable(id: bigint, dropped = 0): void {
    this.unreachablePending.set(id, (this.unreachablePending.get(id) ?? 0) + dropped);
    if (this.unreachableFlushScheduled) return;
    this.unreachableFlushScheduled = true;
    setImmediate(() => {
      this.unreachableFlushScheduled = false;
      const pending = [...this.unreachablePending];
      this.unreachablePending.clear();
      if (this.state === 'closed') return;
      for (const [pid, n] of pending) {
        if (n > 0) this.log.debug({ peer: formatId(pid), dropped: n }, 'dropped messages to an unreachable or slow peer');
        this.opts.onUnreachable(pid);
      }
    });
  }

  /** Runs `fn` in a later turn unless the transport has closed by then. */
  private later(fn: () => void): void {
    setImmediate(() => {
      if (this.state !== 'closed') fn();
    });
  }

  private listen(u: URL): Promise<URL> {
    const server = http2.createServer({ maxSessionMemory: 64, settings: { initialWindowSize: 4 * 1024 * 1024 } });
    this.servers.push(server);
    server.on('session', (session) => {
      this.incomingSessions.add(session);
      session.on('close', () => this.incomingSessions.delete(session));
      session.on('error', (err) => this.log.debug({ err: err.message }, 'incoming peer connection error'));
      session.on('connect', () => session.setLocalWindowSize(16 * 1024 * 1024));
    });
    server.on('stream', (stream, headers) => this.receiver.handleStream(stream, headers));
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = u.port === '' ? 80 : Number(u.port);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error({ err: err.message, url: u.href }, 'peer listener error'));
        const addr = server.address() as AddressInfo;
        const bound = new URL(u.href);
        bound.port = String(addr.port);
        this.log.info({ url: bound.href }, 'listening for peers');
        resolve(bound);
      });
    });
  }
}
