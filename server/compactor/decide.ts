/**
 * Pure decisions of etcd 3.4's auto-compactors (etcdserver/api/v3compactor): time comes in as
 * `nowMs`, the store's revision as `revision`; the caller proposes the compaction and reports back.
 *
 * Periodic (`periodic.go`): every `checkIntervalMs` = min(period, 1 h) / 10 the current revision is
 * recorded, keeping the last period / checkInterval + 1 of them, so the oldest is the revision of
 * one period ago. The first compaction comes one period after start, later ones every
 * min(period, 1 h) after the last success, each at the oldest recorded revision.
 *
 * Revision (`revision.go`): every check (5 min in etcd) compacts at revision − retention, unless that
 * is ≤ 0 or the revision last compacted.
 *
 * Both run only while this member leads (etcd pauses the compactor on followers); a compaction that
 * fails with ErrCompacted counts as a success, any other failure is retried at the next check.
 */

/** etcd's revision compactor checks every 5 minutes. */
export const REVISION_CHECK_INTERVAL_MS = 5 * 60_000;
const HOUR_MS = 3_600_000;

export interface CompactionDecider {
  /** How often `check` runs. */
  readonly checkIntervalMs: number;
  /** One check: the revision to compact at now, or undefined. */
  check(nowMs: number, revision: number, isLeader: boolean): number | undefined;
  /** The compaction at `revision` was applied (or that revision was already compacted). */
  succeeded(nowMs: number, revision: number): void;
}

export class PeriodicDecider implements CompactionDecider {
  readonly checkIntervalMs: number;
  /** min(period, 1 h): the interval between compactions after the first. */
  readonly compactIntervalMs: number;
  private readonly retentions: number;
  private readonly revs: number[] = [];
  private lastSuccessMs: number;
  private baseIntervalMs: number;

  constructor(
    readonly periodMs: number,
    startMs: number,
    startRevision: number,
    /** Overrides the check interval (tests); the retained window still covers one period. */
    checkIntervalMs?: number,
  ) {
    this.compactIntervalMs = Math.min(periodMs, HOUR_MS);
    this.checkIntervalMs = checkIntervalMs ?? this.compactIntervalMs / 10;
    this.retentions = Math.floor(periodMs / this.checkIntervalMs) + 1;
    this.lastSuccessMs = startMs;
    this.baseIntervalMs = periodMs;
    this.record(startRevision);
  }

  check(nowMs: number, revision: number, isLeader: boolean): number | undefined {
    let decision: number | undefined;
    if (isLeader && nowMs - this.lastSuccessMs >= this.baseIntervalMs) {
      // After the first period, compact every compactInterval.
      this.baseIntervalMs = this.compactIntervalMs;
      decision = this.revs[0];
    }
    this.record(revision);
    return decision;
  }

  succeeded(nowMs: number, _revision?: number): void {
    this.lastSuccessMs = nowMs;
  }

  /** The revisions recorded, oldest first (tests). */
  get recorded(): readonly number[] {
    return this.revs;
  }

  private record(revision: number): void {
    this.revs.push(revision);
    if (this.revs.length > this.retentions) this.revs.shift();
  }
}

export class RevisionDecider implements CompactionDecider {
  private prev = 0;

  constructor(
    readonly retention: number,
    readonly checkIntervalMs: number = REVISION_CHECK_INTERVAL_MS,
  ) {}

  check(_nowMs: number, revision: number, isLeader: boolean): number | undefined {
    if (!isLeader) return undefined;
    const rev = revision - this.retention;
    if (rev <= 0 || rev === this.prev) return undefined;
    return rev;
  }

  succeeded(_nowMs: number, revision: number): void {
    this.prev = revision;
  }
}
