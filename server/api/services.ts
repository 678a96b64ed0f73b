/**
 * The gRPC services as the member thread runs them: each unary method decodes its request once,
 * validates it (etcd's checks, before anything is proposed), then either proposes it through Raft
 * and answers with the applied result, or serves a read (after a ReadIndex round unless the request
 * is serializable), and encodes the answer with a response header (cluster, member, revision, term).
 */
import * as protobuf from 'protobufjs/minimal';
import { cairnpb, etcdserverpb as pb, fromBigInt, toBigInt, toNumber, type Long } from '../../proto';
import type { MvccStore } from '../mvcc/types';
import type { Member, MemberInfo } from '../node/member';
import type { ClusterControl } from '../node/cluster-control';
import { sortedById } from '../node/membership';
import type { Logger } from '../log';
import { KvApplier } from '../apply/kv';
import type { LeaseApplier } from '../lease/apply';
import { encodeRangeResponse } from '../apply/range-codec';
import { checkDeleteRangeRequest, checkPutRequest, checkRangeRequest, checkTxnRequest } from '../apply/validate';
import { EtcdError, toGrpcStatus } from '../errors';
import { alarmText, type QuotaApplier, type QuotaRequest } from '../apply/quota';
import { STATUS_OK, type MethodHandler, type Reply, type StreamHandler } from './bridge';
import { ETCD_SERVER_VERSION } from '../version';
import { MEMBER_METRICS_PATH } from '../metrics/member-metrics';
import { MalformedRequestError, decodeRequest } from './request';
import { ResponseHeaders } from './headers';

/** InternalRequest field numbers (proto/cairn.proto) of the requests carried in entries. */
const FIELD = { range: 3, put: 4, deleteRange: 5, txn: 6, compaction: 7, alarm: 10 } as const;

export interface ServiceOptions {
  readonly member: Member;
  readonly store: MvccStore;
  readonly applier: KvApplier;
  readonly maxTxnOps: number;
  readonly maxRequestBytes: number;
  readonly log: Logger;
  /** The Lease service's unary methods (server/lease/service.ts); KeepAlive comes as a streaming method. */
  readonly leaseMethods?: readonly (readonly [string, Handler])[];
  /** The member thread's metrics as Prometheus text, served as {@link MEMBER_METRICS_PATH}. */
  readonly metricsText?: () => Promise<string>;
  /** The Lock and Election services' unary methods (server/concurrency/service.ts). */
  readonly concurrencyMethods?: readonly (readonly [string, Handler])[];
  /** The space quota and alarms (server/apply/quota.ts); absent: no quota, no alarms. */
  readonly quota?: QuotaApplier;
  /** Membership changes and leader transfer (server/node/cluster-control.ts); absent: refused. */
  readonly cluster?: ClusterControl;
}

/** A method the member serves: its gRPC path, kind and handler. */
export interface ServedMethod {
  readonly path: string;
  readonly kind: 'unary' | 'server-stream' | 'client-stream' | 'bidi';
  readonly handler: MethodHandler;
}

export interface ServiceTable {
  readonly methods: readonly ServedMethod[];
}

/** Streaming methods served by other modules (watch, lease keep-alive, election observe). */
export interface StreamingMethod {
  readonly path: string;
  readonly kind: 'server-stream' | 'client-stream' | 'bidi';
  readonly handler: StreamHandler;
}

type Handler = (request: Uint8Array, reply: Reply) => void;

