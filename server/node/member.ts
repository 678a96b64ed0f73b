/**
 * The member's host loop: it owns the Raft node, the WAL and the state machine, and moves them
 * through etcd's cycle — tick → Ready → persist (WAL, one fdatasync per Ready) → send → apply (one
 * MVCC batch per Ready) → answer waiters → advance.
 *
 * Group commit falls out of the loop: while one Ready's fsync is running, new proposals collect in
 * the Raft log, and the next Ready carries all of them to one fsync.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MemoryStorage, RawNode, SnapshotTemporarilyUnavailableError, decodeConfChange } from '../raft';
import { EntryType, MemberId, MessageType, Ready, StateType, type ConfChange, type ConfState, type Entry, type HardState, type Message, type Snapshot } from '../raft/types';
import { Wal } from '../wal';
import type { MvccStore } from '../mvcc/types';
import type { Logger } from '../log';
import { LIMITS } from '../limits';
import { EtcdError } from '../errors';

/** A member of the cluster as the member list shows it. */
export interface MemberInfo {
  readonly id: MemberId;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

/** What the WAL's metadata record holds: who this member is and the cluster it was created in. */
export interface WalMetadata {
  readonly clusterId: string;
  readonly memberId: string;
  readonly members: { id: string; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean }[];
  /** Set for a member that joined an existing cluster: its Raft configuration starts empty. */
  readonly joined?: boolean;
}

/** Applies one committed entry's data to the state machine; returns the result for the proposer. */
export type EntryApplier = (data: Uint8Array, index: number) => unknown;

/** Request IDs: 16 bits of member tag above a 37-bit counter (2^53 in all). */
const REQUEST_ID_COUNTER_SPAN = 2 ** 37;

interface Waiter {
  resolve(result: unknown): void;
  reject(err: unknown): void;
  deadlineMs: number;
}

interface ReadWaiter {
  resolve(): void;
  reject(err: unknown): void;
}

interface ReadRound {
  readonly ctx: Uint8Array;
  readonly waiters: ReadWaiter[];
  readonly deadlineMs: number;
}

/** A WAL as Wal.open returns it: the log and what it held. */
export type OpenedWal = Awaited<ReturnType<typeof Wal.open>>;

export interface MemberOptions {
  readonly walDir: string;
  /** The WAL when the member restarts; absent when it is created. */
  readonly existingWal: OpenedWal | undefined;
  readonly memberId: MemberId;
  readonly clusterId: MemberId;
  readonly members: readonly MemberInfo[];
  /**
   * Raft's configuration: for a new cluster its initial voters and learners; on restart the one
   * as of the store's consistent index (conf changes after it are replayed from the log); empty for
   * a member joining an existing cluster, which learns it from the leader.
   */
  readonly confState: ConfState;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly preVote: boolean;
  readonly snapshotCount: number;
  /** Entries kept before the snapshot index for followers a little behind (default LIMITS.snapshotCatchUpEntries). */
  readonly snapshotCatchUpEntries?: number;
  readonly store: MvccStore;
  readonly applyEntry: EntryApplier;
  readonly log: Logger;
  readonly random: () => number;
  /**
   * Posts answers gathered so far. Called before each WAL save, which may block the thread for a
   * small save's fsync: answers already due must not wait for it.
   */
  readonly flushAnswers?: () => void;
  /** Saves up to this many bytes fsync synchronously (see Wal.blockingSaveBytesMax). */
  readonly walBlockingSaveBytesMax?: number;
  /**
   * Sends Raft messages to other members (server/transport). Absent for a single-member cluster,
   * which has nobody to send to.
   */
  readonly transport?: { send(messages: readonly Message[]): void };
  /** Called when a fatal storage error makes it unsafe to go on (the process must exit). */
  readonly onFatal: (err: unknown) => void;
  /** Told how long disk operations took (metrics); optional. */
  readonly observer?: MemberObserver;
  /**
   * Moves the state machine in and out of Raft snapshots. Absent: the member never sends a
   * snapshot (Raft keeps retrying with log entries) — tests of the loop alone.
   */
  readonly snapshots?: StateMachineSnapshots;
  /**
   * Applies a committed membership change to the cluster's member list (after Raft's own
   * configuration took it); returns the result for the proposer. Runs for entries above the store's
   * consistent index only, as every other entry.
   */
  readonly applyConfChange?: (cc: ConfChange, index: number) => unknown;
  /** The members the WAL's metadata records when it is created (default: `members`). */
  readonly walMetadataMembers?: readonly MemberInfo[];
  /** Recorded in the WAL's metadata: this member joined an existing cluster. */
  readonly walMetadataJoined?: boolean;
}

/**
 * The state machine's side of Raft snapshots: the backend travels whole, as etcd sends its bbolt
 * file. A received snapshot is staged on disk before the WAL records it, and swapped in after, so a
 * crash in between finds it staged (server/node/member-thread.ts).
 */
export interface StateMachineSnapshots {
  /**
   * Fixes a view of the state machine as applied now; the returned function reads it out. Called
   * from the loop, which applies nothing until this resolves.
   */
  open(): Promise<() => Promise<Uint8Array>>;
  /** Writes a received state machine durably beside the live one. */
  stage(index: number, data: Uint8Array): Promise<void>;
  /** Replaces the live state machine with the staged one, and reloads what is built on it. */
  install(index: number): Promise<void>;
}

/** Receives the durations of the member's disk operations, in seconds (for metrics). */
export interface MemberObserver {
  /** One WAL save: the write and its fdatasync. */
  walSaveSeconds(seconds: number): void;
  /** One backend batch written by the store's flush. */
  backendCommitSeconds(seconds: number): void;
}

/**
 * The member's Raft log. Raft asks it for a snapshot when a follower is behind its first entry: the
 * snapshot it holds carries no data (the member attaches the backend when it sends it); without a
 * way to send the backend it refuses (Raft then keeps retrying with log entries), so that a
 * follower can never install an empty state machine.
 */
class MemberStorage extends MemoryStorage {
  constructor(
    options: ConstructorParameters<typeof MemoryStorage>[0],
    private readonly canSendSnapshots: boolean,
  ) {
    super(options);
  }

