/**
 * MemoryStorage: the Storage the Raft core reads its stable log from, kept in memory. The host
 * appends to it what it has persisted (entries, hard state, snapshots) and compacts it after
 * taking a snapshot. Mirrors etcd-io/raft's MemoryStorage.
 */
import { assert } from './assert';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './errors';
import { ConfState, Entry, EntryType, HardState, Snapshot, Storage } from './types';
import { EMPTY_BYTES, EMPTY_HARD_STATE, emptySnapshot, limitSize } from './util';

export interface MemoryStorageOptions {
  /** Membership of a new cluster (bootstrap); ignored once a snapshot is applied. */
  readonly confState?: ConfState;
}

export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  /** ents[0] is a dummy entry standing for the snapshot: its index and term are the snapshot's. */
  private ents: Entry[];

  constructor(options: MemoryStorageOptions = {}) {
    this.snap = emptySnapshot(options.confState);
    this.ents = [dummyEntry(0, 0)];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  /** Records the hard state the host has persisted. */
  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /**
   * Entries in [lo, hi), at most `maxBytes` in size (but at least one entry).
   * @throws CompactedError when lo ≤ the snapshot index
   * @throws UnavailableError when the log holds no entries past the snapshot
   */
  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    const offset = this.ents[0].index;
    if (lo <= offset) throw new CompactedError();
    assert(hi <= this.lastIndex() + 1, `entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`);
    assert(lo <= hi, `entries: lo(${lo}) > hi(${hi})`);
    if (this.ents.length === 1) throw new UnavailableError();
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  /**
   * The term of the entry at index i, for snapshot index ≤ i ≤ last index.
   * @throws CompactedError when i < the snapshot index
   * @throws UnavailableError when i > the last index
   */
  term(i: number): number {
    const offset = this.ents[0].index;
    if (i < offset) throw new CompactedError();
    if (i - offset >= this.ents.length) throw new UnavailableError();
    return this.ents[i - offset].term;
  }

  lastIndex(): number {
    return this.ents[0].index + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.ents[0].index + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /**
   * Replaces the whole content with the snapshot (the log restarts after it).
   * @throws SnapshotOutOfDateError when the snapshot is not newer than the one held
   */
  applySnapshot(snap: Snapshot): void {
    if (this.snap.metadata.index >= snap.metadata.index) throw new SnapshotOutOfDateError();
    this.snap = snap;
    this.ents = [dummyEntry(snap.metadata.index, snap.metadata.term)];
  }

  /**
   * Makes a snapshot of the state machine at `index` (≤ last index) and returns it; the log is
   * not compacted (call `compact`).
   * @throws SnapshotOutOfDateError when `index` ≤ the current snapshot index
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    assert(index <= this.lastIndex(), `snapshot ${index} is out of bound lastindex(${this.lastIndex()})`);
    const offset = this.ents[0].index;
    this.snap = { metadata: { index, term: this.ents[index - offset].term, confState }, data };
    return this.snap;
  }

  /**
   * Discards entries up to and including `compactIndex` (which must be ≤ last index). Compact
   * only up to the snapshot index (or a bit below it, to keep entries for slow followers): a
   * follower that needs a compacted entry is sent the snapshot, which must cover it.
   * @throws CompactedError when `compactIndex` is already compacted
   */
  compact(compactIndex: number): void {
    const offset = this.ents[0].index;
    if (compactIndex <= offset) throw new CompactedError();
    assert(compactIndex <= this.lastIndex(), `compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    const i = compactIndex - offset;
    const kept = this.ents.slice(i);
    kept[0] = dummyEntry(kept[0].index, kept[0].term);
    this.ents = kept;
  }

  /**
   * Appends entries the host has persisted. Entries that overlap the log replace the
   * conflicting tail; entries already compacted are skipped. The new entries must be contiguous
   * with the log.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    for (let k = 1; k < entries.length; k++) {
      assert(entries[k].index === entries[k - 1].index + 1, 'append: entries are not contiguous');
    }
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return;
    const ents = first > entries[0].index ? entries.slice(first - entries[0].index) : entries;
    const offset = ents[0].index - this.ents[0].index;
    assert(offset <= this.ents.length, `missing log entry [last: ${this.lastIndex()}, append at: ${ents[0].index}]`);
    if (offset < this.ents.length) this.ents.length = offset;
    for (const e of ents) this.ents.push(e);
  }
}

function dummyEntry(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: EMPTY_BYTES };
}
