/**
 * RaftLog: the log as the core sees it, stable entries (Storage) followed by unstable ones, with
 * the commit and applied indexes. Raft §5.3.
 */
import { assert } from './assert';
import { CompactedError, UnavailableError } from './errors';
import { Unstable } from './unstable';
import { Entry, Snapshot, Storage } from './types';
import { limitSize } from './util';

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known to be committed (Raft §5.3). */
  committed: number;
  /** Highest index the host has applied (≤ committed). */
  applied: number;
  /** Highest index handed to the host in a Ready's committedEntries (applied ≤ applying ≤ committed). */
  applying: number;
  private readonly maxCommittedBytesPerReady: number;

  constructor(storage: Storage, maxCommittedBytesPerReady: number) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
    this.maxCommittedBytesPerReady = maxCommittedBytesPerReady;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /**
   * The term of entry i. 0 when i is outside [firstIndex - 1, lastIndex].
   * @throws CompactedError when storage no longer has it
   */
  term(i: number): number {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return 0;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    return this.storage.term(i);
  }

  /** The term of entry i, or 0 when it is unknown (compacted or beyond the end). */
  termOrZero(i: number): number {
    try {
      return this.term(i);
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return 0;
      throw err;
    }
  }

  matchTerm(i: number, term: number): boolean {
    return this.termOrZero(i) === term;
  }

  /**
   * The follower side of AppendEntries (Raft §5.3): if the log holds (index, logTerm), append
   * `ents` after it (replacing a conflicting tail) and advance commit. Returns the last new index,
   * or undefined when the log does not match.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, `entry ${ci} conflicts with committed entry [committed(${this.committed})]`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    assert(after >= this.committed, `after(${after}) is out of range [committed(${this.committed})]`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry of `ents` that is new or conflicts with the log (0 when all are
   * already in the log with the same terms).
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term` (or the first index we cannot read): a
   * hint that lets the leader skip a whole term of mismatching entries at once.
   */
  findConflictByTerm(index: number, term: number): number {
    for (; index > 0; index--) {
      let t: number;
      try {
        t = this.term(index);
      } catch {
        return index;
      }
      if (t <= term) return index;
    }
    return 0;
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }

  /** Committed entries not yet handed to the host, size-limited. */
  nextCommittedEntries(): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, this.maxCommittedBytesPerReady);
  }

  hasNextCommittedEntries(): boolean {
    return this.committed + 1 > Math.max(this.applying + 1, this.firstIndex());
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(toCommit: number): void {
    if (this.committed >= toCommit) return;
    assert(toCommit <= this.lastIndex(), `tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]`);
    this.committed = toCommit;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(i <= this.committed && i >= this.applied, `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`);
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  /** Marks entries up to i as handed to the host for applying. */
  applyingTo(i: number): void {
    if (i > this.applying) this.applying = i;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /**
   * Last index of the log prefix the host has persisted: entries below the unstable offset are in
   * storage. 0 while an incoming snapshot is unpersisted.
   */
  persistedLastIndex(): number {
    if (this.unstable.snapshot !== undefined) return 0;
    return Math.min(this.storage.lastIndex(), this.unstable.offset - 1);
  }

  /** Raft §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Leader commit rule (Raft §5.4.2): only an entry of the current term commits by counting. */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  restore(snap: Snapshot): void {
    this.committed = snap.metadata.index;
    this.unstable.restore(snap);
  }

  /**
   * Entries in [lo, hi), at most `maxBytes` (at least one).
   * @throws CompactedError when lo is compacted
   */
  slice(lo: number, hi: number, maxBytes?: number): Entry[] {
    this.checkOutOfBounds(lo, hi);
    if (lo === hi) return [];
    let ents: Entry[] = [];
    const offset = this.unstable.offset;
    if (lo < offset) {
      const storedHi = Math.min(hi, offset);
      let stored: Entry[];
      try {
        stored = this.storage.entries(lo, storedHi, maxBytes);
      } catch (err) {
        assert(!(err instanceof UnavailableError), `entries[${lo}:${storedHi}) is unavailable from storage`);
        throw err;
      }
      // Size-limited by storage: stop here.
      if (stored.length < storedHi - lo) return stored;
      ents = stored;
    }
    if (hi > offset) {
      const unstable = this.unstable.slice(Math.max(lo, offset), hi);
      ents = ents.length > 0 ? ents.concat(unstable) : unstable;
    }
    return limitSize(ents, maxBytes);
  }

  /** Entries from i to the end, at most `maxBytes`. */
  entries(i: number, maxBytes?: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  private checkOutOfBounds(lo: number, hi: number): void {
    assert(lo <= hi, `invalid slice ${lo} > ${hi}`);
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError();
    const length = this.lastIndex() + 1 - first;
    assert(hi <= first + length, `slice[${lo},${hi}) out of bound [${first},${this.lastIndex()}]`);
  }
}