  override snapshot(): Snapshot {
    if (!this.canSendSnapshots) throw new SnapshotTemporarilyUnavailableError('this member cannot send its state machine');
    return super.snapshot();
  }
}

/** The loop's wait for applied entries: index → callbacks. */
class AppliedWait {
  private readonly queue: { index: number; fn: () => void }[] = [];
  waitFor(index: number, applied: number, fn: () => void): void {
    if (index <= applied) fn();
    else this.queue.push({ index, fn });
  }
  trigger(applied: number): void {
    if (this.queue.length === 0) return;
    let keep = 0;
    for (const w of this.queue) {
      if (w.index <= applied) w.fn();
      else this.queue[keep++] = w;
    }
    this.queue.length = keep;
  }
}

/** The proposer's request ID in a ConfChange context (membership.ts writes it as JSON). */
function readConfChangeRequestId(context: Uint8Array): number | undefined {
  if (context.length === 0) return undefined;
  try {
    const ctx = JSON.parse(Buffer.from(context).toString('utf8')) as { requestId?: unknown };
    return typeof ctx.requestId === 'number' ? ctx.requestId : undefined;
  } catch {
    return undefined;
  }
}

export class Member {
  readonly memberId: MemberId;
  readonly clusterId: MemberId;
  /** The member list (the array the member thread's Membership keeps up to date). */
  readonly members: readonly MemberInfo[];
  private readonly node: RawNode;
  private readonly storage: MemoryStorage;
  private readonly wal: Wal;
  private readonly store: MvccStore;
  private readonly opts: MemberOptions;
  private readonly log: Logger;
  private readonly waiters = new Map<number, Waiter>();
  private nextRequestId: number;
  private readonly requestIdTag: number;
  private leaderId: MemberId = 0n;
  private state: StateType = StateType.Follower;
  private termNow = 0;
  private appliedIndex: number;
  private snapshotIndex: number;
  private confState: ConfState;
  private running = false;
  private scheduled = false;
  private closed = false;
  private readonly tickTimer: NodeJS.Timeout;
  private readonly sweepTimer: NodeJS.Timeout;
  private readRoundInFlight: ReadRound | undefined;
  private readNext: ReadWaiter[] = [];
  private readonly appliedWait = new AppliedWait();
  private readonly leaderWaiters: (() => void)[] = [];
  private readCtxCounter = 0;
  /** Entries applied to the store since its last flush to the backend. */
  private appliedSinceFlush = 0;
  private storeFlushTimer: NodeJS.Timeout | undefined;
  /** The latest hard state not yet written to the WAL (only its commit index changed). */
  private hardStateUnsaved: HardState | undefined;
  /** Proposals that failed before being applied (timeout, no leader, too many, shutdown). */
  private proposalsFailedCount = 0;
  /** Times a new leader (not "none") became known. */
  private leaderChangesSeenCount = 0;
  /** Invoked when the leader changes (metrics, health). */
  onLeaderChange: ((leader: MemberId, term: number) => void) | undefined;

