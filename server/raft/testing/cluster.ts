/**
 * A whole Raft cluster in one process for tests: RawNodes over MemoryStorage, a miniature host loop
 * (persist → send → apply → advance), the in-process Network, crash/restart, snapshots, and the
 * safety checkers run after every action:
 * - election safety: at most one leader per term (Raft §5.2);
 * - log matching: logs that agree on an entry's term agree on every entry up to it (§5.3);
 * - committed entries never change, and every member applies the same sequence (§5.4.3);
 * - leader completeness: a leader holds every entry committed in an earlier term (§5.4.1);
 * - ReadIndex: a read point covers every commit known anywhere when the read was asked (§8).
 * A violation throws with a description; the caller adds the seed.
 */
import { decodeConfChange } from '../confchange';
import { ProposalDroppedError } from '../errors';
import { Random, seededRandom } from '../random';
import { RawNode } from '../rawnode';
import { MemoryStorage } from '../storage';
import { ConfState, Entry, EntryType, MemberId, Message, MessageType, Ready, Snapshot, StateType } from '../types';
import { Network, NetworkFaults, NO_FAULTS } from './network';

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
}

export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
}

function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new InvariantViolation(msg);
}

/** FNV-1a over a string, mixed into a running hash: the prefix hash of a log. */
function mixHash(prev: number, term: number, type: EntryType, data: Uint8Array): number {
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
  readonly storage: MemoryStorage;
  node: RawNode;
  crashed = false;
  /** With asynchronous persistence: the Ready being persisted, and whether its appends went out. */
  pending: { rd: Ready; appendsSent: boolean } | undefined = undefined;
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
    if (last === 0) return;
    check(m.storage.firstIndex() === 1, 'preloaded logs must not be compacted');
    this.persistEntries(m, m.storage.entries(1, last + 1));
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

  crash(id: MemberId): void {
    const m = this.member(id);
    m.crashed = true;
    m.pending = undefined;
    this.note(`${id} crashes`);
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
      const rd = m.node.ready();
      if (!this.changesTermOrVote(m, rd) && m.node.status().state === StateType.Leader) {
        for (const msg of rd.messages) if (msg.type === MessageType.MsgApp) this.network.send(msg);
      }
    }
    this.note(`${id} crashes during a Ready`);
    this.crash(id);
  }

  private changesTermOrVote(m: Member, rd: Ready): boolean {
    if (rd.hardState === undefined) return false;
    const stored = m.storage.initialState().hardState;
    return rd.hardState.term !== stored.term || rd.hardState.vote !== stored.vote;
  }

  /** Restarts from what was persisted; the state machine restarts from the storage's snapshot. */
  restart(id: MemberId): void {
    const m = this.member(id);
    const snap = m.storage.snapshot();
    m.sm = decodeStateMachine(snap);
    m.applied = snap.metadata.index;
    m.confState = snap.metadata.confState;
    m.node = this.newNode(id, m.storage, m.applied, m.random);
    m.crashed = false;
    this.note(`${id} restarts from snapshot ${snap.metadata.index}, hard state ${JSON.stringify(m.storage.initialState().hardState, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}`);
    this.processReadies();
  }

  /** Takes a snapshot at the applied index and compacts the log up to it. */
  snapshotAndCompact(id: MemberId): boolean {
    const m = this.member(id);
    if (m.crashed || m.applied <= m.storage.snapshot().metadata.index) return false;
    m.storage.createSnapshot(m.applied, m.confState, encoder.encode(JSON.stringify(m.sm.values)));
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
        const rd = m.node.ready();
        if (this.asyncPersist) {
          // The fsync runs while the member keeps stepping messages; a leader may send its
          // appends at once (thesis §10.2.1) unless the Ready changes term or vote.
          const appendsSent = !this.changesTermOrVote(m, rd) && m.node.status().state === StateType.Leader;
          if (appendsSent) for (const msg of rd.messages) if (msg.type === MessageType.MsgApp) this.network.send(msg);
          m.pending = { rd, appendsSent };
        } else {
          progress = true;
          this.handleReady(m, rd, false);
        }
      }
    }
    this.checkSafety();
  }

  /** When set, Readies are persisted later, by `completeReady`, while the member keeps running. */
  asyncPersist = false;

  /** The member's pending fsync completes: persist, send, apply, advance. */
  completeReady(id: MemberId): boolean {
    const m = this.member(id);
    if (m.crashed || m.pending === undefined) return false;
    const { rd, appendsSent } = m.pending;
    m.pending = undefined;
    this.handleReady(m, rd, appendsSent);
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

  private handleReady(m: Member, rd: Ready, appendsSent: boolean): void {
    if (this.trace !== undefined) {
      const st = m.node.status();
      if (rd.softState !== undefined) this.note(`${m.id} ${StateType[rd.softState.state]} term ${st.term} lead ${rd.softState.lead} last ${m.lastIndex()}`);
      if (rd.snapshot !== undefined) this.note(`${m.id} restores snapshot ${rd.snapshot.metadata.index}/${rd.snapshot.metadata.term} voters [${rd.snapshot.metadata.confState.voters}]`);
      if (rd.entries.length > 0) this.note(`${m.id} persists [${rd.entries.map((e) => `${e.index}/${e.term}`).join(' ')}]`);
      if (rd.committedEntries.length > 0) this.note(`${m.id} applies up to ${rd.committedEntries[rd.committedEntries.length - 1].index} (term ${st.term})`);
    }
    if (rd.snapshot !== undefined) this.persistSnapshot(m, rd.snapshot);
    this.persistEntries(m, rd.entries);
    if (rd.hardState !== undefined) m.storage.setHardState(rd.hardState);
    for (const msg of rd.messages) if (!appendsSent || msg.type !== MessageType.MsgApp) this.network.send(msg);
    for (const rs of rd.readStates) this.recordReadState(m, rs.index, decoder.decode(rs.requestCtx));
    for (const e of rd.committedEntries) this.apply(m, e);
    m.node.advance(rd);
  }

  private persistSnapshot(m: Member, snap: Snapshot): void {
    const s = snap.metadata.index;
    check(s < this.committedTerms.length, `member ${m.id} got a snapshot at ${s} beyond anything applied`);
    m.storage.applySnapshot(snap);
    m.terms = this.committedTerms.slice(0, s + 1);
    m.hashes = this.committedHashes.slice(0, s + 1);
    m.sm = decodeStateMachine(snap);
    m.applied = s;
    m.confState = snap.metadata.confState;
  }

  private persistEntries(m: Member, ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    m.storage.append(ents);
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
    check(e.index < m.hashes.length, `member ${m.id} applies ${e.index} before persisting it`);
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

