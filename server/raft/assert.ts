/** Invariant checks for the Raft core. They stay on in production: a broken invariant is a bug. */

/** Thrown when an invariant of the Raft core does not hold (a programmer error, never an operating one). */
export class RaftAssertionError extends Error {
  override readonly name = 'RaftAssertionError';
}

/** Throws RaftAssertionError with `msg` when `cond` is falsy; narrows types otherwise. */
export function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new RaftAssertionError(msg);
}
