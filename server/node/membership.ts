/**
 * The cluster's members as `member list` shows them, kept by applying the log in order on every
 * member (etcd's RaftCluster): membership changes (ConfChange entries, whose context names the
 * member) and the attributes each member publishes once it runs (its name and client URLs). The
 * state is kept in the store's `members` meta record, in the same batch as the consistent index, so
 * a restart — or a Raft snapshot — carries exactly what the applied log says.
 *
 * Validation at apply time is deterministic (it reads only this state), so every member accepts or
 * refuses a change alike; a refused change is not applied to Raft's configuration either.
 */
import { cairnpb, fromBigInt, toBigInt } from '../../proto';
import { ConfChangeType, type ConfChange, type ConfState } from '../raft/types';
import { EtcdError } from '../errors';
import type { MvccStore } from '../mvcc/types';
import type { Logger } from '../log';
import type { MemberInfo } from './member';
import type { RemoteMember } from '../transport/members-client';

/**
 * A member as JSON holds it (IDs in hex): in the store's record, a ConfChange context, and the
 * member list one member gives another (the transport's `GET /members`, forwarded promotions).
 */
export type StoredMember = RemoteMember;

interface MembershipRecord {
  version: 2;
  members: StoredMember[];
  removed: string[];
}

/** Session 1 stores kept only the published attributes, by member ID. */
type LegacyAttributes = Record<string, { name: string; clientUrls: string[] }>;

/** What a ConfChange entry's context carries: the proposer's request ID and the member. */
export interface ConfChangeContext {
  requestId: number;
  member?: StoredMember;
}

export function encodeConfChangeContext(requestId: number, member: MemberInfo | undefined): Uint8Array {
  const ctx: ConfChangeContext = { requestId, ...(member !== undefined ? { member: toStored(member) } : {}) };
  return Buffer.from(JSON.stringify(ctx), 'utf8');
}

export function decodeConfChangeContext(context: Uint8Array): ConfChangeContext | undefined {
  if (context.length === 0) return undefined;
  return JSON.parse(Buffer.from(context).toString('utf8')) as ConfChangeContext;
}

export function toStored(m: MemberInfo): StoredMember {
  return { id: m.id.toString(16), name: m.name, peerUrls: [...m.peerUrls], clientUrls: [...m.clientUrls], isLearner: m.isLearner };
}

export function fromStored(m: StoredMember): MemberInfo {
  return { id: BigInt('0x' + m.id), name: m.name, peerUrls: [...m.peerUrls], clientUrls: [...m.clientUrls], isLearner: m.isLearner };
}