/** Builds the handler of every method this member serves. */
export function buildServices(opts: ServiceOptions, streaming: readonly StreamingMethod[] = []): ServiceTable {
  const s = new Services(opts);
  const table: [string, Handler][] = [
    ['/etcdserverpb.KV/Range', s.range],
    ['/etcdserverpb.KV/Put', s.put],
    ['/etcdserverpb.KV/DeleteRange', s.deleteRange],
    ['/etcdserverpb.KV/Txn', s.txn],
    ['/etcdserverpb.KV/Compact', s.compact],
    ['/etcdserverpb.Maintenance/Status', s.status],
    ['/etcdserverpb.Maintenance/Hash', s.hash],
    ['/etcdserverpb.Maintenance/HashKV', s.hashKV],
    ['/etcdserverpb.Maintenance/Alarm', s.alarm],
    ['/etcdserverpb.Maintenance/Defragment', s.defragment],
    ['/etcdserverpb.Maintenance/MoveLeader', s.moveLeader],
    ['/etcdserverpb.Cluster/MemberList', s.memberList],
    ['/etcdserverpb.Cluster/MemberAdd', s.memberAdd],
    ['/etcdserverpb.Cluster/MemberRemove', s.memberRemove],
    ['/etcdserverpb.Cluster/MemberUpdate', s.memberUpdate],
    ['/etcdserverpb.Cluster/MemberPromote', s.memberPromote],
  ];
  for (const [path, h] of opts.leaseMethods ?? []) {
    // LeaseGrant grows the store: the quota is checked before the lease service proposes it.
    table.push([path, path === '/etcdserverpb.Lease/LeaseGrant' ? s.quotaChecked(() => ({ leaseGrant: {} }), h) : h]);
  }
  if (opts.metricsText !== undefined) table.push([MEMBER_METRICS_PATH, s.metrics]);
  for (const [path, h] of opts.concurrencyMethods ?? []) table.push([path, h]);
  const methods: ServedMethod[] = table.map(([path, h]) => ({ path, kind: 'unary', handler: { unary: learnerGuard(opts.member, path, h) } }));
  for (const m of streaming) methods.push({ path: m.path, kind: m.kind, handler: { stream: learnerStreamGuard(opts.member, m.handler) } });
  return { methods };
}

/** Whether this member is a learner now (Raft's configuration as applied). */
function isLearner(member: Member): boolean {
  return member.configuration.learners.includes(member.memberId);
}

/**
 * As etcd 3.4's interceptors: a learner serves Status and serializable Range only; anything else
 * gets "rpc not supported for learner" (the client tries another member).
 */
function learnerGuard(member: Member, path: string, h: Handler): Handler {
  if (path === '/etcdserverpb.Maintenance/Status' || path === MEMBER_METRICS_PATH) return h;
  const learnerRefusal = toGrpcStatus(new EtcdError('NotSupportedForLearner'));
  return (bytes, reply) => {
    if (isLearner(member)) {
      let serializableRange = false;
      if (path === '/etcdserverpb.KV/Range') {
        try {
          serializableRange = pb.RangeRequest.decode(bytes).serializable === true;
        } catch {
          serializableRange = true; // the Range handler answers the malformed request as etcd does
        }
      }
      if (!serializableRange) {
        reply(learnerRefusal.code, undefined, learnerRefusal.message);
        return;
      }
    }
    h(bytes, reply);
  };
}

/** A learner serves no streams (watch, keep-alive, lock, election), as etcd 3.4's stream interceptor. */
function learnerStreamGuard(member: Member, h: StreamHandler): StreamHandler {
  const learnerRefusal = toGrpcStatus(new EtcdError('NotSupportedForLearner'));
  return (call) => {
    if (isLearner(member)) call.end(learnerRefusal.code, learnerRefusal.message);
    else h(call);
  };
}

/** Maps an error to its gRPC status; unknown errors are logged with their cause. */
export function errorStatus(err: unknown, log: Logger): { status: number; message: string } {
  if (err instanceof MalformedRequestError) return { status: err.grpcStatus, message: err.message };
  const mapped = toGrpcStatus(err);
  if (mapped.kind === undefined) log.error({ err }, 'request failed with an unexpected error');
  return { status: mapped.code, message: mapped.message };
}

/** True when every operation of the txn, nested ones included, is a range. */
function isReadOnlyTxn(req: pb.ITxnRequest): boolean {
  const ops = [...(req.success ?? []), ...(req.failure ?? [])];
  return ops.every((op) => op.requestRange != null || (op.requestTxn != null && isReadOnlyTxn(op.requestTxn)));
}

