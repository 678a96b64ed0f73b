/**
 * Raft: the consensus state machine (Raft §5, §6, §8 and the thesis' pre-vote, check-quorum,
 * leader transfer and ReadIndex). Pure: it reacts to `tick()` and `step(message)` by changing its
 * state and queueing messages in `msgs`; RawNode hands those out in Ready batches.
 *
 * Persistence rule: the leader counts itself toward a commit quorum only for entries the host has
 * persisted (acknowledged at `advance`), so an entry is committed only once a majority holds it on
 * stable storage — also on a single member.
 */
import { assert } from './assert';
import { CompactedError, SnapshotTemporarilyUnavailableError } from './errors';
import { RaftLog } from './log';
import { Random, randomInt } from './random';
import { ReadOnly, ReadRequest } from './readonly';
import { ProgressState } from './tracker/progress';
import { VoteResult } from './tracker/quorum';
import { ProgressTracker, sortIds } from './tracker/tracker';
import { decodeConfChange, encodeConfChange } from './confchange';
import {
  ConfChange,
  ConfChangeType,
  ConfState,
  Entry,
  EntryType,
  HardState,
  MemberId,
  Message,
  MessageType,
  NONE,
  ReadState,
  Ready,
  SoftState,
  Snapshot,
  StateType,
  Storage,
} from './types';
import { bytesEqual, EMPTY_BYTES, entrySizeBytes, isEmptySnapshot, payloadSizeBytes } from './util';

/** Configuration of one member's Raft core. Ticks are the unit of time; the host decides their length. */
export interface RaftConfig {
  /** This member's ID (not 0). */
  readonly id: MemberId;
  /** The stable log; its initial state gives hard state and membership on (re)start. */
  readonly storage: Storage;
  /** A follower that hears no leader for a random [electionTicks, 2·electionTicks) ticks campaigns. */
  readonly electionTicks: number;
  /** A leader sends heartbeats every heartbeatTicks ticks (< electionTicks). */
  readonly heartbeatTicks: number;
  /** Seeded randomness for election timeouts. */
  readonly random: Random;
  /** Thesis §9.6: campaign only after a pre-vote round shows an election could be won. Default false. */
  readonly preVote?: boolean;
  /** Thesis §6.2: a leader that has not heard from a quorum for an election timeout steps down, and
   * followers ignore vote requests while they hear from a leader. Default false. */
  readonly checkQuorum?: boolean;
  /** Upper bound of the entry bytes in one append message (at least one entry is sent). Default 1 MiB. */
  readonly maxSizePerMsgBytes?: number;
  /** Upper bound of append messages in flight to one follower in replicate state. Default 256. */
  readonly maxInflightMsgs?: number;
  /** Upper bound of entry bytes in flight to one follower. Default Infinity (only the count limits). */
  readonly maxInflightBytes?: number;
  /** The leader drops proposals once its uncommitted tail holds this many payload bytes. Default 1 GiB. */
  readonly maxUncommittedEntriesBytes?: number;
  /** Upper bound of committed entry bytes in one Ready (at least one entry). Default 64 MiB. */
  readonly maxCommittedSizePerReadyBytes?: number;
  /** The last index the host has applied (on restart); committed entries after it are redelivered. */
  readonly applied?: number;
}

type CampaignType = 'pre-election' | 'election' | 'transfer';

/** Context of a vote request sent because of a leader transfer: overrides the leader lease. */
const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');

/** Upper bound of ReadIndex requests waiting at a leader; past it they are dropped. */
export const READ_INDEX_REQUESTS_MAX = 65536;

/** The fields of a message to send; the rest get defaults (`from` is this member). */
type MessageInit = Partial<Message> & { readonly type: MessageType; readonly to: MemberId };

function isVoteMessage(t: MessageType): boolean {
  return t === MessageType.MsgVote || t === MessageType.MsgPreVote || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVoteResp;
}

