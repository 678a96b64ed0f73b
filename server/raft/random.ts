/** Injected randomness for the Raft core: the core never calls Math.random. */

/** A source of uniformly distributed numbers in [0, 1). */
export type Random = () => number;

/**
 * A small deterministic PRNG (mulberry32) seeded by a 32-bit integer: the same seed yields the
 * same sequence, so a simulation replays exactly.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n) drawn from `random`. */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** Alias of seededRandom (the name STYLE.md's example uses). */
export const seeded = seededRandom;
