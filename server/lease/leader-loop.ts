/**
 * The leader's lease duties, run on a timer by the member thread (etcd's lessor runLoop +
 * EtcdServer's revokeExpiredLeases): every `intervalMs`, while this member leads, propose the
 * revocation of leases that have expired (at most `revokesPerTickMax`, etcd's leaseRevokeRate / 2
 * per 500 ms) and, when checkpointing is on, one checkpoint request for the remaining TTLs due.
 * Revocation and checkpoint take effect when the entries are applied, on every member alike.
 */
import { cairnpb, fromBigInt } from '../../proto';
import { isEtcdError } from '../errors';
import type { Logger } from '../log';
import type { Lessor } from './lessor';
import type { LeaseMember } from './service';

/** etcd: leaseRevokeRate 1000/s, checked every 500 ms. */
export const LEASE_REVOKES_PER_TICK_MAX = 500;
/** etcd: maxLeaseCheckpointBatchSize. */
export const LEASE_CHECKPOINTS_PER_TICK_MAX = 1000;
export const LEASE_LOOP_INTERVAL_MS = 500;

export interface LeaseLeaderLoopOptions {
  readonly lessor: Lessor;
  readonly member: LeaseMember;
  readonly clock: () => number;
  readonly log: Logger;
  readonly intervalMs?: number;
  readonly revokesPerTickMax?: number;
  readonly checkpointsPerTickMax?: number;
}

export class LeaseLeaderLoop {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: LeaseLeaderLoopOptions) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs ?? LEASE_LOOP_INTERVAL_MS);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round: proposes what is due at the clock's now. Exposed for tests. */
  tick(): void {
    const { lessor, member } = this.opts;
    if (!member.isLeader || !lessor.isPrimary) return;
    const nowMs = this.opts.clock();
    for (const id of lessor.expired(nowMs, this.opts.revokesPerTickMax ?? LEASE_REVOKES_PER_TICK_MAX)) {
      this.proposeRevoke(id);
    }
    const checkpoints = lessor.dueCheckpoints(nowMs, this.opts.checkpointsPerTickMax ?? LEASE_CHECKPOINTS_PER_TICK_MAX);
    if (checkpoints.length > 0) {
      const requestId = member.newRequestId();
      const data = cairnpb.InternalRequest.encode({
        id: requestId,
        leaseCheckpoint: { checkpoints: checkpoints.map((c) => ({ ID: fromBigInt(c.id, false), remaining_TTL: c.remainingTtlSec })) },
      }).finish();
      member.propose(requestId, data).catch((err) => this.opts.log.warn({ err }, 'lease checkpoint proposal failed'));
    }
  }

  private proposeRevoke(id: bigint): void {
    const requestId = this.opts.member.newRequestId();
    const data = cairnpb.InternalRequest.encode({ id: requestId, leaseRevoke: { ID: fromBigInt(id, false) } }).finish();
    this.opts.member.propose(requestId, data).then(
      () => this.opts.log.debug({ lease: id.toString(16) }, 'revoked an expired lease'),
      (err) => {
        // Revoked meanwhile by a client: nothing to do. Otherwise it is offered again after a while.
        if (!isEtcdError(err, 'LeaseNotFound') && err?.constructor?.name !== 'LeaseNotFoundError') {
          this.opts.log.warn({ err, lease: id.toString(16) }, 'revoking an expired lease failed; will retry');
        }
      },
    );
  }
}