/** True when every range of a read-only txn asks for serializable consistency. */
function isSerializableTxn(req: pb.ITxnRequest): boolean {
  const ops = [...(req.success ?? []), ...(req.failure ?? [])];
  return ops.every((op) => (op.requestRange != null ? op.requestRange.serializable === true : op.requestTxn != null ? isSerializableTxn(op.requestTxn) : true));
}

class Services {
  private readonly member: Member;
  private readonly store: MvccStore;
  private readonly applier: KvApplier;
  private readonly log: Logger;
  private readonly headers: ResponseHeaders;
  /** This member's ID as the Long an AlarmRequest carries. */
  private readonly memberIdLong: Long;

  constructor(private readonly opts: ServiceOptions) {
    this.member = opts.member;
    this.store = opts.store;
    this.applier = opts.applier;
    this.log = opts.log;
    this.headers = new ResponseHeaders(opts.member);
    this.memberIdLong = fromBigInt(opts.member.memberId, true);
  }

  /** A response header; a revision of 0 is left out, as etcd leaves it out of cluster responses. */
  private header(revision: number): pb.IResponseHeader {
    return this.headers.header(revision);
  }

  private fail(reply: Reply, err: unknown): void {
    const e = errorStatus(err, this.log);
    reply(e.status, undefined, e.message);
  }

  /** Wraps a handler body so that a thrown error becomes the call's status. */
  private guard(reply: Reply, body: () => void): void {
    try {
      body();
    } catch (err) {
      this.fail(reply, err);
    }
  }

  /** Proposes `raw` (the request's wire bytes) as InternalRequest field `field`, then answers. */
  private proposeRaw(field: number, raw: Uint8Array, reply: Reply, answer: (result: unknown) => Uint8Array): void {
    const id = this.member.newRequestId();
    const data = protobuf.Writer.create().uint32(8).uint64(id).uint32((field << 3) | 2).bytes(raw).finish();
    if (data.length > this.opts.maxRequestBytes) throw new EtcdError('RequestTooLarge');
    this.member.propose(id, data).then(
      (result) => this.guard(reply, () => reply(STATUS_OK, answer(result))),
      (err) => this.fail(reply, err),
    );
  }

  /**
   * etcd's quota check before proposing: when `r` does not fit, the NOSPACE alarm is raised through
   * Raft, then the call fails with NoSpace. Returns true when the request may be proposed.
   */
  private checkQuota(r: QuotaRequest, reply: Reply): boolean {
    const quota = this.opts.quota;
    if (quota === undefined || quota.quota.available(r)) return true;
    const raise = pb.AlarmRequest.encode({ action: pb.AlarmRequest.AlarmAction.ACTIVATE, memberID: this.memberIdLong, alarm: pb.AlarmType.NOSPACE }).finish();
    const id = this.member.newRequestId();
    const data = protobuf.Writer.create().uint32(8).uint64(id).uint32((FIELD.alarm << 3) | 2).bytes(raise).finish();
    const noSpace = (): void => this.fail(reply, new EtcdError('NoSpace'));
    this.member.propose(id, data).then(noSpace, (err) => {
      this.log.warn({ err }, 'could not raise the NOSPACE alarm');
      noSpace();
    });
    return false;
  }

  /** Wraps another module's handler with the quota check of the request `price` describes. */
  quotaChecked(price: (bytes: Uint8Array) => QuotaRequest, h: Handler): Handler {
    return (bytes, reply) =>
      this.guard(reply, () => {
        if (this.checkQuota(price(bytes), reply)) h(bytes, reply);
      });
  }

  private afterRead(serializable: boolean, reply: Reply, read: () => void): void {
    if (serializable) {
      read();
      return;
    }
    this.member.linearizableRead().then(
      () => this.guard(reply, read),
      (err) => this.fail(reply, err),
    );
  }

