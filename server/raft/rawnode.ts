/**
 * RawNode: the host's handle on one member's Raft core, in the style of etcd-io/raft's RawNode.
 * The host owns time (`tick`), the network (`step`, Ready.messages) and the disk (Ready.entries,
 * hardState, snapshot). One Ready is outstanding at a time: `ready()` → persist → send → apply →
 * `advance(ready)`.
 */
import { assert } from './assert';
import { encodeConfChange } from './confchange';
import { ProposalDroppedError } from './errors';
import { Raft, RaftConfig } from './raft';
import { ProgressState } from './tracker/progress';
import {
  ConfChange,
  ConfState,
  Entry,
  EntryType,
  HardState,
  MemberId,
  Message,
  MessageType,
  NONE,
  Ready,
  SoftState,
  StateType,
} from './types';
import { EMPTY_BYTES, hardStateEqual } from './util';

export type RawNodeOptions = RaftConfig;

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
}

export interface Status {
  readonly id: MemberId;
  readonly term: number;
  readonly vote: MemberId;
  readonly commit: number;
  readonly applied: number;
  readonly lead: MemberId;
  readonly state: StateType;
  /** Set on the leader only: every member's replication progress. */
  readonly progress?: Map<MemberId, ProgressStatus>;
  /** Set on the leader during a leadership transfer. */
  readonly leadTransferee: MemberId;
}

const RESPONSE_TYPES: ReadonlySet<MessageType> = new Set([
  MessageType.MsgAppResp,
  MessageType.MsgVoteResp,
  MessageType.MsgHeartbeatResp,
  MessageType.MsgUnreachable,
  MessageType.MsgPreVoteResp,
]);

