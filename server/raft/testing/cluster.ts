/**
 * A whole Raft cluster in one process for tests: RawNodes over MemoryStorage, a miniature host loop
 * (write → fsync → send → apply → advance, as server/node's), the in-process Network, a simulated
 * disk per member (testing/disk.ts: a crash loses what was not synced and may tear the last
 * write; a restart recovers from what is on disk, as the WAL does), snapshots, and the checkers
 * run after every action:
 * - election safety: at most one leader per term (Raft §5.2);
 * - log matching: logs that agree on an entry's term agree on every entry up to it (§5.3);
 * - committed entries never change, and every member applies the same sequence (§5.4.3);
 * - leader completeness: a leader holds every entry committed in an earlier term (§5.4.1);
 * - ReadIndex: a read point covers every commit known anywhere when the read was asked (§8);
 * - state machine safety: every member applies entries in index order, each once, and the same
 *   entry at each index (a restart replays from the member's snapshot);
 * - durability (the host loop's contract): no message is sent that promises state not yet synced
 *   — a term, a vote, an acknowledged entry, a snapshot — and no entry is applied before it is
 *   synced on the member's own disk (the leader's appends may go out before its fsync, thesis
 *   §10.2.1, when its term and vote are already durable).
 * A violation throws with a description; the caller adds the seed.
 */
import { decodeConfChange } from '../confchange';
import { ProposalDroppedError } from '../errors';
import { Random, seededRandom } from '../random';
import { RawNode } from '../rawnode';
import { MemoryStorage } from '../storage';
import { ConfChangeType, ConfState, Entry, EntryType, HardState, MemberId, Message, MessageType, Ready, Snapshot, StateType } from '../types';
import { Network, NetworkFaults, NO_FAULTS } from './network';
import { Disk, DiskRecord, DiskState, entryCrc, entryRecord, hardStateRecord, lastIndexOf, snapshotRecord, termAt } from './disk';

export interface ClusterOptions {
  readonly seed: number;
  readonly ids: readonly MemberId[];
  /** Learners at bootstrap (not in `ids`). */
  readonly learners?: readonly MemberId[];
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly maxSizePerMsgBytes?: number;
  readonly maxInflightMsgs?: number;
  readonly faults?: NetworkFaults;
  /** Preloaded storage per member (default: a new cluster bootstrapped from `ids`/`learners`). */
  readonly storage?: (id: MemberId) => MemoryStorage | undefined;
  /**
   * A deliberately broken host loop, to show the checkers catch it: `sendBeforeSync` sends every
   * message as soon as the Ready's records are written, before the fsync; `applyBeforeSync`
   * applies every committed entry then too.
   */
  readonly hostBug?: 'sendBeforeSync' | 'applyBeforeSync';
  /** Check each send and apply against the synced disk (default true). */
  readonly durabilityChecks?: boolean;
  /**
   * How a snapshot received from the leader is recorded: 'replaces-log' (default, as
   * MemoryStorage.applySnapshot) or 'wal-marker' (as server/node saves it: a WAL snapshot marker,
   * which on replay drops the entries it covers and keeps those after it).
   */
  readonly installRecord?: 'replaces-log' | 'wal-marker';
}

export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
}

function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new InvariantViolation(msg);
}

