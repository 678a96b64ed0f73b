/**
 * The etcdserverpb.Lease gRPC service as the member thread serves it (etcd 3.4's v3rpc/lease.go
 * over etcdserver/v3_server.go): Grant and Revoke go through Raft; KeepAlive renews on the leader
 * without Raft; TimeToLive and Leases read the leader's lessor.
 *
 * Answers as etcd's: a keep-alive of an unknown lease answers TTL 0; TimeToLive of an unknown lease
 * answers TTL -1; grant without an ID gets a server-chosen positive one.
 */
import * as protobuf from 'protobufjs/minimal';
import { cairnpb, etcdserverpb as pb, fromBigInt, toBigInt } from '../../proto';
import type { CallHandler, MemberStream, Reply, StreamHandler } from '../api/bridge';
import { EtcdError, toGrpcStatus } from '../errors';
import type { Logger } from '../log';
import { LeaseNotFoundError, LeaseTTLTooLargeError } from './errors';
import { MAX_LEASE_TTL_SEC, type Lessor } from './lessor';
import { MalformedRequestError, decodeRequest } from '../api/request';
import { ResponseHeaders } from '../api/headers';

const STATUS_OK = 0;
/** InternalRequest field numbers (proto/cairn.proto). */
const FIELD = { leaseGrant: 8, leaseRevoke: 9, leaseCheckpoint: 11 } as const;

/** What the lease service needs of the Raft member. */
export interface LeaseMember {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly term: number;
  readonly isLeader: boolean;
  newRequestId(): number;
  propose(requestId: number, data: Uint8Array): Promise<unknown>;
}

export interface LeaseServiceOptions {
  readonly member: LeaseMember;
  readonly lessor: Lessor;
  /** The KV store's current revision, for response headers. */
  readonly currentRevision: () => number;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  readonly maxRequestBytes: number;
  readonly log: Logger;
}

/** A bidi method for buildServices' streaming list. */
export interface LeaseStreamingMethod {
  readonly path: string;
  readonly kind: 'bidi';
  readonly handler: StreamHandler;
}

/**
 * Server-chosen lease IDs, shaped as etcd's request ID generator: the member ID's low 16 bits, then
 * a 48-bit counter started from the clock (ms << 8), so IDs do not repeat across restarts; the top
 * bit is cleared so the ID is a positive int64.
 */
export class LeaseIdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  constructor(memberId: bigint, nowMs: number) {
    this.prefix = (memberId & 0xffffn) << 48n;
    this.suffix = (BigInt(nowMs) << 8n) & 0xffff_ffff_ffffn;
  }

  next(): bigint {
    this.suffix = (this.suffix + 1n) & 0xffff_ffff_ffffn;
    const id = (this.prefix | this.suffix) & ((1n << 63n) - 1n);
    return id === 0n ? this.next() : id;
  }
}

export class LeaseService {
  private readonly member: LeaseMember;
  private readonly lessor: Lessor;
  private readonly log: Logger;
  private readonly ids: LeaseIdGenerator;
  private readonly headers: ResponseHeaders;

  /** The unary methods, for buildServices' table. */
  readonly unaryMethods: readonly (readonly [string, CallHandler])[];
  readonly keepAliveMethod: LeaseStreamingMethod;

  constructor(private readonly opts: LeaseServiceOptions) {
    this.member = opts.member;
    this.lessor = opts.lessor;
    this.log = opts.log;
    this.ids = new LeaseIdGenerator(opts.member.memberId, opts.clock());
    this.headers = new ResponseHeaders(opts.member);
    this.unaryMethods = [
      ['/etcdserverpb.Lease/LeaseGrant', this.grant],
      ['/etcdserverpb.Lease/LeaseRevoke', this.revoke],
      ['/etcdserverpb.Lease/LeaseTimeToLive', this.timeToLive],
      ['/etcdserverpb.Lease/LeaseLeases', this.leases],
    ];
    this.keepAliveMethod = { path: '/etcdserverpb.Lease/LeaseKeepAlive', kind: 'bidi', handler: this.keepAlive };
  }

  private header(): pb.IResponseHeader {
    return this.headers.header(this.opts.currentRevision());
  }

  private status(err: unknown): { status: number; message: string } {
    if (err instanceof MalformedRequestError) return { status: err.grpcStatus, message: err.message };
    const mapped = toGrpcStatus(err);
    if (mapped.kind === undefined) this.log.error({ err }, 'lease request failed with an unexpected error');
    return { status: mapped.code, message: mapped.message };
  }

  private guard(reply: Reply, body: () => void): void {
    try {
      body();
    } catch (err) {
      const e = this.status(err);
      reply(e.status, undefined, e.message);
    }
  }

  /** The leader's lessor, or NoLeader: renewals and reads are served by the leader only. */
  private primaryLessor(): Lessor {
    if (!this.member.isLeader || !this.lessor.isPrimary) throw new EtcdError('NoLeader');
    return this.lessor;
  }

