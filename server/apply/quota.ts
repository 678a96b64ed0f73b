/**
 * The backend space quota and the alarms, as etcd 3.4 has them (etcdserver/quota.go, apply.go's
 * applierV3Capped and quotaApplierV3, alarm/alarms.go):
 * - A request that grows the store (Put, a Txn with puts, LeaseGrant) costs an estimate of the bytes
 *   it adds. Before proposing, the API layer asks `available(cost)`: the backend size plus the cost
 *   must stay below the quota, else the member raises the NOSPACE alarm through Raft and the call
 *   fails with `etcdserver: mvcc: database space exceeded`.
 * - At apply time, while a NOSPACE alarm is active, such requests fail without changing anything
 *   (etcd's capped applier); otherwise they are applied, and when the quota was already used up the
 *   answer is still NoSpace (etcd's quota applier: the change stays, the caller is told).
 * - Alarms are activated and deactivated through Raft entries (InternalRequest `alarm`) and kept in
 *   the MVCC backend's meta record, written in the same batch as the consistent index, so a restart
 *   keeps them.
 */
import { etcdserverpb as pb, fromBigInt, toBigInt } from '../../proto';
import { EtcdError } from '../errors';
import type { MvccStore } from '../mvcc/types';

/** etcd's estimate of the bytes a key's metadata takes. */
export const KV_OVERHEAD = 256;
/** etcd's estimate of the bytes a lease takes. */
export const LEASE_OVERHEAD = 64;

/** Bytes a put adds (etcd's costPut). */
export function costPut(req: pb.IPutRequest): number {
  return KV_OVERHEAD + (req.key?.length ?? 0) + (req.value?.length ?? 0);
}

/** Bytes a txn adds: the larger of its branches' top-level puts (etcd 3.4's costTxn). */
export function costTxn(req: pb.ITxnRequest): number {
  const branch = (ops: readonly pb.IRequestOp[] | null | undefined): number => {
    let sum = 0;
    for (const op of ops ?? []) if (op.requestPut != null) sum += costPut(op.requestPut);
    return sum;
  };
  return Math.max(branch(req.success), branch(req.failure));
}

/** A request the quota prices. */
export type QuotaRequest = { put: pb.IPutRequest } | { txn: pb.ITxnRequest } | { leaseGrant: pb.ILeaseGrantRequest };

export function cost(r: QuotaRequest): number {
  if ('put' in r) return costPut(r.put);
  if ('txn' in r) return costTxn(r.txn);
  return LEASE_OVERHEAD;
}

/** The backend quota: `sizeBytes()` is the backend's size now (cached by the caller; synchronous). */
export class BackendQuota {
  constructor(
    readonly maxBytes: number,
    private readonly sizeBytes: () => number,
    /** Re-reads the size at once (after a defragmentation); absent: the size is always current. */
    readonly refresh: () => Promise<void> = async () => undefined,
  ) {}

  /** etcd: size + cost < quota. */
  available(r: QuotaRequest): boolean {
    return this.sizeBytes() + cost(r) < this.maxBytes;
  }
}

/** Where the alarm list is persisted: the MVCC store's `alarms` meta record. */
export type AlarmPersistence = Pick<MvccStore, 'putMetaRecord' | 'metaRecord'>;

export interface AlarmMember {
  readonly memberId: bigint;
  readonly alarm: pb.AlarmType;
}

/** The raised alarms, one per (member, type), as etcd's alarm store. */
export class AlarmStore {
  private readonly raised: AlarmMember[] = [];

  constructor(private readonly persistence: AlarmPersistence) {
    this.reload();
  }

  /** Reads the raised alarms from the store again (after the store was replaced by a snapshot). */
  reload(): void {
    this.raised.length = 0;
    const record = this.persistence.metaRecord('alarms');
    if (record !== undefined) {
      for (const a of pb.AlarmResponse.decode(record).alarms) {
        this.raised.push({ memberId: toBigInt(a.memberID ?? 0), alarm: a.alarm ?? pb.AlarmType.NONE });
      }
    }
  }

  /** The alarms of `type` (NONE: all), in the order they were raised. */
  get(type: pb.AlarmType = pb.AlarmType.NONE): AlarmMember[] {
    return this.raised.filter((a) => type === pb.AlarmType.NONE || a.alarm === type);
  }

