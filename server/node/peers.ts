/**
 * Connects the member to the other members of its cluster: a PeerTransport on
 * `--listen-peer-urls` that carries each Ready's Raft messages out and steps the messages that
 * arrive into the member's Raft node. A single-member cluster has no peers and no transport.
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
  close(): Promise<void>;
}

/** Starts the peer transport when the cluster has other members; undefined otherwise. */
export async function startPeers(opts: {
  config: MemberConfig;
  memberId: MemberId;
  clusterId: MemberId;
  members: readonly MemberInfo[];
  log: Logger;
}): Promise<Peers | undefined> {
  const others = opts.members.filter((m) => m.id !== opts.memberId);
  if (others.length === 0) return undefined;
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
    log: opts.log,
  });
  await transport.start();
  opts.log.info({ listenPeerUrls: transport.boundUrls().map((u) => u.href), peers: others.map((m) => `${m.name}=${m.peerUrls.join(',')}`) }, 'serving peer traffic');
  return {
    send: (messages) => transport.send(messages),
    attach: (s) => {
      sink = s;
    },
    close: () => transport.close(),
  };
}
