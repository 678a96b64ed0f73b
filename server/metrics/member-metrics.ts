/**
 * The member thread's metrics, under etcd 3.4's names: server state (has_leader, is_leader,
 * leader_changes_seen_total, proposals committed / applied / pending / failed), disk latencies
 * (WAL save, backend commit) and MVCC sizes. They live in the member thread, where the state is;
 * the transport thread fetches their text through the internal method `/cairnpb.Internal/Metrics`
 * and serves it together with its own registry (see {@link MEMBER_METRICS_PATH}).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MemberObserver } from '../node/member';

/** The internal unary method that answers the member thread's metrics as Prometheus text (UTF-8). */
export const MEMBER_METRICS_PATH = '/cairnpb.Internal/Metrics';

/** etcd's buckets for disk latencies: 1 ms doubling to 8.192 s (prometheus.ExponentialBuckets(0.001, 2, 14)). */
const DISK_SECONDS_BUCKETS: readonly number[] = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);

/** What the gauges read at scrape time. */
export interface MemberMetricsSource {
  readonly member: {
    readonly leader: bigint;
    readonly isLeader: boolean;
    readonly leaderChangesSeen: number;
    readonly proposalsPending: number;
    readonly proposalsFailed: number;
    readonly applied: number;
    readonly raftStatus: { readonly commit: number };
  };
  readonly store: {
    dbSize(): Promise<{ sizeBytes: number; sizeInUseBytes: number }>;
    /** Keys that exist now (live keys). */
    keyCount(): number;
  };
  /**
   * The watch hub's watcher counts (server/watch/watch-hub.ts); absent: the watcher gauges are not
   * exported. Unsynced watchers are etcd's "slow" watchers: behind the store's revision, caught up
   * from the backend (a client that stopped reading, or a start revision in the past).
   */
  readonly watch?: {
    readonly syncedCount: number;
    readonly unsyncedCount: number;
  };
}

/**
 * The disk-latency histograms. Built before the member (which reports into them, as its
 * {@link MemberObserver}), registered by {@link MemberMetrics}.
 */
export class DiskMetrics implements MemberObserver {
  /**
   * etcd times the fdatasync alone; Cairn's WAL save is one write plus one fdatasync, timed as a
   * whole.
   */
  readonly walFsync = new Histogram({
    name: 'etcd_disk_wal_fsync_duration_seconds',
    help: 'The latency distributions of fsync called by WAL.',
    buckets: [...DISK_SECONDS_BUCKETS],
    registers: [],
  });
  readonly backendCommit = new Histogram({
    name: 'etcd_disk_backend_commit_duration_seconds',
    help: 'The latency distributions of commit called by backend.',
    buckets: [...DISK_SECONDS_BUCKETS],
    registers: [],
  });

  walSaveSeconds(seconds: number): void {
    this.walFsync.observe(seconds);
  }

  backendCommitSeconds(seconds: number): void {
    this.backendCommit.observe(seconds);
  }
}

export class MemberMetrics {
  readonly registry = new Registry();

  constructor(source: MemberMetricsSource, disk: DiskMetrics) {
    const { member, store } = source;
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', () => (member.leader !== 0n ? 1 : 0));
    gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', () => (member.isLeader ? 1 : 0));
    gauge('etcd_server_is_learner', 'Whether or not this member is a learner. 1 if is, 0 otherwise.', () => 0);
    // etcd declares these two as gauges despite the _total suffix; so does Cairn.
    gauge('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.', () => member.raftStatus.commit);
    gauge('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.', () => member.applied);
    gauge('etcd_server_proposals_pending', 'The current number of pending proposals to commit.', () => member.proposalsPending);
    gauge('etcd_debugging_mvcc_keys_total', 'Total number of keys.', () => store.keyCount());
    const watch = source.watch;
    if (watch !== undefined) {
      gauge('etcd_debugging_mvcc_watcher_total', 'Total number of watchers.', () => watch.syncedCount + watch.unsyncedCount);
      gauge('etcd_debugging_mvcc_slow_watcher_total', 'Total number of unsynced slow watchers.', () => watch.unsyncedCount);
    }
    // Counters kept by the member: exported through a collect() that moves them forward.
    this.counterFrom('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.', () => member.leaderChangesSeen);
    this.counterFrom('etcd_server_proposals_failed_total', 'The total number of failed proposals seen.', () => member.proposalsFailed);

    const sizeGauge = (name: string, help: string, read: (size: { sizeBytes: number; sizeInUseBytes: number }) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(read(await store.dbSize()));
        },
      });
    };
    sizeGauge('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', (s) => s.sizeBytes);
    sizeGauge('etcd_debugging_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', (s) => s.sizeBytes);
    sizeGauge('etcd_mvcc_db_total_size_in_use_in_bytes', 'Total size of the underlying database logically in use in bytes.', (s) => s.sizeInUseBytes);
    this.registry.registerMetric(disk.walFsync);
    this.registry.registerMetric(disk.backendCommit);
  }

  /** The registry as Prometheus text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  private counterFrom(name: string, help: string, read: () => number): void {
    // A gauge typed as a counter would lie about the type; prom-client's Counter only increments,
    // so the scrape adds what the member counted since the previous scrape.
    let reported = 0;
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        const now = read();
        if (now > reported) this.inc(now - reported);
        reported = now;
      },
    });
  }
}