  private constructor(opts: MemberOptions, node: RawNode, storage: MemoryStorage, wal: Wal, applied: number, snapshotIndex: number, confState: ConfState) {
    this.opts = opts;
    this.memberId = opts.memberId;
    this.clusterId = opts.clusterId;
    this.members = opts.members;
    this.node = node;
    this.storage = storage;
    this.wal = wal;
    this.store = opts.store;
    this.log = opts.log;
    this.appliedIndex = applied;
    this.snapshotIndex = snapshotIndex;
    this.confState = confState;
    // A request ID is this member's 16-bit tag above a 37-bit counter that starts from the clock:
    // IDs of entries proposed before a restart, still in the log, and IDs proposed by other
    // members never meet this member's waiters.
    this.requestIdTag = Number(opts.memberId & 0xffffn) * REQUEST_ID_COUNTER_SPAN;
    this.nextRequestId = (Date.now() * 1000) % REQUEST_ID_COUNTER_SPAN;
    this.tickTimer = setInterval(this.onTick, opts.heartbeatIntervalMs);
    this.sweepTimer = setInterval(this.sweepTimeouts, LIMITS.requestTimeoutSweepMs);
  }

  /** Opens (or bootstraps) the member's WAL and Raft state over an already opened store. */
  static async open(opts: MemberOptions): Promise<Member> {
    const walDir = opts.walDir;
    const confState: ConfState = opts.confState;
    const voters = confState.voters;
    const storage = new MemberStorage({ confState }, opts.snapshots !== undefined && opts.transport !== undefined);
    let wal: Wal;
    let applied = opts.store.consistentIndex;
    let snapshotIndex = 0;
    if (opts.existingWal !== undefined) {
      const opened = opts.existingWal;
      wal = opened.wal;
      if (opened.repaired !== undefined) {
        opts.log.warn({ file: opened.repaired.file, offset: opened.repaired.offset, droppedBytes: opened.repaired.droppedBytes }, 'repaired a torn write-ahead log tail');
      }
      const snap = opened.snapshot ?? { index: 0, term: 0 };
      snapshotIndex = snap.index;
      if (snap.index > 0) storage.applySnapshot({ metadata: { index: snap.index, term: snap.term, confState }, data: new Uint8Array(0) });
      const entries = opened.entries.filter((e) => e.index > snap.index);
      storage.append(entries);
      const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : snap.index;
      // The backend may have applied entries whose commit index was not yet persisted in the WAL's
      // hard state (it is written with the entries that follow): such entries were fsynced before
      // they were applied, so they are committed.
      assert(applied <= lastIndex, `the store has applied index ${applied} but the write-ahead log ends at ${lastIndex}: the WAL is missing entries`);
      const hs: HardState = { ...opened.hardState, commit: Math.max(opened.hardState.commit, applied) };
      storage.setHardState(hs);
      opts.log.info({ walEntries: entries.length, lastIndex, commit: hs.commit, term: hs.term, applied, snapshotIndex }, 'opened write-ahead log');
    } else {
      fs.mkdirSync(path.dirname(walDir), { recursive: true });
      const metadata: WalMetadata = {
        clusterId: opts.clusterId.toString(16),
        memberId: opts.memberId.toString(16),
        members: (opts.walMetadataMembers ?? opts.members).map((m) => ({ id: m.id.toString(16), name: m.name, peerUrls: [...m.peerUrls], clientUrls: [...m.clientUrls], isLearner: m.isLearner })),
        ...(opts.walMetadataJoined === true ? { joined: true } : {}),
      };
      wal = await Wal.create(walDir, { metadata: Buffer.from(JSON.stringify(metadata)) });
      applied = 0;
      opts.log.info({ walDir }, 'created write-ahead log');
    }
    const electionTicks = Math.max(2, Math.round(opts.electionTimeoutMs / opts.heartbeatIntervalMs));
    const node = new RawNode({
      id: opts.memberId,
      storage,
      electionTicks,
      heartbeatTicks: 1,
      random: opts.random,
      preVote: opts.preVote,
      checkQuorum: true,
      maxSizePerMsgBytes: LIMITS.raftMessageBytesMax,
      maxInflightMsgs: LIMITS.raftInflightMessagesMax,
      applied,
    });
    wal.blockingSaveBytesMax = opts.walBlockingSaveBytesMax ?? 0;
    const member = new Member(opts, node, storage, wal, applied, snapshotIndex, confState);
    if (voters.length === 1 && voters[0] === opts.memberId) {
      // A single voter needs nobody's vote: campaign at once rather than after an election timeout.
      node.campaign();
    }
    member.schedule();
    return member;
  }

