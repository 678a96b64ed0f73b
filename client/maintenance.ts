/**
 * The Maintenance service: status, hashes, alarms, defragment, snapshot, leader transfer.
 * Each call goes to one endpoint (the next healthy one, or the one given with `endpoint`).
 */
import { etcdserverpb as pb, fromBigInt } from '../proto/index';
import { CallOptions, Connection, RPC } from './connection';
import { InvalidArgumentError, fromGrpcError } from './errors';
import { ResponseHeader, big, count, int64Field, toHeader } from './types';

/**
 * A member's status.
 * @example const s = await client.maintenance.status(); console.log(s.version, s.leader === s.header.memberId);
 */
export interface Status {
  readonly header: ResponseHeader;
  /** The server's etcd version. */
  readonly version: string;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  /** The leader's member ID (0n: none). */
  readonly leader: bigint;
  readonly raftIndex: bigint;
  readonly raftTerm: bigint;
  readonly raftAppliedIndex: bigint;
  readonly errors: string[];
  readonly isLearner: boolean;
}

/**
 * An active alarm.
 * @example for (const a of await client.maintenance.alarms()) console.log(a.memberId, a.alarm);
 */
export interface Alarm {
  readonly memberId: bigint;
  readonly alarm: 'none' | 'nospace' | 'corrupt';
}

const ALARMS = ['none', 'nospace', 'corrupt'] as const;

/**
 * Typed wrappers of the Maintenance service (`client.maintenance`).
 * @example const { hash, compactRevision } = await client.maintenance.hashKV();
 */
export class Maintenance {
  /** @internal */
  constructor(private readonly conn: Connection) {}

  /**
   * The status of the member that answers.
   * @example const { version, dbSize } = await client.maintenance.status();
   */
  async status(options: CallOptions = {}): Promise<Status> {
    const r = await this.conn.unary<pb.StatusResponse>(RPC.Maintenance.Status, {}, options, 'read');
    return {
      header: toHeader(r.header),
      version: r.version,
      dbSize: count(r.dbSize),
      dbSizeInUse: count(r.dbSizeInUse),
      leader: big(r.leader),
      raftIndex: big(r.raftIndex),
      raftTerm: big(r.raftTerm),
      raftAppliedIndex: big(r.raftAppliedIndex),
      errors: r.errors ?? [],
      isLearner: r.isLearner === true,
    };
  }

  /**
   * The hash of the member's whole backend (for comparing members).
   * @example const { hash } = await client.maintenance.hash();
   */
  async hash(options: CallOptions = {}): Promise<{ header: ResponseHeader; hash: number }> {
    const r = await this.conn.unary<pb.HashResponse>(RPC.Maintenance.Hash, {}, options, 'read');
    return { header: toHeader(r.header), hash: r.hash >>> 0 };
  }

  /**
   * The hash of the key-value history up to `revision` (0: the latest).
   * @example const a = await client.maintenance.hashKV(100n);
   */
  async hashKV(revision: bigint | number = 0, options: CallOptions = {}): Promise<{ header: ResponseHeader; hash: number; compactRevision: bigint }> {
    const r = await this.conn.unary<pb.HashKVResponse>(RPC.Maintenance.HashKV, { revision: int64Field(revision, 'revision') }, options, 'read');
    return { header: toHeader(r.header), hash: r.hash >>> 0, compactRevision: big(r.compactRevision) };
  }

  /**
   * The active alarms.
   * @example if ((await client.maintenance.alarms()).length > 0) alert();
   */
  async alarms(options: CallOptions = {}): Promise<Alarm[]> {
    const r = await this.conn.unary<pb.AlarmResponse>(RPC.Maintenance.Alarm, { action: 0, memberID: 0, alarm: 0 }, options, 'read');
    return r.alarms.map((a) => ({ memberId: big(a.memberID), alarm: ALARMS[a.alarm ?? 0] ?? 'none' }));
  }

  /**
   * Clears an alarm (e.g. NOSPACE after compacting and defragmenting).
   * @example await client.maintenance.disarm({ memberId: id, alarm: 'nospace' });
   */
  async disarm(alarm: Alarm, options: CallOptions = {}): Promise<Alarm[]> {
    const kind = ALARMS.indexOf(alarm.alarm);
    if (kind < 0) throw new InvalidArgumentError(`unknown alarm '${alarm.alarm}'`);
    const r = await this.conn.unary<pb.AlarmResponse>(RPC.Maintenance.Alarm, { action: 2, memberID: fromBigInt(alarm.memberId, true), alarm: kind }, options, 'read');
    return r.alarms.map((a) => ({ memberId: big(a.memberID), alarm: ALARMS[a.alarm ?? 0] ?? 'none' }));
  }

  /**
   * Defragments the answering member's backend.
   * @example await client.maintenance.defragment();
   */
  async defragment(options: CallOptions = {}): Promise<void> {
    await this.conn.unary(RPC.Maintenance.Defragment, {}, options, 'read');
  }

  /**
   * Asks the leader to hand leadership to `targetId`.
   * @example await client.maintenance.moveLeader(otherMemberId);
   */
  async moveLeader(targetId: bigint, options: CallOptions = {}): Promise<void> {
    if (typeof targetId !== 'bigint' || targetId <= 0n) throw new InvalidArgumentError('targetId must be a positive bigint');
    await this.conn.unary(RPC.Maintenance.MoveLeader, { targetID: fromBigInt(targetId, true) }, options, 'write');
  }

  /**
   * Streams a snapshot of the backend, chunk by chunk.
   * @example for await (const chunk of client.maintenance.snapshot()) file.write(chunk);
   */
  async *snapshot(options: CallOptions = {}): AsyncGenerator<Buffer> {
    const { stream } = await this.conn.openServerStream<pb.SnapshotResponse>(RPC.Maintenance.Snapshot, {}, options);
    try {
      for await (const chunk of stream as AsyncIterable<pb.SnapshotResponse>) yield Buffer.from(chunk.blob);
    } catch (e) {
      throw fromGrpcError(e);
    } finally {
      stream.cancel();
    }
  }
}