  /** Proposes `request` as InternalRequest field `field` and answers with `answer(result)`. */
  private propose(field: number, request: Uint8Array, reply: Reply, answer: (result: unknown) => Uint8Array): void {
    const id = this.member.newRequestId();
    const data = protobuf.Writer.create().uint32(8).uint64(id).uint32((field << 3) | 2).bytes(request).finish();
    if (data.length > this.opts.maxRequestBytes) throw new EtcdError('RequestTooLarge');
    this.member.propose(id, data).then(
      (result) => this.guard(reply, () => reply(STATUS_OK, answer(result))),
      (err) => this.guard(reply, () => {
        throw err;
      }),
    );
  }

  /** Fills the apply result's header (cluster, member, term) and encodes it. */
  private withHeader<T extends { header?: pb.IResponseHeader | null }>(resp: T): T {
    const revision = resp.header?.revision ?? this.opts.currentRevision();
    resp.header = { ...this.header(), revision };
    return resp;
  }

  readonly grant: CallHandler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.LeaseGrantRequest, bytes);
      const ttl = toBigInt(req.TTL ?? 0);
      if (ttl > BigInt(MAX_LEASE_TTL_SEC)) throw new LeaseTTLTooLargeError(ttl);
      let id = toBigInt(req.ID ?? 0);
      if (id === 0n) id = this.ids.next();
      const request = pb.LeaseGrantRequest.encode({ TTL: req.TTL ?? 0, ID: fromBigInt(id, false) }).finish();
      this.propose(FIELD.leaseGrant, request, reply, (r) => pb.LeaseGrantResponse.encode(this.withHeader(r as pb.ILeaseGrantResponse)).finish());
    });

  readonly revoke: CallHandler = (bytes, reply) =>
    this.guard(reply, () => {
      decodeRequest(pb.LeaseRevokeRequest, bytes);
      this.propose(FIELD.leaseRevoke, bytes, reply, (r) => pb.LeaseRevokeResponse.encode(this.withHeader(r as pb.ILeaseRevokeResponse)).finish());
    });

  readonly timeToLive: CallHandler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.LeaseTimeToLiveRequest, bytes);
      const id = toBigInt(req.ID ?? 0);
      const lessor = this.primaryLessor();
      const lease = lessor.lookup(id);
      const resp: pb.ILeaseTimeToLiveResponse = { header: this.header(), ID: fromBigInt(id, false) };
      if (lease === undefined) {
        resp.TTL = -1;
      } else {
        resp.TTL = lessor.remainingTtlSec(lease, this.opts.clock());
        resp.grantedTTL = lease.ttlSec;
        if (req.keys === true) resp.keys = lease.sortedKeys();
      }
      reply(STATUS_OK, pb.LeaseTimeToLiveResponse.encode(resp).finish());
    });

  readonly leases: CallHandler = (bytes, reply) =>
    this.guard(reply, () => {
      decodeRequest(pb.LeaseLeasesRequest, bytes);
      const leases = this.primaryLessor()
        .leases()
        .map((l) => ({ ID: fromBigInt(l.id, false) }));
      reply(STATUS_OK, pb.LeaseLeasesResponse.encode({ header: this.header(), leases }).finish());
    });

  /**
   * One renewal per request, one answer per renewal, in order. While the client is not reading
   * (the stream is not writable) renewals still happen but their answers are dropped: a client
   * sends its next keep-alive anyway, and nothing grows without bound.
   */
  readonly keepAlive: StreamHandler = (stream: MemberStream) => {
    stream.onMessage((bytes) => {
      if (stream.ended) return;
      let answer: Uint8Array;
      try {
        const req = decodeRequest(pb.LeaseKeepAliveRequest, bytes);
        answer = this.renew(toBigInt(req.ID ?? 0));
      } catch (err) {
        const e = this.status(err);
        stream.end(e.status, e.message);
        return;
      }
      if (stream.writable) stream.send(answer);
    });
    stream.onHalfClose(() => stream.end());
  };

  private renew(id: bigint): Uint8Array {
    const lessor = this.primaryLessor();
    let ttlSec = 0;
    try {
      const renewed = lessor.renew(id, this.opts.clock());
      ttlSec = renewed.ttlSec;
      if (renewed.clearCheckpoint) this.proposeCheckpointClear(id);
    } catch (err) {
      if (!(err instanceof LeaseNotFoundError)) throw err;
    }
    const resp: pb.ILeaseKeepAliveResponse = { header: this.header(), ID: fromBigInt(id, false), TTL: ttlSec };
    return pb.LeaseKeepAliveResponse.encode(resp).finish();
  }

  /** etcd: a renewal clears a checkpointed remaining TTL through the log (checkpoint of 0). */
  private proposeCheckpointClear(id: bigint): void {
    const requestId = this.member.newRequestId();
    const data = cairnpb.InternalRequest.encode({ id: requestId, leaseCheckpoint: { checkpoints: [{ ID: fromBigInt(id, false), remaining_TTL: 0 }] } }).finish();
    this.member.propose(requestId, data).catch((err) => this.log.warn({ err, lease: id.toString(16) }, 'failed to clear a lease checkpoint'));
  }
}
