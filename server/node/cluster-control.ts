/**
 * Runtime membership changes as etcd 3.4's server makes them (MemberAdd, MemberRemove,
 * MemberUpdate, MemberPromote, MoveLeader): each is checked here against the member list and, with
 * --strict-reconfig-check, against the cluster's health (etcd's mayAddMember, mayRemoveMember,
 * mayPromoteMember), then proposed as one ConfChange entry and answered once applied.
 */
import { ConfChangeType, type ConfChange } from '../raft/types';
import { EtcdError } from '../errors';
import { computeMemberId } from './ids';
import { encodeConfChangeContext, type ConfChangeResult, type Membership } from './membership';
import type { Member, MemberInfo } from './member';

/** etcd's HealthInterval: a peer counts as connected when its links have been up this long. */
const HEALTH_INTERVAL_MS = 5000;
/** A learner is ready to be promoted once its log is within this share of the leader's. */
const LEARNER_READY_PERCENT = 0.9;

export interface ClusterControlOptions {
  readonly member: Member;
  readonly membership: Membership;
  /** Since when both links to a peer have been up (the peer transport). */
  readonly activeSince: (id: bigint) => number | undefined;
  readonly strictReconfigCheck: boolean;
  readonly clock?: () => number;
  /**
   * Asks the leader to promote `id` (on a follower: only the leader knows how far a learner's log
   * is, so etcd's followers forward MemberPromote to it). Resolves with the member list after it.
   */
  readonly forwardPromote?: (leader: MemberInfo, id: bigint) => Promise<MemberInfo[]>;
}

/** A peer URL as etcd accepts it in a member request: http(s)://host:port, nothing more. */
function checkPeerUrls(urls: readonly string[]): void {
  if (urls.length === 0) throw new EtcdError('MemberBadURLs');
  for (const u of urls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new EtcdError('MemberBadURLs');
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.port === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
      throw new EtcdError('MemberBadURLs');
    }
  }
}

export class ClusterControl {
  private readonly clock: () => number;

  constructor(private readonly opts: ClusterControlOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  private get voters(): MemberInfo[] {
    return this.opts.membership.list().filter((m) => !m.isLearner);
  }

  /** Members that have published their name: they have run. */
  private static started(m: MemberInfo): boolean {
    return m.name !== '';
  }

  /** Peers (not this member) whose links have been up for the health interval. */
  private connectedSince(members: readonly MemberInfo[]): number {
    const since = this.clock() - HEALTH_INTERVAL_MS;
    let n = 0;
    for (const m of members) {
      if (m.id === this.opts.member.memberId) n++;
      else {
        const t = this.opts.activeSince(m.id);
        if (t !== undefined && t <= since) n++;
      }
    }
    return n;
  }

  private connectedFully(members: readonly MemberInfo[]): boolean {
    return this.connectedSince(members) === members.length;
  }

  async add(peerUrls: readonly string[], isLearner: boolean): Promise<ConfChangeResult> {
    checkPeerUrls(peerUrls);
    const id = computeMemberId(peerUrls, '', this.clock());
    const member: MemberInfo = { id, name: '', peerUrls: [...peerUrls], clientUrls: [], isLearner };
    if (this.opts.strictReconfigCheck) {
      if (!isLearner) {
        // etcd's IsReadyToAddVotingMember: after the addition, the started voters still form a quorum.
        const voters = this.voters;
        const started = voters.filter(ClusterControl.started).length;
        const total = voters.length + 1;
        if (!(started === 1 && total === 2) && started < Math.floor(total / 2) + 1) throw new EtcdError('MemberNotEnoughStarted');
      }
      if (!this.connectedFully(this.voters)) throw new EtcdError('Unhealthy');
    }
    return this.propose({ type: isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode, nodeId: id, context: new Uint8Array(0) }, member);
  }

  async remove(id: bigint): Promise<ConfChangeResult> {
    const existing = this.opts.membership.get(id);
    if (existing === undefined) throw new EtcdError('MemberNotFound');
    if (this.opts.strictReconfigCheck && !existing.isLearner) {
      const rest = this.voters.filter((m) => m.id !== id);
      if (rest.filter(ClusterControl.started).length < Math.floor(rest.length / 2) + 1) throw new EtcdError('MemberNotEnoughStarted');
      // A member that is down is safe to remove: it is not part of the active quorum.
      const down = id !== this.opts.member.memberId && this.opts.activeSince(id) === undefined;
      if (!down) {
        const voters = this.voters;
        if (this.connectedSince(voters) - 1 < 1 + Math.floor((voters.length - 1) / 2)) throw new EtcdError('Unhealthy');
      }
    }
    return this.propose({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) }, undefined);
  }

  async update(id: bigint, peerUrls: readonly string[]): Promise<ConfChangeResult> {
    checkPeerUrls(peerUrls);
    const existing = this.opts.membership.get(id);
    if (existing === undefined) throw new EtcdError('MemberNotFound');
    return this.propose({ type: ConfChangeType.UpdateNode, nodeId: id, context: new Uint8Array(0) }, { ...existing, peerUrls: [...peerUrls] });
  }

  async promote(id: bigint): Promise<ConfChangeResult> {
    const existing = this.opts.membership.get(id);
    if (existing === undefined) throw new EtcdError('MemberNotFound');
    if (!existing.isLearner) throw new EtcdError('MemberNotLearner');
    // Only the leader knows how far the learner's log is: a follower forwards the request to it.
    const progress = this.opts.member.replicationProgress();
    if (progress === undefined) {
      const leader = this.opts.membership.get(this.opts.member.leader);
      if (leader === undefined || this.opts.forwardPromote === undefined) throw new EtcdError(this.opts.member.leader === 0n ? 'NoLeader' : 'NotLeader');
      const members = await this.opts.forwardPromote(leader, id);
      return { member: members.find((m) => m.id === id), members };
    }
    const leaderMatch = progress.get(this.opts.member.memberId)?.match ?? 0;
    const learnerMatch = progress.get(id)?.match ?? 0;
    if (learnerMatch < leaderMatch * LEARNER_READY_PERCENT) throw new EtcdError('LearnerNotReady');
    if (this.opts.strictReconfigCheck) {
      // etcd's IsReadyToPromoteMember: the learner counts as a started voter of the future quorum.
      const voters = this.voters;
      const total = voters.length + 1;
      if (voters.filter(ClusterControl.started).length + 1 < Math.floor(total / 2) + 1) throw new EtcdError('MemberNotEnoughStarted');
      if (!this.connectedFully(voters)) throw new EtcdError('Unhealthy');
    }
    return this.propose({ type: ConfChangeType.AddNode, nodeId: id, context: new Uint8Array(0) }, { ...existing, isLearner: false });
  }

  /** etcd's MoveLeader: on the leader, to a voting member; resolves once it leads. */
  async moveLeader(target: bigint, timeoutMs: number): Promise<void> {
    if (!this.opts.member.isLeader) throw new EtcdError('NotLeader');
    const m = this.opts.membership.get(target);
    if (m === undefined || m.isLearner) throw new EtcdError('BadLeaderTransferee');
    if (target === this.opts.member.memberId) return;
    await this.opts.member.transferLeadership(target, timeoutMs);
  }

  private async propose(cc: ConfChange, member: MemberInfo | undefined): Promise<ConfChangeResult> {
    // Checked here first for a prompt answer; every member checks again when it applies.
    this.opts.membership.validate(cc, member);
    const requestId = this.opts.member.newRequestId();
    const result = await this.opts.member.proposeConfChange(requestId, { ...cc, context: encodeConfChangeContext(requestId, member) });
    return result as ConfChangeResult;
  }
}