export class Raft {
  readonly id: MemberId;
  term = 0;
  vote: MemberId = NONE;
  lead: MemberId = NONE;
  state = StateType.Follower;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  /** Messages to hand to the host in the next Ready. */
  msgs: Message[] = [];
  /** ReadIndex answers for this member's own requests, for the next Ready. */
  readStates: ReadState[] = [];

  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private readonly random: Random;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxSizePerMsgBytes: number;
  private readonly maxUncommittedEntriesBytes: number;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** The member a leadership transfer goes to (NONE: no transfer). */
  leadTransferee: MemberId = NONE;
  /** Index of the last conf change the leader appended; one at a time until it is applied (§6). */
  private pendingConfIndex = 0;
  private uncommittedSizeBytes = 0;
  private readOnly = new ReadOnly(1);
  /** ReadIndex requests that arrived before the leader committed an entry of its term. */
  private pendingReadIndexMessages: Message[] = [];
  private pendingReadRequests = 0;
  /** Conf changes up to this index are reflected in the tracker (bootstrap and restart replay). */
  private confChangesKnownThrough = 0;

  constructor(config: RaftConfig) {
    assert(config.id !== NONE, 'cannot use none as id');
    assert(config.heartbeatTicks > 0, 'heartbeatTicks must be greater than 0');
    assert(config.electionTicks > config.heartbeatTicks, 'electionTicks must be greater than heartbeatTicks');
    this.id = config.id;
    this.electionTimeout = config.electionTicks;
    this.heartbeatTimeout = config.heartbeatTicks;
    this.random = config.random;
    this.preVote = config.preVote ?? false;
    this.checkQuorum = config.checkQuorum ?? false;
    this.maxSizePerMsgBytes = config.maxSizePerMsgBytes ?? 1024 * 1024;
    this.maxUncommittedEntriesBytes = config.maxUncommittedEntriesBytes ?? 1024 * 1024 * 1024;
    const maxInflightMsgs = config.maxInflightMsgs ?? 256;
    assert(maxInflightMsgs > 0, 'maxInflightMsgs must be greater than 0');
    this.tracker = new ProgressTracker(maxInflightMsgs, config.maxInflightBytes ?? Infinity);
    this.log = new RaftLog(config.storage, config.maxCommittedSizePerReadyBytes ?? 64 * 1024 * 1024);

    const { hardState, confState } = config.storage.initialState();
    this.loadConfState(confState);
    const emptyHardState = hardState.term === 0 && hardState.vote === NONE && hardState.commit === 0;
    if (!emptyHardState) this.loadHardState(hardState);
    const emptyLog = config.storage.lastIndex() === 0 && config.storage.firstIndex() === 1;
    if (emptyHardState && emptyLog && confState.voters.length + confState.learners.length > 0) {
      this.bootstrap(confState);
    } else {
      if (config.applied !== undefined && config.applied > 0) this.log.appliedTo(config.applied);
      this.replayConfChanges(this.log.firstIndex(), this.log.applied);
    }
    this.becomeFollower(this.term, NONE);
  }

  /**
   * A new cluster: the initial membership becomes committed ConfChange entries 1..n of term 1 (as
   * etcd does), so a member that joins later learns it by replaying the log from the start. The
   * host receives them in the first Ready like any committed entries (applying them again is a
   * no-op).
   */
  private bootstrap(cs: ConfState): void {
    const changes: ConfChange[] = [
      ...sortIds([...cs.voters]).map((nodeId) => ({ type: ConfChangeType.AddNode, nodeId, context: EMPTY_BYTES })),
      ...sortIds([...cs.learners]).map((nodeId) => ({ type: ConfChangeType.AddLearnerNode, nodeId, context: EMPTY_BYTES })),
    ];
    const ents: Entry[] = changes.map((cc, i) => ({ term: 1, index: i + 1, type: EntryType.ConfChange, data: encodeConfChange(cc) }));
    this.log.append(ents);
    this.log.committed = ents.length;
    this.term = 1;
    this.confChangesKnownThrough = ents.length;
  }

  /**
   * On restart the storage's conf state is the snapshot's; conf changes applied after it (up to
   * `applied`) are not redelivered, so apply them here.
   */
  private replayConfChanges(lo: number, hi: number): void {
    if (hi < lo) return;
    for (const e of this.log.slice(lo, hi + 1)) {
      if (e.type === EntryType.ConfChange) this.applyConfChange(decodeConfChange(e.data));
    }
    this.confChangesKnownThrough = hi;
  }