  private withHeader<T extends { header?: pb.IResponseHeader | null }>(resp: T): T {
    resp.header = this.header(toNumber(resp.header?.revision ?? this.store.currentRevision));
    return resp;
  }

  readonly range: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.RangeRequest, bytes);
      checkRangeRequest(req);
      this.afterRead(req.serializable === true, reply, () => {
        const result = this.applier.rangeResult(req);
        reply(STATUS_OK, encodeRangeResponse(result, { clusterId: this.member.clusterId, memberId: this.member.memberId, raftTerm: this.member.term }));
      });
    });

  readonly put: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.PutRequest, bytes);
      checkPutRequest(req);
      if (!this.checkQuota({ put: req }, reply)) return;
      this.proposeRaw(FIELD.put, bytes, reply, (r) => pb.PutResponse.encode(this.withHeader(r as pb.PutResponse)).finish());
    });

  readonly deleteRange: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      checkDeleteRangeRequest(decodeRequest(pb.DeleteRangeRequest, bytes));
      this.proposeRaw(FIELD.deleteRange, bytes, reply, (r) => pb.DeleteRangeResponse.encode(this.withHeader(r as pb.DeleteRangeResponse)).finish());
    });

  readonly txn: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.TxnRequest, bytes);
      checkTxnRequest(req, this.opts.maxTxnOps);
      if (isReadOnlyTxn(req)) {
        // As etcd: a txn that only reads is served locally, after a ReadIndex round unless every
        // range in it is serializable.
        this.afterRead(isSerializableTxn(req), reply, () => {
          reply(STATUS_OK, pb.TxnResponse.encode(this.withHeader(this.applier.txn(req))).finish());
        });
        return;
      }
      if (!this.checkQuota({ txn: req }, reply)) return;
      this.proposeRaw(FIELD.txn, bytes, reply, (r) => pb.TxnResponse.encode(this.withHeader(r as pb.TxnResponse)).finish());
    });

  readonly compact: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.CompactionRequest, bytes);
      const id = this.member.newRequestId();
      const data = protobuf.Writer.create().uint32(8).uint64(id).uint32((FIELD.compaction << 3) | 2).bytes(bytes).finish();
      this.member.propose(id, data).then(
        (result) => {
          const { response, done } = result as { response: pb.CompactionResponse; done: Promise<void> };
          const send = (): void => this.guard(reply, () => reply(STATUS_OK, pb.CompactionResponse.encode(this.withHeader(response)).finish()));
          if (req.physical) done.then(send, (err) => this.fail(reply, err));
          else send();
        },
        (err) => this.fail(reply, err),
      );
    });

  readonly status: Handler = (_bytes, reply) =>
    this.guard(reply, () => {
      this.store.dbSize().then(
        ({ sizeBytes, sizeInUseBytes }) =>
          this.guard(reply, () => {
            const raft = this.member.raftStatus;
            const resp: pb.IStatusResponse = {
              header: this.header(this.store.currentRevision),
              version: ETCD_SERVER_VERSION,
              dbSize: sizeBytes,
              leader: fromBigInt(raft.lead, true),
              raftIndex: raft.commit,
              raftTerm: raft.term,
              raftAppliedIndex: raft.applied,
              // As etcd: no leader, then each raised alarm as its text.
              errors: [...(raft.lead === 0n ? [toGrpcStatus(new EtcdError('NoLeader')).message] : []), ...(this.opts.quota?.alarms.get().map(alarmText) ?? [])],
              dbSizeInUse: sizeInUseBytes,
              isLearner: this.member.configuration.learners.includes(this.member.memberId),
            };
            reply(STATUS_OK, pb.StatusResponse.encode(resp).finish());
          }),
        (err) => this.fail(reply, err),
      );
    });

  readonly hashKV: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.HashKVRequest, bytes);
      const rev = toNumber(req.revision);
      // 0 asks for the current revision, which etcd hashes even when it is the compacted one.
      this.store.hashKV(rev).then(
        (h) => this.guard(reply, () => reply(STATUS_OK, pb.HashKVResponse.encode({ header: this.header(this.store.currentRevision), hash: h.hash, compactRevision: h.compactRevision }).finish())),
        (err) => this.fail(reply, err),
      );
    });

  readonly hash: Handler = (_bytes, reply) =>
    this.guard(reply, () => {
      // Cairn's Hash covers the key-value history the store holds (its whole state machine).
      this.store.hashKV(0).then(
        (h) => this.guard(reply, () => reply(STATUS_OK, pb.HashResponse.encode({ header: this.header(this.store.currentRevision), hash: h.hash }).finish())),
        (err) => this.fail(reply, err),
      );
    });

  readonly alarm: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.AlarmRequest, bytes);
      const quota = this.opts.quota;
      const answer = (r: unknown): Uint8Array => pb.AlarmResponse.encode({ ...(r as pb.IAlarmResponse), header: this.header(this.store.currentRevision) }).finish();
      const isGet = (req.action ?? pb.AlarmRequest.AlarmAction.GET) === pb.AlarmRequest.AlarmAction.GET;
      if (quota === undefined && !isGet) throw new EtcdError('NotCapable');
      if (isGet || quota === undefined) {
        // GET is answered from this member's applied alarm list (etcd 3.4 sends it through Raft).
        reply(STATUS_OK, answer(quota?.alarm({ action: pb.AlarmRequest.AlarmAction.GET, alarm: req.alarm }) ?? { alarms: [] }));
        return;
      }
      this.proposeRaw(FIELD.alarm, bytes, reply, answer);
    });

  /** Online: LevelDB compacts the whole key range while reads and writes go on. */
  readonly defragment: Handler = (_bytes, reply) =>
    this.guard(reply, () => {
      const started = Date.now();
      this.store
        .defragment()
        .then(() => this.opts.quota?.quota.refresh())
        .then(
          () =>
            this.guard(reply, () => {
              this.log.info({ tookMs: Date.now() - started }, 'finished defragmenting the backend');
              reply(STATUS_OK, pb.DefragmentResponse.encode({ header: this.header(this.store.currentRevision) }).finish());
            }),
          (err) => this.fail(reply, err),
        );
    });

  /**
   * As etcd's MoveLeader: only the leader transfers, to a voting member; the answer comes once the
   * transferee leads (or TimeoutLeaderTransfer). A transfer to the leader itself succeeds at once.
   */
  readonly moveLeader: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.MoveLeaderRequest, bytes);
      const cluster = this.opts.cluster;
      if (cluster === undefined) throw new EtcdError('NotCapable');
      cluster.moveLeader(toBigInt(req.targetID ?? 0), 5000 + 2 * this.member.electionTimeoutMs).then(
        () => reply(STATUS_OK, pb.MoveLeaderResponse.encode({ header: this.header(this.store.currentRevision) }).finish()),
        (err) => this.fail(reply, err),
      );
    });

  /** Runs a membership change and answers with the member list after it (etcd's cluster server). */
  private change(reply: Reply, run: (cluster: ClusterControl) => Promise<{ member: MemberInfo | undefined; members: MemberInfo[] }>, encode: (header: pb.IResponseHeader, member: MemberInfo | undefined, members: pb.IMember[]) => Uint8Array): void {
    const cluster = this.opts.cluster;
    if (cluster === undefined) throw new EtcdError('NotCapable');
    run(cluster).then(
      (result) => reply(STATUS_OK, encode(this.header(0), result.member, result.members.map(memberToProto))),
      (err) => this.fail(reply, err),
    );
  }

  readonly memberAdd: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.MemberAddRequest, bytes);
      this.change(
        reply,
        (c) => c.add(req.peerURLs ?? [], req.isLearner === true),
        (header, member, members) => pb.MemberAddResponse.encode({ header, ...(member !== undefined ? { member: memberToProto(member) } : {}), members }).finish(),
      );
    });

  readonly memberRemove: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.MemberRemoveRequest, bytes);
      this.change(reply, (c) => c.remove(toBigInt(req.ID ?? 0)), (header, _m, members) => pb.MemberRemoveResponse.encode({ header, members }).finish());
    });

  readonly memberUpdate: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.MemberUpdateRequest, bytes);
      this.change(reply, (c) => c.update(toBigInt(req.ID ?? 0), req.peerURLs ?? []), (header, _m, members) => pb.MemberUpdateResponse.encode({ header, members }).finish());
    });

  readonly memberPromote: Handler = (bytes, reply) =>
    this.guard(reply, () => {
      const req = decodeRequest(pb.MemberPromoteRequest, bytes);
      this.change(reply, (c) => c.promote(toBigInt(req.ID ?? 0)), (header, _m, members) => pb.MemberPromoteResponse.encode({ header, members }).finish());
    });

  /** Internal (transport thread only): the member thread's metrics, UTF-8 Prometheus text. */
  readonly metrics: Handler = (_bytes, reply) =>
    this.guard(reply, () => {
      this.opts.metricsText!().then(
        (text) => reply(STATUS_OK, Buffer.from(text, 'utf8')),
        (err) => this.fail(reply, err),
      );
    });

  readonly memberList: Handler = (_bytes, reply) =>
    this.guard(reply, () => {
      // In ID order, as etcd lists them.
      const members = sortedById(this.member.members).map(memberToProto);
      // As etcd's cluster service, the header carries no revision.
      reply(STATUS_OK, pb.MemberListResponse.encode({ header: this.header(0), members }).finish());
    });
}