  get isLeader(): boolean {
    return this.state === StateType.Leader;
  }

  get leader(): MemberId {
    return this.leaderId;
  }

  get electionTimeoutMs(): number {
    return this.opts.electionTimeoutMs;
  }

  get term(): number {
    return this.termNow;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  /** Proposals waiting to be applied (etcd's proposals_pending). */
  get proposalsPending(): number {
    return this.waiters.size;
  }

  /** Proposals that failed: rejected, timed out, or abandoned at shutdown (etcd's proposals_failed_total). */
  get proposalsFailed(): number {
    return this.proposalsFailedCount;
  }

  /** Leader changes seen since start, counting the first leader (etcd's leader_changes_seen_total). */
  get leaderChangesSeen(): number {
    return this.leaderChangesSeenCount;
  }

  get raftStatus(): { term: number; commit: number; applied: number; lead: MemberId } {
    const s = this.node.status();
    return { term: s.term, commit: s.commit, applied: this.appliedIndex, lead: s.lead };
  }

  /** Resolves once a leader is known (true), or with false after `timeoutMs` or at close. */
  waitForLeader(timeoutMs: number): Promise<boolean> {
    if (this.leaderId !== 0n) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = (): void => {
        clearTimeout(timer);
        resolve(this.leaderId !== 0n);
      };
      const timer = setTimeout(() => {
        const i = this.leaderWaiters.indexOf(waiter);
        if (i >= 0) this.leaderWaiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      this.leaderWaiters.push(waiter);
    });
  }

  /**
   * Runs `fn` once a leader is known. Without one, a request waits (as etcd's proposals and read
   * index requests wait while an election runs) up to the request timeout, then fails with
   * `etcdserver: request timed out`; at most LIMITS.proposalsPendingMax wait.
   */
  private withLeader<T>(fn: () => Promise<T>): Promise<T> {
    if (this.leaderId !== 0n || this.closed) return fn();
    if (this.leaderWaiters.length >= LIMITS.proposalsPendingMax) {
      this.proposalsFailedCount++;
      return Promise.reject(new EtcdError('TooManyRequests'));
    }
    return this.waitForLeader(this.requestTimeoutMs()).then((ok) => {
      if (!ok && !this.closed) {
        this.proposalsFailedCount++;
        throw new EtcdError('Timeout');
      }
      return fn();
    });
  }

  /** A fresh request ID for an internal request. */
  newRequestId(): number {
    const id = this.requestIdTag + this.nextRequestId;
    this.nextRequestId = (this.nextRequestId + 1) % REQUEST_ID_COUNTER_SPAN;
    return id;
  }

  /**
   * Proposes `data` (an encoded internal request carrying `requestId`) and resolves with the
   * result of applying it once it is committed — that is, fsynced on a quorum — and applied.
   * @throws EtcdError TooManyRequests when too many proposals wait; NoLeader without a leader.
   */
  propose(requestId: number, data: Uint8Array): Promise<unknown> {
    return this.submit(requestId, () => this.node.propose(data), 'NoLeader');
  }

  /**
   * Proposes a membership change (its context carries `requestId`, see membership.ts) and resolves
   * with the result of applying it. Raft takes one change at a time: while another is not yet
   * applied, this one is refused with TooManyRequests.
   */
  proposeConfChange(requestId: number, cc: ConfChange): Promise<unknown> {
    return this.submit(requestId, () => this.node.proposeConfChange(cc), 'TooManyRequests');
  }

  /**
   * Registers the waiter of `requestId` and hands the entry to Raft (`append`); the waiter is
   * answered when the entry is applied. `refused` is the error when Raft drops the proposal.
   */
  private submit(requestId: number, append: () => void, refused: 'NoLeader' | 'TooManyRequests'): Promise<unknown> {
    if (this.leaderId === 0n && !this.closed) return this.withLeader(() => this.submit(requestId, append, refused));
    if (this.closed || this.leaderId === 0n || this.waiters.size >= LIMITS.proposalsPendingMax) {
      this.proposalsFailedCount++;
      return Promise.reject(new EtcdError(this.closed || this.leaderId === 0n ? 'NoLeader' : 'TooManyRequests'));
    }
    return new Promise((resolve, reject) => {
      this.waiters.set(requestId, { resolve, reject, deadlineMs: Date.now() + this.requestTimeoutMs() });
      try {
        append();
      } catch {
        this.waiters.delete(requestId);
        this.proposalsFailedCount++;
        reject(new EtcdError(refused));
        return;
      }
      this.schedule();
    });
  }

  /** The Raft configuration as of the applied index. */
  get configuration(): ConfState {
    return this.confState;
  }

  /** On the leader: each member's replicated index (Raft's progress); undefined elsewhere. */
  replicationProgress(): Map<MemberId, { match: number; isLearner: boolean }> | undefined {
    const progress = this.node.status().progress;
    if (progress === undefined) return undefined;
    const out = new Map<MemberId, { match: number; isLearner: boolean }>();
    for (const [id, p] of progress) out.set(id, { match: p.match, isLearner: p.isLearner });
    return out;
  }

  /**
   * Hands leadership to `to` (etcd's MoveLeader) and resolves once `to` leads, or rejects with
   * TimeoutLeaderTransfer after `timeoutMs`.
   */
  async transferLeadership(to: MemberId, timeoutMs: number): Promise<void> {
    if (this.closed || !this.isLeader) throw new EtcdError('NotLeader');
    this.node.transferLeader(to);
    this.schedule();
    const deadline = Date.now() + timeoutMs;
    while (this.leaderId !== to) {
      if (this.closed || Date.now() >= deadline) throw new EtcdError('TimeoutLeaderTransfer');
      await new Promise((r) => setTimeout(r, Math.max(5, this.opts.heartbeatIntervalMs / 2)));
    }
  }

  /**
   * Waits until a linearizable read may be served: Raft's ReadIndex confirms leadership and gives
   * the commit index; the read waits until that index is applied. Reads that arrive while a round
   * is in flight share the next round.
   */
  linearizableRead(): Promise<void> {
    if (this.leaderId === 0n && !this.closed) return this.withLeader(() => this.linearizableRead());
    if (this.closed || this.leaderId === 0n) return Promise.reject(new EtcdError('NoLeader'));
    if (this.readNext.length >= LIMITS.readsPendingMax) return Promise.reject(new EtcdError('TooManyRequests'));
    return new Promise((resolve, reject) => {
      this.readNext.push({ resolve, reject });
      this.startReadRound();
      this.schedule();
    });
  }

  private startReadRound(): void {
    if (this.readRoundInFlight !== undefined || this.readNext.length === 0) return;
    const ctx = Buffer.alloc(8);
    ctx.writeDoubleBE(++this.readCtxCounter);
    this.readRoundInFlight = { ctx, waiters: this.readNext, deadlineMs: Date.now() + this.requestTimeoutMs() };
    this.readNext = [];
    this.node.readIndex(ctx);
  }

  private requestTimeoutMs(): number {
    // etcd: 5 s plus two election timeouts.
    return 5000 + 2 * this.opts.electionTimeoutMs;
  }

  private readonly onTick = (): void => {
    this.node.tick();
    this.schedule();
  };

  private readonly sweepTimeouts = (): void => {
    const now = Date.now();
    for (const [id, w] of this.waiters) {
      if (w.deadlineMs <= now) {
        this.waiters.delete(id);
        this.proposalsFailedCount++;
        w.reject(new EtcdError('Timeout'));
      }
    }
    const round = this.readRoundInFlight;
    if (round !== undefined && round.deadlineMs <= now) {
      // The round is abandoned: its reads fail, and later reads start a new one.
      this.readRoundInFlight = undefined;
      for (const w of round.waiters) w.reject(new EtcdError('Timeout'));
      this.startReadRound();
    }
  };

  /** Runs the Ready loop soon (once per event-loop turn at most). */
  schedule(): void {
    if (this.scheduled || this.running || this.closed) return;
    this.scheduled = true;
    setImmediate(this.runLoop);
  }

  private readonly runLoop = (): void => {
    this.scheduled = false;
    if (this.running || this.closed) return;
    this.running = true;
    this.processReadies()
      .catch((err) => this.opts.onFatal(err))
      .finally(() => {
        this.running = false;
        if (this.node.hasReady()) this.schedule();
      });
  };

  private async processReadies(): Promise<void> {
    while (!this.closed && this.node.hasReady()) {
      const rd = this.node.ready();
      if (rd.hardState !== undefined) this.termNow = rd.hardState.term;
      if (rd.softState !== undefined) this.onSoftState(rd.softState.lead, rd.softState.state);
      const snapshot = rd.snapshot !== undefined && rd.snapshot.metadata.index > 0 ? rd.snapshot : undefined;
      // Committed entries below this Ready's first new entry were made durable by an earlier save:
      // apply them now, so that their answers go out while this Ready's fsync runs. (Not with an
      // incoming snapshot: entries follow it, once it is installed.)
      const committed = rd.committedEntries;
      const firstNewIndex = rd.entries.length > 0 ? rd.entries[0]!.index : Infinity;
      let durable = snapshot !== undefined ? 0 : committed.length;
      while (durable > 0 && committed[durable - 1]!.index >= firstNewIndex) durable--;
      if (durable > 0) this.applyEntries(durable === committed.length ? committed : committed.slice(0, durable));
      if (rd.hardState !== undefined) this.hardStateUnsaved = rd.hardState;
      if (snapshot !== undefined) await this.saveIncomingSnapshot(snapshot);
      if (rd.mustSync || snapshot !== undefined) {
        // New entries, or a new term or vote: durable before anything depends on them. A change of
        // the commit index alone is not worth an fsync; it is written with the next one (restart
        // recovers it from the store's consistent index).
        this.opts.flushAnswers?.();
        const saveStartMs = performance.now();
        await this.wal.save(this.hardStateUnsaved, rd.entries);
        this.opts.observer?.walSaveSeconds((performance.now() - saveStartMs) / 1000);
        this.hardStateUnsaved = undefined;
      }
      if (snapshot !== undefined) this.storage.applySnapshot({ metadata: snapshot.metadata, data: new Uint8Array(0) });
      if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
      if (rd.entries.length > 0) this.storage.append(rd.entries);
      // Messages to peers go out once the entries they acknowledge are durable.
      const outgoingSnapshots = this.send(rd);
      if (snapshot !== undefined) await this.installIncomingSnapshot(snapshot);
      if (durable < committed.length) this.applyEntries(committed.slice(durable));
      for (const rs of rd.readStates) this.onReadState(rs.index, rs.requestCtx);
      if (committed.length > 0 || rd.readStates.length > 0) this.opts.flushAnswers?.();
      for (const m of outgoingSnapshots) await this.sendSnapshot(m);
      this.node.advance(rd);
      this.startReadRound();
      await this.maybeSnapshot();
    }
  }

  /** Sends the Ready's messages but its snapshots, which are returned (they need the backend). */
  private send(rd: Ready): Message[] {
    if (rd.messages.length === 0) return [];
    let snapshots: Message[] | undefined;
    let others: Message[] | undefined;
    for (let i = 0; i < rd.messages.length; i++) {
      const m = rd.messages[i]!;
      assert(m.to !== this.memberId, 'a Raft message to this member itself');
      if (m.type === MessageType.MsgSnap) {
        snapshots ??= [];
        snapshots.push(m);
        others ??= rd.messages.slice(0, i);
      } else if (others !== undefined) {
        others.push(m);
      }
    }
    const plain = others ?? rd.messages;
    if (plain.length > 0) this.opts.transport?.send(plain);
    return snapshots ?? [];
  }

  /**
   * A leader's MsgSnap: Raft's snapshot carries no data, so the member attaches the backend as
   * applied now (as etcd merges its backend into the message). The snapshot then describes the
   * applied index, which is at or after the one Raft chose: the follower acknowledges that index,
   * and Raft replicates from there. The view is fixed here, in the loop; it is read out and sent
   * meanwhile, and the outcome is reported to Raft.
   */
  private async sendSnapshot(m: Message): Promise<void> {
    const snapshots = this.opts.snapshots;
    const transport = this.opts.transport;
    if (snapshots === undefined || transport === undefined) {
      this.node.reportSnapshot(m.to, false);
      return;
    }
    const index = this.appliedIndex;
    const metadata = { index, term: this.storage.term(index), confState: this.confState };
    let read: () => Promise<Uint8Array>;
    try {
      read = await snapshots.open();
    } catch (err) {
      this.log.warn({ err, to: m.to.toString(16) }, 'failed to open a snapshot of the backend');
      this.node.reportSnapshot(m.to, false);
      return;
    }
    read().then(
      (data) => {
        if (this.closed) return;
        this.log.info({ to: m.to.toString(16), index, bytes: data.length }, 'sending a snapshot of the backend');
        transport.send([{ ...m, snapshot: { metadata, data } }]);
      },
      (err) => {
        this.log.warn({ err, to: m.to.toString(16) }, 'failed to read a snapshot of the backend');
        if (!this.closed) this.reportSnapshot(m.to, false);
      },
    );
  }

  /** A snapshot from the leader, before the WAL records it: its state machine is staged on disk. */
  private async saveIncomingSnapshot(snapshot: Snapshot): Promise<void> {
    const snapshots = this.opts.snapshots;
    assert(snapshots !== undefined, 'received a snapshot but cannot install one');
    const { index, term } = snapshot.metadata;
    assert(index > this.appliedIndex, `snapshot at ${index} is not ahead of applied ${this.appliedIndex}`);
    this.log.info({ index, term, bytes: snapshot.data.length }, 'received a snapshot from the leader; staging it');
    await snapshots.stage(index, snapshot.data);
    await this.wal.saveSnapshot({ index, term });
  }

  /** Swaps the staged state machine in; entries after the snapshot are applied from here. */
  private async installIncomingSnapshot(snapshot: Snapshot): Promise<void> {
    const { index, confState } = snapshot.metadata;
    await this.opts.snapshots!.install(index);
    assert(this.store.consistentIndex === index, `installed snapshot ${index} but the store is at ${this.store.consistentIndex}`);
    this.appliedIndex = index;
    this.snapshotIndex = index;
    this.confState = confState;
    this.appliedSinceFlush = 0;
    await this.wal.releaseTo(index);
    this.log.info({ index, voters: confState.voters.map((v) => v.toString(16)), learners: confState.learners.map((v) => v.toString(16)) }, 'installed the snapshot');
    this.appliedWait.trigger(this.appliedIndex);
  }

  /** A Raft message from another member (from the transport). */
  step(m: Message): void {
    if (this.closed) return;
    try {
      this.node.step(m);
    } catch (err) {
      // A message the core refuses (e.g. from a removed member) is dropped; Raft is built for that.
      this.log.debug({ err, type: m.type, from: m.from.toString(16) }, 'dropped a Raft message');
      return;
    }
    this.schedule();
  }

  /** The transport could not reach `id`: Raft stops pipelining to it until it answers again. */
  reportUnreachable(id: MemberId): void {
    if (!this.closed) this.node.reportUnreachable(id);
  }

  /** Whether a snapshot sent to `id` arrived. */
  reportSnapshot(id: MemberId, ok: boolean): void {
    if (!this.closed) this.node.reportSnapshot(id, ok);
  }

  private onSoftState(lead: MemberId, state: StateType): void {
    const changed = lead !== this.leaderId;
    this.leaderId = lead;
    this.state = state;
    if (changed) {
      this.log.info({ leader: lead.toString(16), term: this.termNow, isLeader: state === StateType.Leader }, lead === 0n ? 'lost leader' : 'elected leader');
      if (lead !== 0n) this.leaderChangesSeenCount++;
      this.onLeaderChange?.(lead, this.termNow);
      if (lead !== 0n) for (const w of this.leaderWaiters.splice(0)) w();
    }
  }

  private onReadState(index: number, ctx: Uint8Array): void {
    const round = this.readRoundInFlight;
    if (round === undefined || Buffer.compare(Buffer.from(ctx), Buffer.from(round.ctx)) !== 0) return;
    this.readRoundInFlight = undefined;
    for (const w of round.waiters) this.appliedWait.waitFor(index, this.appliedIndex, w.resolve);
  }

  private applyEntries(entries: readonly Entry[]): void {
    for (const e of entries) {
      // Nothing is applied twice: the store remembers the last index it holds.
      if (e.index <= this.store.consistentIndex) {
        this.appliedIndex = Math.max(this.appliedIndex, e.index);
        continue;
      }
      // Raft delivers committed entries in order from applied + 1: a gap or a repeat is a bug.
      assert(e.index === this.appliedIndex + 1, `applying index ${e.index} after ${this.appliedIndex}`);
      if (e.type === EntryType.ConfChange) {
        this.applyConfChangeEntry(e);
      } else if (e.data.length > 0) {
        this.applyOne(e);
      }
      this.store.setConsistentIndex(e.index);
      this.appliedIndex = e.index;
    }
    this.appliedSinceFlush += entries.length;
    this.scheduleStoreFlush();
    this.appliedWait.trigger(this.appliedIndex);
  }

  /**
   * A membership change: the member list checks and takes it first (deterministically, on every
   * member); only a change it took enters Raft's configuration, so that both agree.
   */
  private applyConfChangeEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    let result: unknown;
    let failed = false;
    try {
      result = this.opts.applyConfChange?.(cc, e.index);
    } catch (err) {
      result = err;
      failed = true;
    }
    if (!failed) this.confState = this.node.applyConfChange(cc);
    else this.log.warn({ index: e.index, err: result instanceof Error ? result.message : String(result) }, 'refused a membership change at apply');
    const requestId = readConfChangeRequestId(cc.context);
    const w = requestId === undefined ? undefined : this.waiters.get(requestId);
    if (w === undefined) return;
    this.waiters.delete(requestId!);
    if (failed) w.reject(result);
    else w.resolve(result);
  }

