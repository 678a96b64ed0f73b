/**
 * Connects the member to the other members of its cluster: a PeerTransport on
 * `--listen-peer-urls` that carries each Ready's Raft messages out and steps the messages that
 * arrive into the member's Raft node.
 */
import type { Logger } from '../log';
import type { MemberConfig } from '../cli/config';
import { PeerTransport } from '../transport/transport';
import type { Message, MemberId } from '../raft/types';
import type { MemberInfo } from './member';

/** What the transport delivers to: the member, once it exists. */
export interface PeerSink {
  step(m: Message): void;
  reportUnreachable(id: MemberId): void;
  reportSnapshot(id: MemberId, ok: boolean): void;
}

export interface Peers {
  /** Sends Raft messages (the member's `transport` option). */
  send(messages: readonly Message[]): void;
  /** Starts delivering to `sink` (messages that arrive earlier are dropped; Raft resends). */
  attach(sink: PeerSink): void;
  /** Follows the member list: a member added, updated or removed by a membership change. */
  addPeer(id: MemberId, urls: readonly string[]): void;
  updatePeer(id: MemberId, urls: readonly string[]): void;
  removePeer(id: MemberId): void;
  /** Since when (Date.now() ms) both links to `id` have been up; undefined when they are not. */
  activeSince(id: MemberId): number | undefined;
  close(): Promise<void>;
}

/**
 * Starts the peer transport on --listen-peer-urls (every member listens, as etcd's do, so that a
 * member can be added to a cluster of one), with the other members as peers.
 */
export async function startPeers(opts: {
  config: MemberConfig;
  memberId: MemberId;
  clusterId: MemberId;
  /** Members to connect to now (this member among them or not). */
  members: readonly MemberInfo[];
  /** What `GET /members` answers: the member list, for members that join. */
  describeMembers: () => unknown;
  /** Members removed from the cluster (refused with 410, so that they stop). */
  isRemoved: (id: MemberId) => boolean;
  /** Promotes a learner for a follower that forwarded MemberPromote. */
  promote: (id: MemberId) => Promise<unknown>;
  /** Another member says this one was removed from the cluster. */
  onRemoved: () => void;
  log: Logger;
}): Promise<Peers> {
  const others = opts.members.filter((m) => m.id !== opts.memberId && m.peerUrls.length > 0);
  for (const u of opts.config.listenPeerUrls) {
    if (u.protocol !== 'http:') throw new Error(`--listen-peer-urls ${u.href}: only http:// URLs are supported by this version of Cairn (peer TLS is not built yet)`);
  }
  let sink: PeerSink | undefined;
  const transport = new PeerTransport({
    memberId: opts.memberId,
    clusterId: opts.clusterId,
    listenPeerUrls: opts.config.listenPeerUrls,
    peers: new Map(others.map((m) => [m.id, m.peerUrls])),
    onMessage: (m) => sink?.step(m),
    onUnreachable: (id) => sink?.reportUnreachable(id),
    onSnapshotStatus: (id, ok) => sink?.reportSnapshot(id, ok),
    members: opts.describeMembers,
    isRemovedPeer: opts.isRemoved,
    promote: opts.promote,
    onRemoved: opts.onRemoved,
    log: opts.log,
  });
  await transport.start();
  opts.log.info({ listenPeerUrls: transport.boundUrls().map((u) => u.href), peers: others.map((m) => `${m.name}=${m.peerUrls.join(',')}`) }, 'serving peer traffic');
  return {
    send: (messages) => transport.send(messages),
    attach: (s) => {
      sink = s;
    },
    addPeer: (id, urls) => {
      if (id !== opts.memberId && urls.length > 0) transport.addPeer(id, urls);
    },
    updatePeer: (id, urls) => {
      if (id !== opts.memberId && urls.length > 0) transport.updatePeer(id, urls);
    },
    removePeer: (id) => transport.removePeer(id),
    activeSince: (id) => transport.activeSince(id),
    close: () => transport.close(),
  };
}
