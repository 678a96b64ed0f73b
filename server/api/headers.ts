/**
 * The `ResponseHeader` every answer carries: cluster ID, member ID, revision and Raft term. The
 * 64-bit IDs are converted once per member, not per response.
 */
import { fromBigInt, type etcdserverpb as pb, type Long } from '../../proto';

/** What a header needs of the member. */
export interface HeaderMember {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  /** The current Raft term. */
  readonly term: number;
}

export class ResponseHeaders {
  private readonly clusterId: Long;
  private readonly memberId: Long;

  constructor(private readonly member: HeaderMember) {
    this.clusterId = fromBigInt(member.clusterId, true);
    this.memberId = fromBigInt(member.memberId, true);
  }

  /** A header at `revision`; 0 leaves the revision out, as etcd's cluster responses do. */
  header(revision: number): pb.IResponseHeader {
    return revision === 0
      ? { clusterId: this.clusterId, memberId: this.memberId, raftTerm: this.member.term }
      : { clusterId: this.clusterId, memberId: this.memberId, revision, raftTerm: this.member.term };
  }
}
