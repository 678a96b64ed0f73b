/** Majority quorum arithmetic (Raft §5.2 elections, §5.3/§5.4.2 commitment). Pure functions. */

export enum VoteResult {
  Pending = 0,
  Lost = 1,
  Won = 2,
}

/** Size of a majority of n voters. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The highest index acknowledged by a majority, given each voter's match index. Infinity for an
 * empty voter set (no constraint).
 */
export function committedIndex(matches: readonly number[]): number {
  const n = matches.length;
  if (n === 0) return Infinity;
  const sorted = matches.slice().sort((a, b) => b - a);
  return sorted[majority(n) - 1];
}

/** The outcome of an election with `granted` and `rejected` votes among `voters`. */
export function voteResult(voters: number, granted: number, rejected: number): VoteResult {
  if (voters === 0) return VoteResult.Won;
  const q = majority(voters);
  if (granted >= q) return VoteResult.Won;
  if (voters - rejected < q) return VoteResult.Lost;
  return VoteResult.Pending;
}
