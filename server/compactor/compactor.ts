/**
 * The auto-compactor the member thread runs: on a timer, asks the decider (decide.ts) whether to
 * compact and, on the leader, proposes a CompactionRequest through Raft, as etcd's compactor calls
 * its own Compact. Logs each compaction it starts and finishes.
 */
import { cairnpb } from '../../proto';
import { isEtcdError } from '../errors';
import type { Logger } from '../log';
import { CompactedError } from '../mvcc/errors';
import { PeriodicDecider, RevisionDecider, type CompactionDecider } from './decide';
import type { Retention } from './retention';

/** What the compactor needs of the member. */
export interface CompactorMember {
  readonly isLeader: boolean;
  newRequestId(): number;
  propose(requestId: number, data: Uint8Array): Promise<unknown>;
}

export interface AutoCompactorOptions {
  readonly retention: Exclude<Retention, { mode: 'off' }>;
  readonly member: CompactorMember;
  readonly currentRevision: () => number;
  readonly clock: () => number;
  readonly log: Logger;
  /** Overrides the check interval (tests: CAIRN_AUTO_COMPACTION_INTERVAL_MS). */
  readonly checkIntervalMs?: number;
}

export class AutoCompactor {
  readonly decider: CompactionDecider;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;

  constructor(private readonly opts: AutoCompactorOptions) {
    const r = opts.retention;
    this.decider =
      r.mode === 'periodic'
        ? new PeriodicDecider(r.periodMs, opts.clock(), opts.currentRevision(), opts.checkIntervalMs)
        : new RevisionDecider(r.revisions, opts.checkIntervalMs);
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.tick(), this.decider.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check; resolves when the compaction it started (if any) has been applied. Exposed for tests. */
  async tick(): Promise<void> {
    if (this.inFlight) return;
    const { member, log } = this.opts;
    const revision = this.decider.check(this.opts.clock(), this.opts.currentRevision(), member.isLeader);
    if (revision === undefined) return;
    const retention = this.opts.retention.mode === 'periodic' ? `${this.opts.retention.periodMs} ms` : `${this.opts.retention.revisions} revisions`;
    log.info({ revision, retention }, 'starting auto-compaction');
    const requestId = member.newRequestId();
    const data = cairnpb.InternalRequest.encode({ id: requestId, compaction: { revision } }).finish();
    this.inFlight = true;
    try {
      await member.propose(requestId, data);
      this.decider.succeeded(this.opts.clock(), revision);
      log.info({ revision }, 'finished auto-compaction');
    } catch (err) {
      if (err instanceof CompactedError || isEtcdError(err, 'Compacted')) {
        this.decider.succeeded(this.opts.clock(), revision);
        log.info({ revision }, 'auto-compaction: revision already compacted');
      } else {
        log.warn({ err, revision, retryInMs: this.decider.checkIntervalMs }, 'failed auto-compaction; will retry');
      }
    } finally {
      this.inFlight = false;
    }
  }
}