  private applyOne(e: Entry): void {
    let result: unknown;
    let failed = false;
    const requestId = this.readRequestId(e.data);
    try {
      result = this.opts.applyEntry(e.data, e.index);
    } catch (err) {
      result = err;
      failed = true;
    }
    const w = requestId === undefined ? undefined : this.waiters.get(requestId);
    if (w === undefined) return;
    this.waiters.delete(requestId!);
    if (failed) w.reject(result);
    else w.resolve(result);
  }

  /**
   * Writes applied changes to the backend, coalesced: at once when many wait, else shortly after.
   * The WAL is the durability point and reads are served from memory until the batch lands, so a
   * later flush only bounds how much is kept in memory and replayed after a crash.
   */
  private scheduleStoreFlush(): void {
    if (this.appliedSinceFlush >= LIMITS.storeFlushEntriesMax) {
      this.flushStore();
    } else if (this.storeFlushTimer === undefined) {
      this.storeFlushTimer = setTimeout(this.flushStore, LIMITS.storeFlushDelayMs);
    }
  }

  private readonly flushStore = (): void => {
    if (this.storeFlushTimer !== undefined) clearTimeout(this.storeFlushTimer);
    this.storeFlushTimer = undefined;
    this.appliedSinceFlush = 0;
    const flushStartMs = performance.now();
    this.store.flush().then(
      () => this.opts.observer?.backendCommitSeconds((performance.now() - flushStartMs) / 1000),
      (err) => this.opts.onFatal(err),
    );
  };