export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  /** The Ready handed out and not yet advanced. */
  private outstanding: Ready | undefined = undefined;

  /**
   * Starts (or restarts) a member from `options.storage`: its hard state, membership and log.
   *
   * New cluster: give the storage the initial membership
   * (`new MemoryStorage({ confState: { voters: [1n, 2n, 3n], learners: [] } })`); with an empty
   * log and hard state, the member writes it as committed ConfChange entries 1..n of term 1
   * (voters then learners, by ascending ID — identical on every member), delivered in the first
   * Ready like any entries. A member joining an existing cluster starts from an empty storage and
   * empty conf state and learns the membership from the leader's log or snapshot.
   *
   * Restart: membership is the storage's conf state (its snapshot's) plus the ConfChange entries
   * up to `options.applied`; committed entries after `applied` are redelivered, ConfChanges
   * included, and the host applies them again (`applyConfChange`).
   */
  constructor(options: RawNodeOptions) {
    this.raft = new Raft(options);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = options.storage.initialState().hardState;
  }

  /** Advances logical time by one tick (election and heartbeat timeouts count ticks). */
  tick(): void {
    this.raft.tick();
  }

  /**
   * Steps a message from a peer (or a local one such as MsgHup). Messages addressed to another
   * member and responses from members not in the membership are ignored. A MsgProp dropped here is dropped silently; use `propose` to learn.
   */
  step(m: Message): void {
    // Misrouted messages are not ours to act on.
    if (m.to !== NONE && m.to !== this.raft.id) return;
    if (RESPONSE_TYPES.has(m.type) && m.from !== this.raft.id && !this.raft.tracker.progress.has(m.from)) return;
    this.raft.step(m);
  }

  /** Campaigns for leadership now (if this member is a voter). */
  campaign(): void {
    this.raft.step(this.localMessage(MessageType.MsgHup));
  }

  /**
   * Proposes `data` as a Normal entry; the leader appends it, a follower forwards it to the leader.
   * Acceptance is not commitment: the entry may still be lost with a leader change.
   * @throws ProposalDroppedError when there is no leader to take it, or the leader refuses it
   */
  propose(data: Uint8Array): void {
    this.proposeEntry({ term: 0, index: 0, type: EntryType.Normal, data });
  }

  /**
   * Proposes a membership change (one at a time: refused while an earlier one is not applied).
   * @throws ProposalDroppedError as `propose`
   */
  proposeConfChange(cc: ConfChange): void {
    this.proposeEntry({ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) });
  }

  private proposeEntry(e: Entry): void {
    const ok = this.raft.step({ ...this.localMessage(MessageType.MsgProp), entries: [e] });
    if (!ok) throw new ProposalDroppedError();
  }

  /** Applies a committed ConfChange entry; the host calls this when it applies the entry. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * Requests a linearizable read point. The answer comes as a ReadState carrying `ctx` in a later
   * Ready: once applied ≥ its index, reads reflect every write committed before this call.
   * @throws ProposalDroppedError when there is no leader, or too many reads are pending
   */
  readIndex(ctx: Uint8Array): void {
    const ok = this.raft.step({ ...this.localMessage(MessageType.MsgReadIndex), context: ctx });
    if (!ok) throw new ProposalDroppedError('raft read index request dropped');
  }

  /** Asks the leader to hand leadership to `to` (thesis §3.10). */
  transferLeader(to: MemberId): void {
    this.raft.step({ ...this.localMessage(MessageType.MsgTransferLeader), from: to });
  }

  /** Tells the leader that the last messages to `id` could not be delivered. */
  reportUnreachable(id: MemberId): void {
    this.raft.step({ ...this.localMessage(MessageType.MsgUnreachable), from: id });
  }

  /** Tells the leader whether the snapshot sent to `id` was installed (`ok`) or failed. */
  reportSnapshot(id: MemberId, ok: boolean): void {
    this.raft.step({ ...this.localMessage(MessageType.MsgSnapStatus), from: id, reject: !ok });
  }

  /** Whether there is work for the host. False while a Ready is outstanding. */
  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    const r = this.raft;
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.state !== this.prevSoftState.state) return true;
    const hs = r.hardState();
    if (!hardStateEqual(hs, this.prevHardState)) return true;
    return (
      r.log.hasPendingSnapshot() ||
      r.log.unstable.entries.length > 0 ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.log.hasNextCommittedEntries()
    );
  }

  /**
   * The work to do now. The host persists `snapshot`, `entries` and `hardState` (one fsync when
   * `mustSync`), sends `messages`, applies `committedEntries` (and ConfChanges via
   * `applyConfChange`), then calls `advance` with this Ready before asking for the next one.
   */
  ready(): Ready {
    assert(this.outstanding === undefined, 'ready() called again before advance()');
    const r = this.raft;
    const ss = r.softState();
    const hs = r.hardState();
    const entries = r.log.unstableEntries();
    const committedEntries = r.log.nextCommittedEntries();
    const softChanged = ss.lead !== this.prevSoftState.lead || ss.state !== this.prevSoftState.state;
    const hardChanged = !hardStateEqual(hs, this.prevHardState);
    const rd: Ready = {
      ...(softChanged ? { softState: ss } : {}),
      ...(hardChanged ? { hardState: hs } : {}),
      readStates: r.readStates,
      entries,
      ...(r.log.unstable.snapshot !== undefined ? { snapshot: r.log.unstable.snapshot } : {}),
      committedEntries,
      messages: r.msgs,
      // A snapshot must be durable too: the messages of this Ready acknowledge it (MsgAppResp).
      mustSync: entries.length > 0 || r.log.unstable.snapshot !== undefined || hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote,
    };
    if (committedEntries.length > 0) r.log.applyingTo(committedEntries[committedEntries.length - 1].index);
    this.prevSoftState = ss;
    this.prevHardState = hs;
    r.readStates = [];
    r.msgs = [];
    r.messagesSent();
    this.outstanding = rd;
    return rd;
  }

  /** The host has done everything `rd` asked for. */
  advance(rd: Ready): void {
    assert(this.outstanding === rd, 'advance() with a Ready that is not the outstanding one');
    this.outstanding = undefined;
    this.raft.advance(rd);
  }

  status(): Status {
    const r = this.raft;
    let progress: Map<MemberId, ProgressStatus> | undefined;
    if (r.state === StateType.Leader) {
      progress = new Map();
      for (const [id, pr] of r.tracker.progress) {
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner, recentActive: pr.recentActive });
      }
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lead: r.lead,
      state: r.state,
      leadTransferee: r.leadTransferee,
      ...(progress !== undefined ? { progress } : {}),
    };
  }

  private localMessage(type: MessageType): Message {
    return {
      type,
      to: NONE,
      from: this.raft.id,
      term: 0,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: EMPTY_BYTES,
    };
  }
}
