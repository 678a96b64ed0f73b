/**
 * Progress: the leader's view of one member's log (Raft §5.3 nextIndex/matchIndex), with the
 * replication state machine of etcd-io/raft: probe (one message at a time until the match point
 * is found), replicate (optimistic pipelining, bounded by inflights) and snapshot (waiting for a
 * snapshot to be installed).
 */
import { assert } from '../assert';
import { Inflights } from './inflights';

export enum ProgressState {
  Probe = 0,
  Replicate = 1,
  Snapshot = 2,
}

export class Progress {
  /** Highest index known to be replicated on the member. */
  match: number;
  /** Index of the next entry to send. */
  next: number;
  state = ProgressState.Probe;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from within the last election timeout (check-quorum). */
  recentActive = false;
  /** In probe state: a probe is outstanding, wait for its answer (or a heartbeat response). */
  probeSent = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(options: { match: number; next: number; inflights: Inflights; isLearner: boolean }) {
    this.match = options.match;
    this.next = options.next;
    this.inflights = options.inflights;
    this.isLearner = options.isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      // The snapshot (if it was installed) brings the member up to pendingSnapshot.
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** An append up to n was acknowledged. Returns whether match advanced. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Entries up to `lastIndex` were sent (`bytes` in size); update flow control. */
  sentEntries(lastIndex: number | undefined, bytes: number): void {
    switch (this.state) {
      case ProgressState.Replicate:
        if (lastIndex !== undefined) {
          assert(lastIndex >= this.next - 1, `sent entries up to ${lastIndex} but next is ${this.next}`);
          this.next = lastIndex + 1;
          this.inflights.add(lastIndex, bytes);
        }
        break;
      case ProgressState.Probe:
        this.probeSent = true;
        break;
      case ProgressState.Snapshot:
        assert(false, 'sending entries in snapshot state');
    }
  }

  /**
   * The member rejected an append at index `rejected`; `matchHint` is where the log may match.
   * Returns false when the rejection is stale (out of order).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Whether sending appends to this member should wait. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }
}
