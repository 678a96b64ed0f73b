/**
 * The members as `member list` shows them: the membership the cluster was bootstrapped with, plus
 * the attributes each member publishes through Raft once it runs (its name and client URLs), as etcd
 * members publish theirs. Applied attributes are kept in the store's `members` meta record, in the
 * same batch as the consistent index, so a restart sees what the applied log says.
 */
import { cairnpb, fromBigInt, toBigInt } from '../../proto';
import type { MvccStore } from '../mvcc/types';
import type { Logger } from '../log';
import type { MemberInfo } from './member';

type Attributes = Record<string, { name: string; clientUrls: string[] }>;

/** How long a member waits before proposing its attributes again when a proposal failed. */
const PUBLISH_RETRY_MS = 1000;

export class Membership {
  private attributes: Attributes;

  constructor(
    private readonly store: Pick<MvccStore, 'putMetaRecord' | 'metaRecord'>,
    /** The member's list, updated in place (the Member's `members`). */
    private readonly members: MemberInfo[],
  ) {
    const record = store.metaRecord('members');
    this.attributes = record === undefined ? {} : (JSON.parse(Buffer.from(record).toString('utf8')) as Attributes);
    for (const [idHex, a] of Object.entries(this.attributes)) this.overlay(BigInt('0x' + idHex), a.name, a.clientUrls);
  }

  /** Applies a ClusterMemberAttrSetRequest from the log (on every member, in log order). */
  apply(req: cairnpb.IClusterMemberAttrSetRequest): Record<string, never> {
    const id = toBigInt(req.memberId);
    const name = req.memberAttributes?.name ?? '';
    const clientUrls = [...(req.memberAttributes?.clientUrls ?? [])];
    this.attributes = { ...this.attributes, [id.toString(16)]: { name, clientUrls } };
    this.store.putMetaRecord('members', Buffer.from(JSON.stringify(this.attributes)));
    this.overlay(id, name, clientUrls);
    return {};
  }

  private overlay(id: bigint, name: string, clientUrls: string[]): void {
    const i = this.members.findIndex((m) => m.id === id);
    if (i >= 0) this.members[i] = { ...this.members[i]!, name, clientUrls };
  }
}

/** What publishing needs of the member. */
export interface PublishingMember {
  readonly memberId: bigint;
  readonly leader: bigint;
  newRequestId(): number;
  propose(requestId: number, data: Uint8Array): Promise<unknown>;
}

/**
 * Proposes this member's name and client URLs through Raft until one proposal is applied (as etcd's
 * publish): every member then lists them. Returns a function that stops trying.
 */
export function publishAttributes(opts: { member: PublishingMember; name: string; clientUrls: readonly string[]; log: Logger }): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
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
      () => opts.log.info({ name: opts.name, clientUrls: opts.clientUrls }, 'published local member to cluster through raft'),
      (err) => {
        opts.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'failed to publish local member attributes; retrying');
        if (!stopped) timer = setTimeout(attempt, PUBLISH_RETRY_MS);
      },
    );
  };
  attempt();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}