/** FNV-1a over an entry, mixed into a running hash: the prefix hash of a log (exported for checker tests). */
export function mixHash(prev: number, term: number, type: EntryType, data: Uint8Array): number {
  let h = (prev ^ 0x811c9dc5) >>> 0;
  const step = (byte: number): void => {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  };
  for (let k = 0; k < 4; k++) step((term >>> (k * 8)) & 0xff);
  step(type);
  for (const b of data) step(b);
  step(data.length & 0xff);
  return h;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The state machine of a test member: the list of applied proposal payloads. */
interface StateMachine {
  values: string[];
}

export class Member {
  readonly id: MemberId;
  /** The Raft core's view of the stable log; rebuilt from the disk on restart. */
  storage: MemoryStorage;
  /** What the member has written and synced (survives crashes, up to the model's losses). */
  readonly disk = new Disk();
  /** The conf state a new member bootstraps from when its disk holds nothing. */
  readonly bootConfState: ConfState;
  node: RawNode;
  crashed = false;
  /**
   * With asynchronous persistence: the Ready whose records are written and whose fsync runs,
   * whether its appends went out, and how many of its committed entries were applied already.
   */
  pending: { rd: Ready; appendsSent: boolean; appliedEarly: number; messagesSent: boolean } | undefined = undefined;
  /** A hard state whose change (commit only) is not worth an fsync: written with the next save. */
  hardStateUnsaved: HardState | undefined = undefined;
  sm: StateMachine = { values: [] };
  applied = 0;
  confState: ConfState;
  /** Mirror of the persisted log: terms[i] and prefix hashes[i] for every index i ≥ 1. */
  terms: number[] = [0];
  hashes: number[] = [0];
  readonly random: Random;

  constructor(id: MemberId, storage: MemoryStorage, node: RawNode, confState: ConfState, random: Random) {
    this.id = id;
    this.storage = storage;
    this.bootConfState = storage.initialState().confState;
    this.node = node;
    this.confState = confState;
    this.random = random;
  }

  lastIndex(): number {
    return this.terms.length - 1;
  }
}

export class Cluster {
  readonly members = new Map<MemberId, Member>();
  readonly network: Network;
  readonly random: Random;
  /** Every ReadState answered locally, by member. */
  readonly readStates = new Map<MemberId, { index: number; ctx: string }[]>();

  private readonly options: ClusterOptions;
  private readonly leaderOfTerm = new Map<number, MemberId>();
  /** Terms and prefix hashes of the entries applied anywhere (the committed log). */
  private readonly committedTerms: number[] = [0];
  private readonly committedHashes: number[] = [0];
  /** For each committed index, a term the entry was committed in or before (the applier's term). */
  private readonly committedTermBound: number[] = [0];
  private readonly committedValues: string[] = [];
  /** ReadIndex requests: ctx → the highest commit index anywhere when asked. */
  private readonly readFloor = new Map<string, number>();
  private readCounter = 0;
  proposals = 0;
  /** Conf changes the first time they are applied anywhere, and snapshots installed from a leader. */
  readonly counts = { learnersAdded: 0, learnersPromoted: 0, votersAdded: 0, membersRemoved: 0, snapshotsInstalled: 0 };
  /** When set, notable events are appended here (for debugging a seed). */
  trace: string[] | undefined = undefined;

  private note(event: string): void {
    if (this.trace !== undefined) this.trace.push(event);
  }

  constructor(options: ClusterOptions) {
    this.options = options;
    this.random = seededRandom(options.seed);
    this.network = new Network(seededRandom(options.seed ^ 0x5bd1e995), options.faults ?? NO_FAULTS);
    this.network.onDrop = (m) => this.reportDrop(m);
    const confState: ConfState = { voters: [...options.ids], learners: [...(options.learners ?? [])] };
    for (const id of [...options.ids, ...(options.learners ?? [])]) {
      const storage = options.storage?.(id) ?? new MemoryStorage({ confState });
      const random = seededRandom((options.seed * 31 + Number(id)) | 0);
      const member = new Member(id, storage, this.newNode(id, storage, 0, random), storage.initialState().confState, random);
      this.mirrorStoredLog(member);
      this.members.set(id, member);
      this.readStates.set(id, []);
    }
  }

  /** Mirrors a preloaded log (tests that start from given logs); it must start at index 1. */
  private mirrorStoredLog(m: Member): void {
    const last = m.storage.lastIndex();
    const hs = m.storage.initialState().hardState;
    if (last === 0 && hs.term === 0) return;
    check(m.storage.firstIndex() === 1, 'preloaded logs must not be compacted');
    const ents = last === 0 ? [] : m.storage.entries(1, last + 1);
    m.disk.write([...ents.map(entryRecord), hardStateRecord(hs)]);
    m.disk.sync();
    this.mirrorEntries(m, ents);
  }

  private newNode(id: MemberId, storage: MemoryStorage, applied: number, random: Random): RawNode {
    const o = this.options;
    return new RawNode({
      id,
      storage,
      electionTicks: o.electionTicks ?? 10,
      heartbeatTicks: o.heartbeatTicks ?? 1,
      random,
      preVote: o.preVote ?? false,
      checkQuorum: o.checkQuorum ?? false,
      maxSizePerMsgBytes: o.maxSizePerMsgBytes ?? 1024,
      maxInflightMsgs: o.maxInflightMsgs ?? 4,
      applied,
    });
  }

  ids(): MemberId[] {
    return [...this.members.keys()];
  }

  member(id: MemberId): Member {
    const m = this.members.get(id);
    check(m !== undefined, `no member ${id}`);
    return m;
  }

  live(): Member[] {
    return [...this.members.values()].filter((m) => !m.crashed);
  }

  /** Adds a member that starts empty (to be added by a ConfChange). */
  addMember(id: MemberId): Member {
    const storage = new MemoryStorage({ confState: { voters: [], learners: [] } });
    const random = seededRandom((this.options.seed * 31 + Number(id)) | 0);
    const member = new Member(id, storage, this.newNode(id, storage, 0, random), { voters: [], learners: [] }, random);
    this.members.set(id, member);
    this.readStates.set(id, []);
    return member;
  }

  // ------------------------------------------------------------ actions

  tickAll(): void {
    this.network.advance();
    for (const m of this.live()) m.node.tick();
    this.processReadies();
  }

  tick(id: MemberId): void {
    const m = this.member(id);
    if (!m.crashed) m.node.tick();
    this.processReadies();
  }

  /** The transport tells the sender about a lost snapshot (and, sometimes, an unreachable peer). */
  private reportDrop(m: Message): void {
    const from = this.members.get(m.from);
    if (from === undefined || from.crashed) return;
    if (m.type === MessageType.MsgSnap) from.node.reportSnapshot(m.to, false);
    else if (m.type === MessageType.MsgApp && this.random() < 0.5) from.node.reportUnreachable(m.to);
  }

  /**
   * Delivers one message, or with `crashReceiver` lets the receiver crash while handling it (its
   * Ready is lost). Returns false when none was waiting.
   */
  deliverOne(options: { crashReceiver?: boolean } = {}): boolean {
    const msg = this.network.take();
    if (msg === undefined) return false;
    const to = this.members.get(msg.to);
    if (to === undefined || to.crashed) {
      this.reportDrop(msg);
    } else {
      to.node.step(msg);
      if (options.crashReceiver === true) this.crashDuringReady(to.id);
      if (msg.type === MessageType.MsgSnap) {
        // The transport reports a streamed snapshot as delivered.
        const from = this.members.get(msg.from);
        if (from !== undefined && !from.crashed) from.node.reportSnapshot(msg.to, true);
      }
    }
    this.processReadies();
    return true;
  }

  /** Delivers messages until the network is quiet (at most `max`). Returns how many. */
  deliverAll(max = 100000): number {
    let n = 0;
    for (;;) {
      while (n < max && this.deliverOne()) n++;
      if (![...this.members.values()].some((m) => m.pending !== undefined)) return n;
      this.completeAll();
    }
  }

  /** Ticks everyone and delivers everything, `rounds` times. */
  stabilize(rounds = 1): void {
    for (let r = 0; r < rounds; r++) {
      this.deliverAll();
      this.tickAll();
    }
    this.deliverAll();
  }

  /** Proposes at `id`; returns false when the proposal was dropped. */
  propose(id: MemberId, value?: string): boolean {
    const m = this.member(id);
    if (m.crashed) return false;
    const v = value ?? `v${this.options.seed}.${++this.proposals}`;
    try {
      m.node.propose(encoder.encode(v));
    } catch (err) {
      if (err instanceof ProposalDroppedError) return false;
      throw err;
    }
    this.processReadies();
    return true;
  }

  /** Asks `id` for a read point; returns the request ctx, or undefined when dropped. */
  readIndex(id: MemberId, options: { process?: boolean } = {}): string | undefined {
    const m = this.member(id);
    if (m.crashed) return undefined;
    const ctx = `r${++this.readCounter}`;
    this.readFloor.set(ctx, this.maxCommit());
    try {
      m.node.readIndex(encoder.encode(ctx));
    } catch (err) {
      if (err instanceof ProposalDroppedError) return undefined;
      throw err;
    }
    if (options.process !== false) this.processReadies();
    return ctx;
  }

  /**
   * The member loses power: its memory is gone, its disk keeps the synced records and, of the
   * unsynced ones, what the disk model decides (some prefix, maybe a torn record after it).
   */
  crash(id: MemberId): void {
    const m = this.member(id);
    if (m.crashed) return;
    m.crashed = true;
    m.pending = undefined;
    m.hardStateUnsaved = undefined;
    const loss = m.disk.crash(m.random);
    this.note(`${id} crashes` + (loss.unsynced > 0 ? ` with ${loss.unsynced} unsynced records: ${loss.kept} kept${loss.torn ? ', the next torn' : ''}` : ''));
    this.network.dropTo(id);
  }

  /**
   * Crashes `id` in the middle of a Ready: nothing of it is persisted or applied. A leader's
   * append messages may already be out, as the host may send them in parallel with its fsync
   * (Raft thesis §10.2.1) when the Ready changes neither term nor vote.
   */
  crashDuringReady(id: MemberId): void {
    const m = this.member(id);
    if (m.crashed) return;
    if (m.pending === undefined && m.node.hasReady()) {
      // Its records are written (not synced) and the crash comes before the fsync returns.
      const rd = m.node.ready();
      this.writeReady(m, rd);
      this.sendEarly(m, rd);
    }
    this.note(`${id} crashes during a Ready`);
    this.crash(id);
  }

  /** Whether the Ready changes the term or vote the member has on disk. */
  private changesTermOrVote(m: Member, rd: Ready): boolean {
    if (rd.hardState === undefined) return false;
    const stored = m.disk.durable().hardState;
    return rd.hardState.term !== stored.term || rd.hardState.vote !== stored.vote;
  }

  /**
   * Writes the Ready's records (snapshot, entries, hard state: one save), not yet synced. As
   * server/node does, a Ready that need not be synced (only the commit index changed) writes
   * nothing: its hard state goes with the next save.
   */
  private writeReady(m: Member, rd: Ready): void {
    if (rd.hardState !== undefined) m.hardStateUnsaved = rd.hardState;
    if (!rd.mustSync && rd.snapshot === undefined) return;
    const records: DiskRecord[] = [];
    if (rd.snapshot !== undefined) records.push(snapshotRecord(rd.snapshot, this.options.installRecord !== 'wal-marker'));
    for (const e of rd.entries) records.push(entryRecord(e));
    if (m.hardStateUnsaved !== undefined) records.push(hardStateRecord(m.hardStateUnsaved));
    m.hardStateUnsaved = undefined;
    m.disk.write(records);
  }

  /**
   * What the host may do while the Ready's fsync runs: a leader whose term and vote are durable
   * sends its appends (thesis §10.2.1). Returns whether it did. The buggy hosts do more.
   */
  private sendEarly(m: Member, rd: Ready): boolean {
    if (this.options.hostBug === 'sendBeforeSync') {
      for (const msg of rd.messages) this.send(m, msg);
      return true;
    }
    const appendsSent = !this.changesTermOrVote(m, rd) && m.node.status().state === StateType.Leader;
    if (appendsSent) for (const msg of rd.messages) if (msg.type === MessageType.MsgApp) this.send(m, msg);
    return appendsSent;
  }

  /** Sends a message of `m`'s, first checking it promises nothing that is not on `m`'s disk. */
  private send(m: Member, msg: Message): void {
    if (this.options.durabilityChecks !== false) this.checkSendDurable(m, msg);
    this.network.send(msg);
  }

  private checkSendDurable(m: Member, msg: Message): void {
    const d = m.disk.durable();
    const hs = d.hardState;
    const what = `member ${m.id} sends ${MessageType[msg.type]}${msg.reject ? ' (reject)' : ''} to ${msg.to} in term ${msg.term}`;
    if (msg.type !== MessageType.MsgPreVote && msg.type !== MessageType.MsgPreVoteResp) {
      check(msg.term <= hs.term, `${what} before term ${msg.term} is synced (disk: term ${hs.term})`);
    }
    if (msg.type === MessageType.MsgVote) {
      check(hs.term > msg.term || hs.vote === m.id, `${what} before its vote for itself is synced (disk: term ${hs.term} vote ${hs.vote})`);
    }
    if (msg.type === MessageType.MsgVoteResp && !msg.reject) {
      // A later term on disk keeps the promise too: the member can no longer vote in msg.term.
      check(hs.term > msg.term || (hs.term === msg.term && hs.vote === msg.to), `${what}, granting a vote not synced (disk: term ${hs.term} vote ${hs.vote})`);
    }
    // An acknowledgement from an earlier term than the one on disk is stale: the member stepped
    // an append of term msg.term, then, in the same Ready, a newer leader's append whose conflict
    // truncated the acknowledged entries before they were written. It is still sent (as etcd's
    // raft does) and harmless: the newer leader was elected by a majority none of which could
    // have held those entries (each would have refused its vote), so the stale leader cannot
    // gather a majority for them. Every acknowledgement in the term on disk must be synced.
    if (msg.type === MessageType.MsgAppResp && !msg.reject && msg.term >= hs.term) {
      const t = termAt(d, msg.index);
      const snap = d.snapshot?.metadata.index ?? 0;
      check(
        msg.index <= snap || (t !== undefined && t === m.terms[msg.index]),
        `${what}, acknowledging index ${msg.index} not synced (disk: last ${lastIndexOf(d)}, term there ${t}, written ${m.terms[msg.index]})`,
      );
    }
    if (msg.type === MessageType.MsgSnap && msg.snapshot !== undefined) {
      check((d.snapshot?.metadata.index ?? 0) >= msg.snapshot.metadata.index, `${what}, a snapshot at ${msg.snapshot.metadata.index} not synced`);
    }
  }

  /** An entry may be applied (acknowledged to clients) only once it is synced on this member. */
  private checkApplyDurable(m: Member, e: Entry): void {
    const d = m.disk.durable();
    const snap = d.snapshot?.metadata.index ?? 0;
    if (e.index <= snap) return;
    const first = d.entries.length > 0 ? d.entries[0].index : 0;
    const on = first > 0 && e.index >= first && e.index < first + d.entries.length ? d.entries[e.index - first] : undefined;
    check(
      on !== undefined && entryCrc(on) === entryCrc(e),
      `member ${m.id} applies entry ${e.index} (term ${e.term}) before it is synced (disk: last ${lastIndexOf(d)})`,
    );
  }

  /** Restarts from what was persisted; the state machine restarts from the storage's snapshot. */
  restart(id: MemberId): void {
    const m = this.member(id);
    check(m.crashed, `restart of ${id}, which is running`);
    const d = m.disk.recover();
    m.storage = this.storageFrom(m, d);
    const snap = m.storage.snapshot();
    m.sm = decodeStateMachine(snap);
    m.applied = snap.metadata.index;
    m.confState = m.storage.initialState().confState;
    m.terms = this.committedTerms.slice(0, snap.metadata.index + 1);
    m.hashes = this.committedHashes.slice(0, snap.metadata.index + 1);
    this.mirrorEntries(m, d.entries);
    m.node = this.newNode(id, m.storage, m.applied, m.random);
    m.crashed = false;
    this.note(`${id} restarts from snapshot ${snap.metadata.index}, last ${m.lastIndex()}, hard state ${JSON.stringify(m.storage.initialState().hardState, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}`);
    this.processReadies();
  }

  /**
   * The MemoryStorage a restarted member gives its RawNode, from what recovery read: the
   * snapshot, the entries after it, the hard state (its commit at least the snapshot's index, as
   * server/node raises it to the applied index). An empty disk: the member starts as new.
   */
  private storageFrom(m: Member, d: DiskState): MemoryStorage {
    const empty = d.snapshot === undefined && d.entries.length === 0 && d.hardState.term === 0 && d.hardState.commit === 0;
    const storage = new MemoryStorage({ confState: empty ? m.bootConfState : { voters: [], learners: [] } });
    if (d.snapshot !== undefined) storage.applySnapshot(d.snapshot);
    storage.append(d.entries);
    const snapIndex = d.snapshot?.metadata.index ?? 0;
    if (!empty) storage.setHardState({ ...d.hardState, commit: Math.max(d.hardState.commit, snapIndex) });
    return storage;
  }

  /** Takes a snapshot at the applied index and compacts the log up to it. */
  /**
   * Takes a snapshot at the applied index, makes it durable (snapshot file and WAL marker, synced,
   * as server/node does), then compacts the log up to it.
   */
  snapshotAndCompact(id: MemberId): boolean {
    const m = this.member(id);
    // Between Readies, as server/node does: not while a save is in flight (it may install a snapshot).
    if (m.crashed || m.pending !== undefined || m.applied <= m.storage.snapshot().metadata.index) return false;
    const snap = m.storage.createSnapshot(m.applied, m.confState, encoder.encode(JSON.stringify(m.sm.values)));
    m.disk.write([snapshotRecord(snap, false)]);
    m.disk.sync();
    m.storage.compact(m.applied);
    return true;
  }

  // ------------------------------------------------------------ host loop

  /** Runs every member's host loop until none has a Ready. */
  processReadies(): void {
    for (let progress = true, rounds = 0; progress; rounds++) {
      check(rounds < 1000, 'host loop does not settle');
      progress = false;
      for (const m of this.members.values()) {
        if (m.crashed || m.pending !== undefined || !m.node.hasReady()) continue;
        this.startReady(m, m.node.ready());
        if (!this.asyncPersist) {
          progress = true;
          this.finishReady(m);
        }
      }
    }
    this.checkSafety();
  }

  /**
   * When set, a Ready's fsync completes later, by `completeReady`, while the member keeps
   * stepping messages (group commit).
   */
  asyncPersist = false;

  /** The member's pending fsync completes: sync, send, apply, advance. */
  completeReady(id: MemberId): boolean {
    const m = this.member(id);
    if (m.crashed || m.pending === undefined) return false;
    this.finishReady(m);
    this.processReadies();
    return true;
  }

  /** Completes every pending Ready until none is left. */
  completeAll(): void {
    for (let more = true; more; ) {
      more = false;
      for (const m of this.members.values()) if (this.completeReady(m.id)) more = true;
    }
  }

  /**
   * The first half of server/node's loop: write the Ready's records, start the fsync; meanwhile a
   * leader sends its appends and committed entries persisted by an earlier Ready are applied.
   */
  private startReady(m: Member, rd: Ready): void {
    if (this.trace !== undefined) {
      const st = m.node.status();
      if (rd.softState !== undefined) this.note(`${m.id} ${StateType[rd.softState.state]} term ${st.term} lead ${rd.softState.lead} last ${m.lastIndex()}`);
      if (rd.snapshot !== undefined) this.note(`${m.id} restores snapshot ${rd.snapshot.metadata.index}/${rd.snapshot.metadata.term} voters [${rd.snapshot.metadata.confState.voters}]`);
      if (rd.entries.length > 0) this.note(`${m.id} writes [${rd.entries.map((e) => `${e.index}/${e.term}`).join(' ')}]${rd.mustSync ? '' : ' (no sync)'}`);
      if (rd.hardState !== undefined) this.note(`${m.id} hard state t${rd.hardState.term} v${rd.hardState.vote} c${rd.hardState.commit}${rd.mustSync ? '' : ' (no sync)'}`);
      if (rd.committedEntries.length > 0) this.note(`${m.id} applies up to ${rd.committedEntries[rd.committedEntries.length - 1].index} (term ${st.term})`);
    }
    this.writeReady(m, rd);
    if (rd.snapshot !== undefined) {
      const s = rd.snapshot.metadata.index;
      check(s < this.committedTerms.length, `member ${m.id} got a snapshot at ${s} beyond anything applied`);
      m.terms = this.committedTerms.slice(0, s + 1);
      m.hashes = this.committedHashes.slice(0, s + 1);
    }
    this.mirrorEntries(m, rd.entries);
    const messagesSent = this.sendEarly(m, rd);
    let appliedEarly = 0;
    if (rd.snapshot === undefined) {
      const firstNew = rd.entries.length > 0 ? rd.entries[0].index : Infinity;
      const all = this.options.hostBug === 'applyBeforeSync';
      while (appliedEarly < rd.committedEntries.length && (all || rd.committedEntries[appliedEarly].index < firstNew)) {
        this.apply(m, rd.committedEntries[appliedEarly++]);
      }
    }
    m.pending = { rd, appendsSent: messagesSent, appliedEarly, messagesSent: this.options.hostBug === 'sendBeforeSync' };
  }

  /** The fsync returned: the core's storage learns the Ready, then send, apply, advance. */
  private finishReady(m: Member): void {
    const p = m.pending;
    check(p !== undefined, `member ${m.id} has no Ready in flight`);
    m.pending = undefined;
    const rd = p.rd;
    // The README's host loop: one fsync when rd.mustSync.
    if (rd.mustSync) m.disk.sync();
    if (rd.snapshot !== undefined) {
      this.counts.snapshotsInstalled++;
      m.storage.applySnapshot(rd.snapshot);
      m.sm = decodeStateMachine(rd.snapshot);
      m.applied = rd.snapshot.metadata.index;
      m.confState = rd.snapshot.metadata.confState;
    }
    m.storage.append(rd.entries);
    if (rd.hardState !== undefined) m.storage.setHardState(rd.hardState);
    if (!p.messagesSent) for (const msg of rd.messages) if (!p.appendsSent || msg.type !== MessageType.MsgApp) this.send(m, msg);
    for (const rs of rd.readStates) this.recordReadState(m, rs.index, decoder.decode(rs.requestCtx));
    for (let k = p.appliedEarly; k < rd.committedEntries.length; k++) this.apply(m, rd.committedEntries[k]);
    m.node.advance(rd);
  }

  /** Mirrors entries written to the member's log (terms and prefix hashes). */
  private mirrorEntries(m: Member, ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const first = ents[0].index;
    check(first <= m.terms.length, `member ${m.id} appends at ${first} past its end ${m.terms.length - 1}`);
    m.terms.length = first;
    m.hashes.length = first;
    for (const e of ents) {
      m.terms.push(e.term);
      m.hashes.push(mixHash(m.hashes[m.hashes.length - 1], e.term, e.type, e.data));
    }
  }

  private apply(m: Member, e: Entry): void {
    check(e.index === m.applied + 1, `member ${m.id} applies ${e.index} after ${m.applied}`);
    check(e.index < m.hashes.length, `member ${m.id} applies ${e.index} before writing it`);
    check(m.hashes[e.index] === mixHash(m.hashes[e.index - 1], e.term, e.type, e.data), `member ${m.id} applies an entry ${e.index} that is not the one in its log`);
    if (this.options.durabilityChecks !== false) this.checkApplyDurable(m, e);
    const h = m.hashes[e.index];
    if (e.index < this.committedHashes.length) {
      check(
        this.committedHashes[e.index] === h,
        `committed entry ${e.index} changed: member ${m.id} applies term ${e.term}, committed term ${this.committedTerms[e.index]}`,
      );
    } else {
      check(e.index === this.committedHashes.length, `gap in the committed log at ${e.index}`);
      this.committedTerms.push(e.term);
      this.committedHashes.push(h);
      this.committedTermBound.push(m.node.status().term);
      if (e.type === EntryType.ConfChange) this.countConfChange(m.confState, decodeConfChange(e.data));
    }
    m.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      m.confState = m.node.applyConfChange(cc);
      this.note(`${m.id} applies conf change ${cc.type}:${cc.nodeId} at ${e.index} -> voters [${m.confState.voters}] learners [${m.confState.learners}]`);
    } else if (e.data.length > 0) {
      m.sm.values.push(decoder.decode(e.data));
      const k = m.sm.values.length - 1;
      if (k < this.committedValues.length) {
        check(this.committedValues[k] === m.sm.values[k], `member ${m.id} state machine diverges at value ${k}`);
      } else {
        this.committedValues.push(m.sm.values[k]);
      }
    }
  }

  private countConfChange(cs: ConfState, cc: { type: ConfChangeType; nodeId: MemberId }): void {
    const voter = cs.voters.includes(cc.nodeId);
    const learner = cs.learners.includes(cc.nodeId);
    if (cc.type === ConfChangeType.AddNode && learner) this.counts.learnersPromoted++;
    else if (cc.type === ConfChangeType.AddNode && !voter) this.counts.votersAdded++;
    else if (cc.type === ConfChangeType.AddLearnerNode && !voter && !learner) this.counts.learnersAdded++;
    else if (cc.type === ConfChangeType.RemoveNode && (voter || learner)) this.counts.membersRemoved++;
  }

  private recordReadState(m: Member, index: number, ctx: string): void {
    const floor = this.readFloor.get(ctx);
    check(floor !== undefined, `read state for unknown request ${ctx}`);
    check(index >= floor, `ReadIndex ${ctx} at member ${m.id} answered ${index} < commit ${floor} known when asked`);
    this.readStates.get(m.id)!.push({ index, ctx });
  }

  // ------------------------------------------------------------ checks

  maxCommit(): number {
    let c = 0;
    for (const m of this.members.values()) if (!m.crashed) c = Math.max(c, m.node.status().commit);
    return Math.max(c, this.committedTerms.length - 1);
  }

  /** The member that is leader in the highest term, if any (live members only). */
  leader(): MemberId | undefined {
    let best: Member | undefined;
    let bestTerm = -1;
    for (const m of this.live()) {
      const st = m.node.status();
      if (st.state === StateType.Leader && st.term > bestTerm) {
        best = m;
        bestTerm = st.term;
      }
    }
    return best?.id;
  }

  committedLength(): number {
    return this.committedTerms.length - 1;
  }

  values(): readonly string[] {
    return this.committedValues;
  }

  checkSafety(): void {
    const members = [...this.members.values()];
    const appliedEnd = this.committedTerms.length - 1;

    for (const m of members) {
      if (m.crashed) continue;
      const st = m.node.status();
      if (st.state !== StateType.Leader) continue;
      const prev = this.leaderOfTerm.get(st.term);
      check(prev === undefined || prev === m.id, `two leaders in term ${st.term}: ${prev} and ${m.id}`);
      this.leaderOfTerm.set(st.term, m.id);
      // Leader completeness: entries committed in an earlier term are in this leader's log.
      let i = appliedEnd;
      while (i > 0 && this.committedTermBound[i] >= st.term) i--;
      check(
        m.lastIndex() >= i && m.hashes[i] === this.committedHashes[i],
        `leader ${m.id} of term ${st.term} lacks entries up to ${i} committed in earlier terms (last ${m.lastIndex()})`,
      );
    }
    for (let a = 0; a < members.length; a++) {
      for (let b = a + 1; b < members.length; b++) this.checkLogMatching(members[a], members[b]);
    }
  }

  private checkLogMatching(a: Member, b: Member): void {
    for (let i = Math.min(a.lastIndex(), b.lastIndex()); i > 0; i--) {
      if (a.terms[i] !== b.terms[i]) continue;
      check(a.hashes[i] === b.hashes[i], `log matching violated between ${a.id} and ${b.id} at index ${i} (term ${a.terms[i]})`);
      return;
    }
  }
}

function decodeStateMachine(snap: Snapshot): StateMachine {
  if (snap.data.length === 0) return { values: [] };
  return { values: JSON.parse(decoder.decode(snap.data)) as string[] };
}