/** A member as the Cluster service's messages carry it. */
function memberToProto(m: MemberInfo): pb.IMember {
  return { ID: fromBigInt(m.id, true), name: m.name, peerURLs: [...m.peerUrls], clientURLs: [...m.clientUrls], isLearner: m.isLearner };
}

/** Applies one committed entry's internal request to the state machine (the member's EntryApplier). */
/** The state machine's parts an internal request may apply to. */
export interface Appliers {
  readonly kv: KvApplier;
  readonly leases?: LeaseApplier;
  readonly quota?: QuotaApplier;
  readonly membership?: { apply(req: cairnpb.IClusterMemberAttrSetRequest): unknown };
}

export function applyInternalRequest(data: Uint8Array, appliers: Appliers): unknown {
  const { kv: applier, leases, quota, membership } = appliers;
  const req = cairnpb.InternalRequest.decode(data);
  if (req.clusterMemberAttrSet != null && membership !== undefined) return membership.apply(req.clusterMemberAttrSet);
  if (quota !== undefined) {
    // etcd's capped and quota appliers: requests that grow the store fail while NOSPACE is raised.
    if (req.alarm != null) return quota.alarm(req.alarm);
    if (req.put != null) return quota.guard({ put: req.put }, () => applier.put(req.put!));
    if (req.txn != null) return quota.guard({ txn: req.txn }, () => applier.txn(req.txn!));
    if (req.leaseGrant != null && leases !== undefined) return quota.guard({ leaseGrant: req.leaseGrant }, () => leases.grant(req.leaseGrant!));
  }
  if (leases !== undefined) {
    if (req.leaseGrant != null) return leases.grant(req.leaseGrant);
    if (req.leaseRevoke != null) return leases.revoke(req.leaseRevoke);
    if (req.leaseCheckpoint != null) return leases.checkpoint(req.leaseCheckpoint);
  }
  if (req.put != null) return applier.put(req.put);
  if (req.deleteRange != null) return applier.deleteRange(req.deleteRange);
  if (req.txn != null) return applier.txn(req.txn);
  if (req.compaction != null) return applier.compaction(req.compaction);
  if (req.range != null) return applier.range(req.range);
  throw new Error(`internal request ${toNumber(req.id)} carries no request this member can apply`);
}

