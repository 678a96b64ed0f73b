/**
 * ProgressTracker: the membership (voters and learners, Raft §6 one change at a time), the
 * leader's per-member Progress, and the votes of the current election.
 */
import { assert } from '../assert';
import { ConfState, MemberId } from '../types';
import { Inflights } from './inflights';
import { Progress } from './progress';
import { committedIndex, majority, voteResult, VoteResult } from './quorum';

export class ProgressTracker {
  /** Every member (voter or learner) and its progress; the order is the order of joining. */
  readonly progress = new Map<MemberId, Progress>();
  private readonly votes = new Map<MemberId, boolean>();
  private readonly maxInflightMsgs: number;
  private readonly maxInflightBytes: number;

  constructor(maxInflightMsgs: number, maxInflightBytes: number) {
    this.maxInflightMsgs = maxInflightMsgs;
    this.maxInflightBytes = maxInflightBytes;
  }

  newProgress(match: number, next: number, isLearner: boolean): Progress {
    return new Progress({ match, next, isLearner, inflights: new Inflights(this.maxInflightMsgs, this.maxInflightBytes) });
  }

  voters(): MemberId[] {
    const ids: MemberId[] = [];
    for (const [id, pr] of this.progress) if (!pr.isLearner) ids.push(id);
    return ids;
  }

  learners(): MemberId[] {
    const ids: MemberId[] = [];
    for (const [id, pr] of this.progress) if (pr.isLearner) ids.push(id);
    return ids;
  }

  isVoter(id: MemberId): boolean {
    const pr = this.progress.get(id);
    return pr !== undefined && !pr.isLearner;
  }

  confState(): ConfState {
    return { voters: sortIds(this.voters()), learners: sortIds(this.learners()) };
  }

  /** True when the only voter is `id`. */
  isSingleton(id: MemberId): boolean {
    const voters = this.voters();
    return voters.length === 1 && voters[0] === id;
  }

  /** The largest index replicated on a majority of voters (by their match indexes). */
  committed(): number {
    const matches: number[] = [];
    for (const pr of this.progress.values()) if (!pr.isLearner) matches.push(pr.match);
    return committedIndex(matches);
  }

  /** Whether a majority of voters was recently active (check-quorum). */
  quorumActive(): boolean {
    let active = 0;
    let voters = 0;
    for (const pr of this.progress.values()) {
      if (pr.isLearner) continue;
      voters++;
      if (pr.recentActive) active++;
    }
    return voters === 0 || active >= majority(voters);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote (the first one from each member counts) and returns the tally. */
  recordVote(id: MemberId, granted: boolean): { granted: number; rejected: number; result: VoteResult } {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return this.tally();
  }

  tally(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    let voters = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      voters++;
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: voteResult(voters, granted, rejected) };
  }

  /** The result of a quorum of voters acknowledging something (ReadIndex heartbeats). */
  ackResult(acks: ReadonlySet<MemberId>): VoteResult {
    let granted = 0;
    let voters = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      voters++;
      if (acks.has(id)) granted++;
    }
    assert(voters > 0 || granted === 0, 'acks without voters');
    return voteResult(voters, granted, 0);
  }
}

export function sortIds(ids: MemberId[]): MemberId[] {
  return ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