  /** Reads field 1 (uint64 id) of an encoded internal request without decoding the rest. */
  private readRequestId(data: Uint8Array): number | undefined {
    if (data.length < 2 || data[0] !== 0x08) return undefined;
    let v = 0;
    let mul = 1;
    for (let i = 1; i < data.length && i < 11; i++) {
      const b = data[i]!;
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return v;
      mul *= 128;
    }
    return undefined;
  }

  /**
   * Every `snapshotCount` applied entries, the state machine is made durable and the log before
   * it is released: from then on the backend is what a restart starts from.
   */
  private async maybeSnapshot(): Promise<void> {
    if (this.appliedIndex - this.snapshotIndex < this.opts.snapshotCount) return;
    const index = this.appliedIndex;
    const term = this.storage.term(index);
    await this.store.flush();
    await this.store.sync();
    this.storage.createSnapshot(index, this.confState, new Uint8Array(0));
    const keepFrom = Math.max(1, index - (this.opts.snapshotCatchUpEntries ?? LIMITS.snapshotCatchUpEntries));
    if (keepFrom > this.storage.firstIndex()) this.storage.compact(keepFrom);
    await this.wal.saveSnapshot({ index, term });
    await this.wal.releaseTo(keepFrom);
    this.snapshotIndex = index;
    this.log.info({ index, term, keptFrom: keepFrom }, 'saved snapshot and released the write-ahead log before it');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.tickTimer);
    clearInterval(this.sweepTimer);
    if (this.storeFlushTimer !== undefined) clearTimeout(this.storeFlushTimer);
    while (this.running) await new Promise((r) => setTimeout(r, 5));
    this.proposalsFailedCount += this.waiters.size;
    for (const w of this.waiters.values()) w.reject(new EtcdError('NoLeader'));
    this.waiters.clear();
    for (const w of [...(this.readRoundInFlight?.waiters ?? []), ...this.readNext]) w.reject(new EtcdError('NoLeader'));
    this.readRoundInFlight = undefined;
    this.readNext = [];
    for (const w of this.leaderWaiters.splice(0)) w();
    await this.store.flush();
    await this.wal.close();
  }
}
