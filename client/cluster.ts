/**
 * The Cluster service: members, add/remove/update/promote.
 */
import { etcdserverpb as pb } from '../proto/index';
import { CallOptions, Connection, RPC } from './connection';
import { InvalidArgumentError } from './errors';
import { ResponseHeader, big, toHeader } from './types';
import { fromBigInt } from '../proto/index';

/**
 * One member of the cluster.
 * @example for (const m of await client.cluster.memberList()) console.log(m.id.toString(16), m.name);
 */
export interface Member {
  readonly id: bigint;
  /** Empty for a member that was added but has not started yet. */
  readonly name: string;
  readonly peerURLs: string[];
  readonly clientURLs: string[];
  readonly isLearner: boolean;
}

function toMember(m: pb.Member.$Properties): Member {
  return { id: big(m.ID), name: m.name ?? '', peerURLs: m.peerURLs ?? [], clientURLs: m.clientURLs ?? [], isLearner: m.isLearner === true };
}

function memberId(id: bigint): ReturnType<typeof fromBigInt> {
  if (typeof id !== 'bigint' || id <= 0n) throw new InvalidArgumentError('member id must be a positive bigint');
  try {
    return fromBigInt(id, true);
  } catch {
    throw new InvalidArgumentError('member id does not fit in 64 bits');
  }
}

function checkUrls(urls: readonly string[]): string[] {
  if (urls.length === 0) throw new InvalidArgumentError('peerURLs must not be empty');
  for (const u of urls) if (!/^https?:\/\/[^/\s]+$/.test(u)) throw new InvalidArgumentError(`bad peer URL '${u}'`);
  return [...urls];
}

/**
 * Typed wrappers of the Cluster service (`client.cluster`).
 * @example const members = await client.cluster.memberList();
 */
export class Cluster {
  /** @internal */
  constructor(private readonly conn: Connection) {}

  /**
   * Every member. `linearizable: true` reads the list through the leader.
   * @example const [first] = await client.cluster.memberList();
   */
  async memberList(options: { linearizable?: boolean } & CallOptions = {}): Promise<Member[]> {
    const resp = await this.conn.unary<pb.MemberListResponse>(RPC.Cluster.MemberList, { linearizable: options.linearizable === true }, options, 'read');
    return resp.members.map(toMember);
  }

  /**
   * Adds a member (optionally as a learner).
   * @example const { member } = await client.cluster.memberAdd(['http://10.0.0.4:2380']);
   */
  async memberAdd(peerURLs: readonly string[], options: { isLearner?: boolean } & CallOptions = {}): Promise<{ header: ResponseHeader; member: Member; members: Member[] }> {
    const req = { peerURLs: checkUrls(peerURLs), isLearner: options.isLearner === true };
    const resp = await this.conn.unary<pb.MemberAddResponse>(RPC.Cluster.MemberAdd, req, options, 'write');
    return { header: toHeader(resp.header), member: toMember(resp.member ?? {}), members: resp.members.map(toMember) };
  }

  /**
   * Removes a member.
   * @example await client.cluster.memberRemove(id);
   */
  async memberRemove(id: bigint, options: CallOptions = {}): Promise<Member[]> {
    const resp = await this.conn.unary<pb.MemberRemoveResponse>(RPC.Cluster.MemberRemove, { ID: memberId(id) }, options, 'write');
    return resp.members.map(toMember);
  }

  /**
   * Changes a member's peer URLs.
   * @example await client.cluster.memberUpdate(id, ['http://10.0.0.5:2380']);
   */
  async memberUpdate(id: bigint, peerURLs: readonly string[], options: CallOptions = {}): Promise<Member[]> {
    const resp = await this.conn.unary<pb.MemberUpdateResponse>(RPC.Cluster.MemberUpdate, { ID: memberId(id), peerURLs: checkUrls(peerURLs) }, options, 'write');
    return resp.members.map(toMember);
  }

  /**
   * Promotes a learner to a voting member.
   * @example await client.cluster.memberPromote(id);
   */
  async memberPromote(id: bigint, options: CallOptions = {}): Promise<Member[]> {
    const resp = await this.conn.unary<pb.MemberPromoteResponse>(RPC.Cluster.MemberPromote, { ID: memberId(id) }, options, 'write');
    return resp.members.map(toMember);
  }
}