  // ---------------------------------------------------------------- state

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, state: this.state };
  }

  private loadHardState(hs: HardState): void {
    assert(
      hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(),
      `hard state commit ${hs.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
    );
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** May this member campaign? Only a voter without an unpersisted incoming snapshot. */
  promotable(): boolean {
    return this.tracker.isVoter(this.id) && !this.log.hasPendingSnapshot();
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + randomInt(this.random, this.electionTimeout);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.tracker.resetVotes();
    const next = this.log.lastIndex() + 1;
    for (const [id, pr] of this.tracker.progress) {
      const match = id === this.id ? this.log.persistedLastIndex() : 0;
      this.tracker.progress.set(id, this.tracker.newProgress(match, next, pr.isLearner));
    }
    this.pendingConfIndex = 0;
    this.uncommittedSizeBytes = 0;
    this.readOnly = new ReadOnly(this.readOnly.peekNextRoundId());
    this.pendingReadIndexMessages = [];
    this.pendingReadRequests = 0;
  }

  becomeFollower(term: number, lead: MemberId): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
  }

  private becomeCandidate(): void {
    assert(this.state !== StateType.Leader, 'invalid transition [leader -> candidate]');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.Candidate;
  }

  private becomePreCandidate(): void {
    assert(this.state !== StateType.Leader, 'invalid transition [leader -> pre-candidate]');
    // Pre-vote (thesis §9.6) changes neither term nor vote.
    this.tracker.resetVotes();
    this.lead = NONE;
    this.state = StateType.PreCandidate;
  }

  private becomeLeader(): void {
    assert(this.state !== StateType.Follower, 'invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    const pr = this.tracker.progress.get(this.id);
    assert(pr !== undefined, 'leader without own progress');
    pr.becomeReplicate();
    pr.recentActive = true;
    // Conservatively treat every entry of the log as a possible unapplied conf change.
    this.pendingConfIndex = this.log.lastIndex();
    // Raft §5.4.2 / §8: an empty entry of the new term commits the entries of earlier terms.
    const ok = this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }]);
    assert(ok, 'empty entry was dropped');
  }

  // ---------------------------------------------------------------- time

  tick(): void {
    if (this.state === StateType.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(localMessage(MessageType.MsgHup, this.id));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(localMessage(MessageType.MsgCheckQuorum, this.id));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.Leader && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.state !== StateType.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(localMessage(MessageType.MsgBeat, this.id));
    }
  }

  // ---------------------------------------------------------------- sending

  private send(init: MessageInit): void {
    let term = init.term ?? 0;
    if (isVoteMessage(init.type)) {
      assert(term !== 0, `term should be set when sending ${MessageType[init.type]}`);
    } else {
      assert(term === 0, `term should not be set when sending ${MessageType[init.type]} (was ${term})`);
      // Proposals and read requests forwarded to the leader are local messages there (term 0).
      if (init.type !== MessageType.MsgProp && init.type !== MessageType.MsgReadIndex) term = this.term;
    }
    assert(init.to !== this.id, `message ${MessageType[init.type]} addressed to self`);
    this.msgs.push({
      type: init.type,
      to: init.to,
      from: init.from !== undefined && init.from !== NONE ? init.from : this.id,
      term,
      logTerm: init.logTerm ?? 0,
      index: init.index ?? 0,
      entries: init.entries ?? [],
      commit: init.commit ?? 0,
      reject: init.reject ?? false,
      rejectHint: init.rejectHint ?? 0,
      ...(init.snapshot !== undefined ? { snapshot: init.snapshot } : {}),
      ...(init.context !== undefined ? { context: init.context } : {}),
    });
  }

  /**
   * Sends the entries `to` lacks (or a snapshot when they were compacted). With `sendIfEmpty`
   * false, sends only when there are entries. Returns whether a message was sent.
   */
  private sendAppend(to: MemberId, sendIfEmpty = true): boolean {
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    if (prevIndex < this.log.firstIndex() - 1) return this.sendSnapshot(to);
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = this.log.term(prevIndex);
      ents = this.log.entries(pr.next, this.maxSizePerMsgBytes);
    } catch (err) {
      if (err instanceof CompactedError) return this.sendSnapshot(to);
      throw err;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of ents) bytes += entrySizeBytes(e);
    this.send({ type: MessageType.MsgApp, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed });
    pr.sentEntries(ents.length > 0 ? ents[ents.length - 1].index : undefined, bytes);
    return true;
  }

  private sendSnapshot(to: MemberId): boolean {
    const pr = this.tracker.progress.get(to);
    assert(pr !== undefined, 'sendSnapshot to unknown member');
    // Only to a member we heard from recently: a snapshot is expensive.
    if (!pr.recentActive) return false;
    let snap: Snapshot;
    try {
      snap = this.log.snapshot();
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) return false;
      throw err;
    }
    assert(!isEmptySnapshot(snap), 'need non-empty snapshot');
    this.send({ type: MessageType.MsgSnap, to, snapshot: snap });
    pr.becomeSnapshot(snap.metadata.index);
    return true;
  }

  private sendHeartbeat(to: MemberId, ctx: Uint8Array | undefined): void {
    const pr = this.tracker.progress.get(to);
    assert(pr !== undefined, 'sendHeartbeat to unknown member');
    // Never tell a follower a commit index beyond what it is known to hold.
    const commit = Math.min(pr.match, this.log.committed);
    this.send({ type: MessageType.MsgHeartbeat, to, commit, ...(ctx !== undefined ? { context: ctx } : {}) });
  }

  private bcastAppend(): void {
    for (const id of this.tracker.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(ctx?: Uint8Array): void {
    for (const id of this.tracker.progress.keys()) if (id !== this.id) this.sendHeartbeat(id, ctx);
  }

  private sendTimeoutNow(to: MemberId): void {
    this.send({ type: MessageType.MsgTimeoutNow, to });
  }

  // ---------------------------------------------------------------- log

  private appendEntries(ents: readonly Entry[]): boolean {
    const last = this.log.lastIndex();
    const stamped: Entry[] = ents.map((e, i) => ({ term: this.term, index: last + 1 + i, type: e.type, data: e.data }));
    if (!this.increaseUncommittedSize(stamped)) return false;
    this.log.append(stamped);
    return true;
  }

  private increaseUncommittedSize(ents: readonly Entry[]): boolean {
    let s = 0;
    for (const e of ents) s += payloadSizeBytes(e);
    // Always admit one proposal when nothing is uncommitted, however large, so progress is possible.
    if (this.uncommittedSizeBytes > 0 && s > 0 && this.uncommittedSizeBytes + s > this.maxUncommittedEntriesBytes) return false;
    this.uncommittedSizeBytes += s;
    return true;
  }

  private reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.uncommittedSizeBytes === 0) return;
    let s = 0;
    for (const e of ents) s += payloadSizeBytes(e);
    this.uncommittedSizeBytes = Math.max(0, this.uncommittedSizeBytes - s);
  }

  /** Advances commit to what a quorum of voters holds, if it is an entry of this term (§5.4.2). */
  private maybeCommit(): boolean {
    return this.log.maybeCommit(this.tracker.committed(), this.term);
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  /** The leader counts itself as holding what the host persisted. */
  private selfAck(): void {
    const pr = this.tracker.progress.get(this.id);
    if (pr === undefined) return;
    if (pr.maybeUpdate(this.log.persistedLastIndex()) && this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    }
  }

  /** The host persisted and applied what `rd` carried. */
  advance(rd: Ready): void {
    if (rd.snapshot !== undefined && !isEmptySnapshot(rd.snapshot)) {
      this.log.stableSnapTo(rd.snapshot.metadata.index);
      if (rd.snapshot.metadata.index > this.log.applied && rd.snapshot.metadata.index <= this.log.committed) {
        this.log.appliedTo(rd.snapshot.metadata.index);
      }
    }
    if (rd.committedEntries.length > 0) {
      this.reduceUncommittedSize(rd.committedEntries);
      this.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index);
    }
    if (rd.entries.length > 0) {
      const e = rd.entries[rd.entries.length - 1];
      this.log.stableTo(e.index, e.term);
    }
    if (this.state === StateType.Leader) this.selfAck();
  }

  // ---------------------------------------------------------------- step

  /**
   * Processes one message (local or from a peer). Returns false when a proposal or read request
   * was dropped (no leader, transfer in progress, limits); true otherwise.
   */
  step(m: Message): boolean {
    if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        // Thesis §4.2.3: a member that heard from a leader within the minimum election timeout
        // ignores vote requests, so a partitioned member rejoining cannot disrupt the cluster.
        if (!force && inLease) return true;
      }
      if (m.type === MessageType.MsgPreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // Pre-votes are answered in the term we would campaign in; counted in stepCandidate.
      } else if (m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term !== 0 && m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)) {
        // A leader cut off by a partition would otherwise never learn our newer term: with
        // check-quorum or pre-vote, our term does not rise by itself, so tell it.
        this.send({ type: MessageType.MsgAppResp, to: m.from });
      } else if (m.type === MessageType.MsgPreVote) {
        this.send({ type: MessageType.MsgPreVoteResp, to: m.from, term: this.term, reject: true });
      }
      return true;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? 'pre-election' : 'election');
        return true;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        this.handleVoteRequest(m);
        return true;
      default:
        switch (this.state) {
          case StateType.Leader:
            return this.stepLeader(m);
          case StateType.Candidate:
          case StateType.PreCandidate:
            return this.stepCandidate(m);
          case StateType.Follower:
            return this.stepFollower(m);
        }
    }
  }

  /** Raft §5.2, §5.4.1: grant a vote to a candidate whose log is at least as up to date as ours. */
  private handleVoteRequest(m: Message): void {
    const respType = m.type === MessageType.MsgVote ? MessageType.MsgVoteResp : MessageType.MsgPreVoteResp;
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.MsgPreVote && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      this.send({ type: respType, to: m.from, term: m.term });
      if (m.type === MessageType.MsgVote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, term: this.term, reject: true });
    }
  }

  private hup(t: CampaignType): void {
    if (this.state === StateType.Leader) return;
    if (!this.promotable()) return;
    // A member must not campaign while committed conf changes wait to be applied: its view of
    // the membership would be stale.
    if (this.hasUnappliedConfChange()) return;
    this.campaign(t);
  }

  private hasUnappliedConfChange(): boolean {
    const lo = Math.max(this.log.applied, this.confChangesKnownThrough) + 1;
    if (lo > this.log.committed) return false;
    let ents: Entry[];
    try {
      ents = this.log.slice(lo, this.log.committed + 1);
    } catch (err) {
      if (err instanceof CompactedError) return false;
      throw err;
    }
    return ents.some((e) => e.type === EntryType.ConfChange);
  }

  private campaign(t: CampaignType): void {
    let voteMsg: MessageType;
    let term: number;
    if (t === 'pre-election') {
      this.becomePreCandidate();
      voteMsg = MessageType.MsgPreVote;
      // Pre-vote requests carry the term we would campaign in, without moving to it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MsgVote;
      term = this.term;
    }
    if (this.poll(this.id, true) === VoteResult.Won) {
      // A single voter wins at once.
      if (t === 'pre-election') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.tracker.voters()) {
      if (id === this.id) continue;
      this.send({
        type: voteMsg,
        to: id,
        term,
        index: lastIndex,
        logTerm: lastTerm,
        ...(t === 'transfer' ? { context: CAMPAIGN_TRANSFER } : {}),
      });
    }
  }

  private poll(id: MemberId, granted: boolean): VoteResult {
    return this.tracker.recordVote(id, granted).result;
  }

  private stepCandidate(m: Message): boolean {
    const myVoteResp = this.state === StateType.PreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp;
    switch (m.type) {
      case MessageType.MsgProp:
      case MessageType.MsgReadIndex:
        return false;
      case MessageType.MsgApp:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return true;
      case MessageType.MsgHeartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return true;
      case MessageType.MsgSnap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return true;
      case myVoteResp: {
        const result = this.poll(m.from, !m.reject);
        if (result === VoteResult.Won) {
          if (this.state === StateType.PreCandidate) {
            this.campaign('election');
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === VoteResult.Lost) {
          this.becomeFollower(this.term, NONE);
        }
        return true;
      }
      default:
        return true;
    }
  }

  private stepFollower(m: Message): boolean {
    switch (m.type) {
      case MessageType.MsgProp:
      case MessageType.MsgReadIndex:
      case MessageType.MsgTransferLeader:
        if (this.lead === NONE) return false;
        this.send({ ...m, to: this.lead, term: m.type === MessageType.MsgTransferLeader ? undefined : 0 });
        return true;
      case MessageType.MsgApp:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return true;
      case MessageType.MsgHeartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return true;
      case MessageType.MsgSnap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return true;
      case MessageType.MsgTimeoutNow:
        // Leader transfer (thesis §3.10): campaign at once, overriding leases.
        this.hup('transfer');
        return true;
      case MessageType.MsgReadIndexResp:
        this.readStates.push({ index: m.index, requestCtx: m.context ?? EMPTY_BYTES });
        return true;
      default:
        return true;
    }
  }

  /** Raft §5.3: the AppendEntries consistency check, with a hint to skip a conflicting term. */
  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: lastNew });
      return;
    }
    const hintIndex = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      type: MessageType.MsgAppResp,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hintIndex,
      logTerm: this.log.termOrZero(hintIndex),
    });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: MessageType.MsgHeartbeatResp, to: m.from, ...(m.context !== undefined ? { context: m.context } : {}) });
  }

  private handleSnapshot(m: Message): void {
    assert(m.snapshot !== undefined, 'MsgSnap without snapshot');
    const index = this.restore(m.snapshot) ? this.log.lastIndex() : this.log.committed;
    this.send({ type: MessageType.MsgAppResp, to: m.from, index });
  }

  /** Installs a snapshot from the leader (Raft §7). Returns false when it is not needed. */
  private restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.log.committed) return false;
    if (this.state !== StateType.Follower) {
      // Cannot happen: a snapshot comes from the leader of our term. Be safe: move on.
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    // A member added after the snapshot was taken is not in its conf state: it learns of its own
    // addition from the entries that follow the snapshot.
    const cs = s.metadata.confState;
    if (this.log.matchTerm(s.metadata.index, s.metadata.term)) {
      // We have the entries already: just move commit forward.
      this.log.commitTo(s.metadata.index);
      return false;
    }
    this.log.restore(s);
    this.tracker.progress.clear();
    this.loadConfState(cs);
    return true;
  }

  private stepLeader(m: Message): boolean {
    switch (m.type) {
      case MessageType.MsgBeat:
        this.bcastHeartbeat();
        return true;
      case MessageType.MsgCheckQuorum:
        if (!this.tracker.quorumActive()) this.becomeFollower(this.term, NONE);
        for (const [id, pr] of this.tracker.progress) if (id !== this.id) pr.recentActive = false;
        return true;
      case MessageType.MsgProp:
        return this.handlePropose(m);
      case MessageType.MsgReadIndex:
        return this.handleReadIndex(m);
      default:
        break;
    }
    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined) return true;
    switch (m.type) {
      case MessageType.MsgAppResp:
        this.handleAppendResponse(m);
        return true;
      case MessageType.MsgHeartbeatResp:
        this.handleHeartbeatResponse(m);
        return true;
      case MessageType.MsgSnapStatus:
        if (pr.state !== ProgressState.Snapshot) return true;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for an append response or heartbeat response before probing again.
        pr.probeSent = true;
        return true;
      case MessageType.MsgUnreachable:
        // Optimistic appends to an unreachable member were probably lost.
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return true;
      case MessageType.MsgTransferLeader:
        this.handleTransferLeader(m);
        return true;
      default:
        return true;
    }
  }

  private handlePropose(m: Message): boolean {
    assert(m.entries.length > 0, 'stepped empty MsgProp');
    // Removed from the membership, or handing leadership over: refuse.
    if (!this.tracker.progress.has(this.id) || this.leadTransferee !== NONE) return false;
    let confChanges = 0;
    for (const e of m.entries) if (e.type === EntryType.ConfChange) confChanges++;
    if (confChanges > 0) {
      // §6 (one change at a time): a new change waits until the previous one is applied.
      if (confChanges > 1 || this.pendingConfIndex > this.log.applied) return false;
    }
    const before = this.log.lastIndex();
    if (!this.appendEntries(m.entries)) return false;
    if (confChanges > 0) {
      const i = m.entries.findIndex((e) => e.type === EntryType.ConfChange);
      this.pendingConfIndex = before + 1 + i;
    }
    this.bcastAppend();
    return true;
  }

  private handleAppendResponse(m: Message): void {
    const pr = this.tracker.progress.get(m.from);
    assert(pr !== undefined, 'append response from unknown member');
    pr.recentActive = true;
    if (m.reject) {
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm);
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.log.firstIndex()) {
      // The member caught up through the snapshot; entries after it are in our log.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else if (wasPaused) {
      // It may lack the latest commit index.
      this.sendAppend(m.from);
    }
    // Flow control may allow several messages now; send without empty ones.
    while (this.sendAppend(m.from, false)) {
      // keep sending
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResponse(m: Message): void {
    const pr = this.tracker.progress.get(m.from);
    assert(pr !== undefined, 'heartbeat response from unknown member');
    pr.recentActive = true;
    pr.probeSent = false;
    // The member is alive: free one slot so a stalled pipeline moves.
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (m.context === undefined || m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined || this.tracker.ackResult(acks) !== VoteResult.Won) return;
    const released = this.readOnly.advance(m.context);
    this.pendingReadRequests -= released.length;
    for (const req of released) this.respondToReadIndex(req);
  }

  private handleTransferLeader(m: Message): void {
    const transferee = m.from;
    const pr = this.tracker.progress.get(transferee);
    if (pr === undefined || pr.isLearner) return;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return;
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return;
    // The transfer must finish within an election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ---------------------------------------------------------------- ReadIndex (Raft §8)

  private handleReadIndex(m: Message): boolean {
    if (this.pendingReadRequests >= READ_INDEX_REQUESTS_MAX) return false;
    this.pendingReadRequests++;
    // Until an entry of its term is committed, a new leader does not know the commit index (§8).
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadIndexMessages.push(m);
      return true;
    }
    this.startReadIndex(m);
    return true;
  }

  private startReadIndex(m: Message): void {
    const req: ReadRequest = { index: this.log.committed, from: m.from, ctx: m.context ?? EMPTY_BYTES };
    if (this.tracker.isSingleton(this.id)) {
      this.pendingReadRequests--;
      this.respondToReadIndex(req);
      return;
    }
    const ctx = this.readOnly.addRequest(req, this.id);
    if (ctx !== undefined) this.bcastHeartbeat(ctx);
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) this.startReadIndex(m);
  }

  private respondToReadIndex(req: ReadRequest): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index: req.index, requestCtx: req.ctx });
    } else {
      this.send({ type: MessageType.MsgReadIndexResp, to: req.from, index: req.index, context: req.ctx });
    }
  }

  /** The host handed out the pending messages: later reads need a new heartbeat round. */
  messagesSent(): void {
    this.readOnly.markSent();
  }

  // ---------------------------------------------------------------- membership (Raft §6)

  private loadConfState(cs: ConfState): void {
    const next = this.log.lastIndex() + 1;
    for (const id of cs.voters) this.tracker.progress.set(id, this.tracker.newProgress(0, next, false));
    for (const id of cs.learners) {
      assert(!cs.voters.includes(id), `member ${id} is both voter and learner`);
      this.tracker.progress.set(id, this.tracker.newProgress(0, next, true));
    }
  }

  /**
   * Applies a committed membership change (one member at a time, Raft §6 / thesis §4.1). Changes
   * that would leave no voter are ignored, identically on every member. Returns the new membership.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const tr = this.tracker;
    const existing = tr.progress.get(cc.nodeId);
    const onlyVoter = existing !== undefined && !existing.isLearner && tr.voters().length === 1;
    switch (cc.type) {
      case ConfChangeType.AddNode:
        if (existing !== undefined) existing.isLearner = false;
        else this.addProgress(cc.nodeId, false);
        break;
      case ConfChangeType.AddLearnerNode:
        if (existing === undefined) this.addProgress(cc.nodeId, true);
        else if (!onlyVoter) existing.isLearner = true;
        break;
      case ConfChangeType.RemoveNode:
        if (existing !== undefined && !onlyVoter) tr.progress.delete(cc.nodeId);
        break;
      case ConfChangeType.UpdateNode:
        break;
    }
    this.afterConfChange();
    return tr.confState();
  }

  private addProgress(id: MemberId, isLearner: boolean): void {
    const pr = this.tracker.newProgress(0, this.log.lastIndex() + 1, isLearner);
    // A new member counts as active, so check-quorum does not depose us before it answers.
    pr.recentActive = true;
    this.tracker.progress.set(id, pr);
  }

  private afterConfChange(): void {
    if (this.state !== StateType.Leader) return;
    const self = this.tracker.progress.get(this.id);
    if (self === undefined || self.isLearner) {
      // The leader was removed (or demoted): tell everyone the commit index, hand leadership to
      // the most up-to-date voter if one has our whole log, and step down.
      this.bcastAppend();
      const heir = this.mostUpToDateVoter();
      if (heir !== undefined && this.tracker.progress.get(heir)?.match === this.log.lastIndex()) this.sendTimeoutNow(heir);
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else {
      for (const id of this.tracker.progress.keys()) if (id !== this.id) this.sendAppend(id, false);
    }
    if (this.leadTransferee !== NONE && !this.tracker.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
  }

  private mostUpToDateVoter(): MemberId | undefined {
    let best: MemberId | undefined;
    let bestMatch = -1;
    for (const [id, pr] of this.tracker.progress) {
      if (id === this.id || pr.isLearner) continue;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    return best;
  }
}

function localMessage(type: MessageType, from: MemberId): Message {
  return { type, to: NONE, from, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
}