  has(type: pb.AlarmType): boolean {
    return this.raised.some((a) => a.alarm === type);
  }

  /** Raises an alarm; undefined when it was already raised. */
  activate(memberId: bigint, alarm: pb.AlarmType): AlarmMember | undefined {
    if (this.raised.some((a) => a.memberId === memberId && a.alarm === alarm)) return undefined;
    const m = { memberId, alarm };
    this.raised.push(m);
    this.persist();
    return m;
  }

  /** Clears an alarm; undefined when it was not raised. */
  deactivate(memberId: bigint, alarm: pb.AlarmType): AlarmMember | undefined {
    const i = this.raised.findIndex((a) => a.memberId === memberId && a.alarm === alarm);
    if (i < 0) return undefined;
    const [m] = this.raised.splice(i, 1);
    this.persist();
    return m;
  }

  private persist(): void {
    this.persistence.putMetaRecord('alarms', pb.AlarmResponse.encode({ alarms: this.raised.map(toProto) }).finish());
  }
}

export function toProto(a: AlarmMember): pb.IAlarmMember {
  return { memberID: fromBigInt(a.memberId, true), alarm: a.alarm };
}

/** etcd's AlarmMember.String() (gogoproto compact text), as Status `errors` lists it. */
export function alarmText(a: AlarmMember): string {
  return `memberID:${a.memberId} alarm:${pb.AlarmType[a.alarm] ?? String(a.alarm)} `;
}

/** Applies alarm requests, and guards the requests that grow the store (see the file comment). */
export class QuotaApplier {
  constructor(
    readonly quota: BackendQuota,
    readonly alarms: AlarmStore,
  ) {}

  /** Applies a request that grows the store by `r`; `apply` does the change. */
  guard<T>(r: QuotaRequest, apply: () => T): T {
    if (this.alarms.has(pb.AlarmType.NOSPACE) && cost(r) > 0) throw new EtcdError('NoSpace');
    const ok = this.quota.available(r);
    const result = apply();
    if (!ok) throw new EtcdError('NoSpace');
    return result;
  }

  /** Applies an AlarmRequest (ACTIVATE / DEACTIVATE / GET) as etcd's applier does. */
  alarm(req: pb.IAlarmRequest): pb.IAlarmResponse {
    const type = req.alarm ?? pb.AlarmType.NONE;
    const memberId = toBigInt(req.memberID ?? 0);
    const alarms: pb.IAlarmMember[] = [];
    switch (req.action ?? pb.AlarmRequest.AlarmAction.GET) {
      case pb.AlarmRequest.AlarmAction.GET:
        for (const a of this.alarms.get(type)) alarms.push(toProto(a));
        break;
      case pb.AlarmRequest.AlarmAction.ACTIVATE: {
        if (type === pb.AlarmType.NONE) break;
        const m = this.alarms.activate(memberId, type);
        if (m !== undefined) alarms.push(toProto(m));
        break;
      }
      case pb.AlarmRequest.AlarmAction.DEACTIVATE: {
        const m = this.alarms.deactivate(memberId, type);
        if (m !== undefined) alarms.push(toProto(m));
        break;
      }
      default:
        throw new EtcdError('NotCapable');
    }
    return { alarms };
  }
}

/**
 * The backend's size, read in the background (a directory listing) and cached, because the quota
 * is asked synchronously on every request that grows the store.
 */
/** How often the member reads the backend's size for the quota. */
export const BACKEND_SIZE_REFRESH_MS = 200;

export class BackendSizeGauge {
  private bytes = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private started = 0;
  private applied = 0;

  constructor(private readonly read: () => Promise<{ sizeBytes: number }>) {}

  get sizeBytes(): number {
    return this.bytes;
  }

  /** Reads the size now; later reads every `intervalMs`. */
  async start(intervalMs: number): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  async refresh(): Promise<void> {
    // Reads may overlap (the timer and an explicit refresh): the latest one started wins.
    const seq = ++this.started;
    try {
      const bytes = (await this.read()).sizeBytes;
      if (seq > this.applied) {
        this.applied = seq;
        this.bytes = bytes;
      }
    } catch {
      // The store is closing; keep the last value.
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