/** Members in ID order, as etcd lists them. */
export function sortedById(members: readonly MemberInfo[]): MemberInfo[] {
  return [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Told of every change to the member list, in log order (the peer transport follows it). */
export interface MembershipListener {
  added(m: MemberInfo): void;
  updated(m: MemberInfo): void;
  removed(id: bigint): void;
}

/** What applying a membership change answers to its proposer. */
export interface ConfChangeResult {
  readonly member: MemberInfo | undefined;
  readonly members: MemberInfo[];
}

export class Membership {
  private readonly removedIds = new Set<bigint>();
  listener: MembershipListener | undefined;

  constructor(
    private readonly store: Pick<MvccStore, 'putMetaRecord' | 'metaRecord'>,
    /** The member's list, updated in place (the Member's `members`). */
    private readonly members: MemberInfo[],
    /** Peer URLs of members known from outside the log (a joining member's fetched list). */
    private readonly directory: ReadonlyMap<bigint, MemberInfo> = new Map(),
  ) {
    this.load();
  }

  /** Raft's configuration as this list has it. */
  confState(): ConfState {
    return { voters: this.members.filter((m) => !m.isLearner).map((m) => m.id), learners: this.members.filter((m) => m.isLearner).map((m) => m.id) };
  }

  /** True when the store holds a member list (anything was applied). */
  get stored(): boolean {
    const record = this.store.metaRecord('members');
    return record !== undefined && (JSON.parse(Buffer.from(record).toString('utf8')) as { version?: number }).version === 2;
  }

  /** The members, in ID order (as etcd lists them). */
  list(): MemberInfo[] {
    return sortedById(this.members);
  }

  isRemoved(id: bigint): boolean {
    return this.removedIds.has(id);
  }

  get(id: bigint): MemberInfo | undefined {
    return this.members.find((m) => m.id === id);
  }

  /** Reads the list from the store again (it was replaced by a snapshot), telling the listener what changed. */
  reload(): void {
    const before = new Map(this.members.map((m) => [m.id, m]));
    this.load();
    for (const m of this.members) {
      const was = before.get(m.id);
      if (was === undefined) this.listener?.added(m);
      else if (was.peerUrls.join(',') !== m.peerUrls.join(',')) this.listener?.updated(m);
      before.delete(m.id);
    }
    for (const id of before.keys()) this.listener?.removed(id);
  }

  private load(): void {
    const record = this.store.metaRecord('members');
    if (record === undefined) return;
    const parsed = JSON.parse(Buffer.from(record).toString('utf8')) as MembershipRecord | LegacyAttributes;
    if ((parsed as MembershipRecord).version === 2) {
      const r = parsed as MembershipRecord;
      this.members.splice(0, this.members.length, ...r.members.map(fromStored));
      this.removedIds.clear();
      for (const id of r.removed) this.removedIds.add(BigInt('0x' + id));
      return;
    }
    for (const [idHex, a] of Object.entries(parsed as LegacyAttributes)) this.setAttributes(BigInt('0x' + idHex), a.name, a.clientUrls);
  }

  private persist(): void {
    const record: MembershipRecord = { version: 2, members: this.members.map(toStored), removed: [...this.removedIds].map((id) => id.toString(16)) };
    this.store.putMetaRecord('members', Buffer.from(JSON.stringify(record)));
  }

  /** Applies a ClusterMemberAttrSetRequest from the log (on every member, in log order). */
  apply(req: cairnpb.IClusterMemberAttrSetRequest): Record<string, never> {
    const id = toBigInt(req.memberId);
    this.setAttributes(id, req.memberAttributes?.name ?? '', [...(req.memberAttributes?.clientUrls ?? [])]);
    this.persist();
    return {};
  }

  private setAttributes(id: bigint, name: string, clientUrls: string[]): void {
    const i = this.members.findIndex((m) => m.id === id);
    if (i >= 0) this.members[i] = { ...this.members[i]!, name, clientUrls };
  }

  /**
   * Checks a change against the current list (etcd's ValidateConfigurationChange); the proposer
   * checks before proposing, and every member again when it applies.
   * @throws EtcdError MemberNotFound (also for a removed ID), MemberExist, PeerURLExist, MemberNotLearner, TooManyLearners
   */
  validate(cc: ConfChange, member: MemberInfo | undefined): void {
    const existing = this.get(cc.nodeId);
    // etcd answers a removed ID as not found.
    if (this.removedIds.has(cc.nodeId)) throw new EtcdError('MemberNotFound');
    switch (cc.type) {
      case ConfChangeType.AddNode:
        if (existing !== undefined) {
          // A promotion: AddNode of a learner.
          if (!existing.isLearner) throw new EtcdError('MemberNotLearner');
          return;
        }
        this.checkPeerUrls(cc.nodeId, member);
        return;
      case ConfChangeType.AddLearnerNode:
        if (existing !== undefined) throw new EtcdError('MemberExist');
        if (this.members.filter((m) => m.isLearner).length >= MAX_LEARNERS) throw new EtcdError('TooManyLearners');
        this.checkPeerUrls(cc.nodeId, member);
        return;
      case ConfChangeType.RemoveNode:
        if (existing === undefined) throw new EtcdError('MemberNotFound');
        return;
      case ConfChangeType.UpdateNode:
        if (existing === undefined) throw new EtcdError('MemberNotFound');
        this.checkPeerUrls(cc.nodeId, member);
        return;
    }
  }

  private checkPeerUrls(id: bigint, member: MemberInfo | undefined): void {
    const wanted = new Set(member?.peerUrls ?? []);
    for (const m of this.members) {
      if (m.id === id) continue;
      if (m.peerUrls.some((u) => wanted.has(u))) throw new EtcdError('PeerURLExist');
    }
  }

  /**
   * Applies a committed ConfChange entry's membership change (before Raft's configuration takes it).
   * The entries a new cluster starts with carry no context: they name members already listed (or,
   * on a member that joined later and replays them, members it knows from the list it fetched).
   * @throws EtcdError when the change is not valid here (then Raft's configuration keeps it out too)
   */
  applyConfChange(cc: ConfChange, log?: Logger): ConfChangeResult {
    const ctx = decodeConfChangeContext(cc.context);
    if (ctx === undefined) {
      this.applyBootstrapChange(cc);
      return { member: this.get(cc.nodeId), members: this.list() };
    }
    const member = ctx.member !== undefined ? fromStored(ctx.member) : undefined;
    this.validate(cc, member);
    const existing = this.get(cc.nodeId);
    let result: MemberInfo | undefined;
    switch (cc.type) {
      case ConfChangeType.AddNode:
      case ConfChangeType.AddLearnerNode:
        if (existing !== undefined) {
          result = { ...existing, isLearner: false };
          this.replace(result);
          log?.info({ member: cc.nodeId.toString(16) }, 'promoted learner member to voting member');
        } else {
          result = { id: cc.nodeId, name: member?.name ?? '', peerUrls: [...(member?.peerUrls ?? [])], clientUrls: [], isLearner: cc.type === ConfChangeType.AddLearnerNode };
          this.members.push(result);
          log?.info({ member: cc.nodeId.toString(16), peerUrls: result.peerUrls, isLearner: result.isLearner }, 'added member');
          this.listener?.added(result);
        }
        break;
      case ConfChangeType.RemoveNode:
        result = existing;
        this.members.splice(this.members.indexOf(existing!), 1);
        this.removedIds.add(cc.nodeId);
        log?.info({ member: cc.nodeId.toString(16) }, 'removed member');
        this.listener?.removed(cc.nodeId);
        break;
      case ConfChangeType.UpdateNode:
        result = { ...existing!, peerUrls: [...(member?.peerUrls ?? [])] };
        this.replace(result);
        log?.info({ member: cc.nodeId.toString(16), peerUrls: result.peerUrls }, 'updated member peer URLs');
        this.listener?.updated(result);
        break;
    }
    this.persist();
    return { member: result, members: this.list() };
  }

  private applyBootstrapChange(cc: ConfChange): void {
    const existing = this.get(cc.nodeId);
    if (existing !== undefined || cc.type === ConfChangeType.RemoveNode || cc.type === ConfChangeType.UpdateNode) return;
    const known = this.directory.get(cc.nodeId);
    const m: MemberInfo = { id: cc.nodeId, name: known?.name ?? '', peerUrls: [...(known?.peerUrls ?? [])], clientUrls: [], isLearner: cc.type === ConfChangeType.AddLearnerNode };
    this.members.push(m);
    this.persist();
    if (m.peerUrls.length > 0) this.listener?.added(m);
  }

  private replace(m: MemberInfo): void {
    const i = this.members.findIndex((x) => x.id === m.id);
    this.members[i] = m;
  }
}

/** etcd 3.4 allows one learner at a time. */
const MAX_LEARNERS = 1;

/** How long a member waits before proposing its attributes again when a proposal failed. */
const PUBLISH_RETRY_MS = 1000;

/** What publishing needs of the member. */
export interface PublishingMember {
  readonly memberId: bigint;
  readonly leader: bigint;
  newRequestId(): number;
  propose(requestId: number, data: Uint8Array): Promise<unknown>;
}

/**
 * Proposes this member's name and client URLs through Raft until one proposal is applied (as etcd's
 * publish): every member then lists them. `published` resolves once it is applied (as etcd's
 * ReadyNotify); `stop` stops trying.
 */
export function publishAttributes(opts: { member: PublishingMember; name: string; clientUrls: readonly string[]; log: Logger }): { stop: () => void; published: Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let markPublished!: () => void;
  const published = new Promise<void>((resolve) => (markPublished = resolve));
  const attempt = (): void => {
    timer = undefined;
    if (stopped) return;
    if (opts.member.leader === 0n) {
      timer = setTimeout(attempt, PUBLISH_RETRY_MS / 4);
      return;
    }
    const id = opts.member.newRequestId();
    const data = cairnpb.InternalRequest.encode({
      id,
      clusterMemberAttrSet: { memberId: fromBigInt(opts.member.memberId, true), memberAttributes: { name: opts.name, clientUrls: [...opts.clientUrls] } },
    }).finish();
    opts.member.propose(id, data).then(
      () => {
        opts.log.info({ name: opts.name, clientUrls: opts.clientUrls }, 'published local member to cluster through raft');
        markPublished();
      },
      (err) => {
        opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'failed to publish local member attributes; retrying');
        if (!stopped) timer = setTimeout(attempt, PUBLISH_RETRY_MS);
      },
    );
  };
  attempt();
  return {
    stop: () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
    published,
  };
}
