/**
 * The simulation's checkers must fail when their invariant is broken: each test breaks one on
 * purpose in a healthy cluster (testing/cluster.ts) and expects the matching InvariantViolation.
 * Last, the end-to-end case: a host that sends before its fsync, with the direct durability check
 * off, is caught by the safety checkers once crashes lose the unsynced writes.
 */
import { Cluster, InvariantViolation, mixHash } from './testing/cluster';
import { runSimulation } from './testing/simulation';
import { EntryType, MemberId } from './types';

const ids: MemberId[] = [1n, 2n, 3n];

/** A 3-member cluster with leader 1 that committed `n` proposals everywhere. */
function healthy(n = 5, options: { durabilityChecks?: boolean } = {}): Cluster {
  const c = new Cluster({ seed: 3, ids, ...options });
  c.member(1n).node.campaign();
  c.stabilize();
  expect(c.leader()).toBe(1n);
  for (let i = 0; i < n; i++) c.propose(1n);
  c.stabilize(3);
  for (const id of ids) expect(c.member(id).applied).toBe(c.committedLength());
  return c;
}

/** Runs a private method of the cluster (the host loop's steps), to feed it a broken input. */
function host(c: Cluster): { apply(m: unknown, e: unknown): void; recordReadState(m: unknown, index: number, ctx: string): void } {
  return c as unknown as { apply(m: unknown, e: unknown): void; recordReadState(m: unknown, index: number, ctx: string): void };
}

test('a healthy cluster passes every check', () => {
  const c = healthy();
  expect(() => c.checkSafety()).not.toThrow();
  expect(c.values().length).toBe(5);
});

test('election safety: two leaders in one term', () => {
  const c = healthy();
  // Member 2 reports member 1's status: leader in the same term.
  c.member(2n).node = c.member(1n).node;
  expect(() => c.checkSafety()).toThrow(InvariantViolation);
  expect(() => c.checkSafety()).toThrow(/two leaders in term/);
});

test('log matching: same index and term, different history', () => {
  const c = healthy();
  const m = c.member(3n);
  const last = m.lastIndex();
  m.hashes[last] ^= 1;
  expect(() => c.checkSafety()).toThrow(/log matching violated between \d and 3 at index/);
});

test('leader completeness: a leader without an entry committed in an earlier term', () => {
  const c = healthy();
  c.member(1n).node.transferLeader(2n);
  c.stabilize(3);
  expect(c.leader()).toBe(2n);
  const m = c.member(2n);
  m.terms.length = 2;
  m.hashes.length = 2;
  expect(() => c.checkSafety()).toThrow(/leader 2 of term \d+ lacks entries up to \d+ committed in earlier terms/);
});

test('state machine safety: an entry applied twice or out of order', () => {
  const c = healthy();
  const m = c.member(2n);
  const e = (index: number) => ({ index, term: m.terms[index], type: EntryType.Normal, data: new TextEncoder().encode(`x${index}`) });
  expect(() => host(c).apply(m, e(m.applied))).toThrow(/member 2 applies \d+ after \d+/);
  expect(() => host(c).apply(m, e(m.applied + 2))).toThrow(/member 2 applies \d+ after \d+/);
});

test('state machine safety: a member applies another entry at a committed index', () => {
  const c = healthy(5, { durabilityChecks: false });
  const m = c.member(3n);
  const k = c.committedLength();
  // Member 3's log holds a different entry at k (same term), and it applies it.
  const forged = { index: k, term: m.terms[k], type: EntryType.Normal, data: new TextEncoder().encode('forged') };
  m.hashes[k] = mixHash(m.hashes[k - 1], forged.term, forged.type, forged.data);
  m.applied = k - 1;
  m.sm.values.pop();
  expect(() => host(c).apply(m, forged)).toThrow(new RegExp(`committed entry ${k} changed: member 3`));
});

test('ReadIndex: a read point below a commit known when the read was asked', () => {
  const c = healthy();
  const ctx = c.readIndex(1n, { process: false });
  expect(ctx).toBeDefined();
  expect(() => host(c).recordReadState(c.member(1n), 1, ctx!)).toThrow(/ReadIndex r\d+ at member 1 answered 1 < commit/);
});

test('without the direct durability check, crashes that lose unsynced writes expose a host that sends before its fsync', () => {
  const failures: string[] = [];
  for (let seed = 1; seed <= 60 && failures.length === 0; seed++) {
    try {
      runSimulation({ seed, size: 3, steps: 1500, hostBug: 'sendBeforeSync', durabilityChecks: false });
    } catch (err) {
      if (err instanceof InvariantViolation) failures.push(err.message);
    }
  }
  expect(failures.length).toBeGreaterThan(0);
  expect(failures[0]).toMatch(/lacks entries|two leaders|log matching|committed entry|diverges|ReadIndex/);
  // And the correct host passes those seeds.
  for (let seed = 1; seed <= 5; seed++) expect(() => runSimulation({ seed, size: 3, steps: 1500 })).not.toThrow();
});
