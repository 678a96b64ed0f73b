/**
 * A member's disk in the simulation, modelled at the level of the WAL's records (server/wal):
 * entries, hard states and snapshots, written in saves, made durable by `sync`. What was written
 * but not synced sits in the page cache: a crash keeps some prefix of it (the kernel may have
 * flushed part of it), and the record at the cut may be torn — partly on disk, its checksum
 * wrong. Recovery (`recover`) reads the records in order, as the WAL's open does: it cuts the log
 * at the first record whose checksum fails (a torn tail) together with everything after it, an
 * entry at or below the last index replaces that suffix, a snapshot covers the entries up to its
 * index, the last hard state wins.
 *
 * `durable()` is what a crash can never take away (the synced records): the host loop checks
 * against it that nothing it sends or applies depends on unsynced state.
 */
import { Random, randomInt } from '../random';
import { Entry, EntryType, HardState, Snapshot } from '../types';
import { EMPTY_HARD_STATE } from '../util';

export type DiskRecord =
  | { readonly kind: 'entry'; readonly entry: Entry; readonly crc: number }
  | { readonly kind: 'hardState'; readonly hardState: HardState; readonly crc: number }
  /**
   * A snapshot: `install` (received from the leader) replaces the whole log; otherwise (taken
   * locally, as the WAL's snapshot marker) it covers the entries up to its index and keeps those after.
   */
  | { readonly kind: 'snapshot'; readonly snapshot: Snapshot; readonly install: boolean; readonly crc: number };

/** What recovery rebuilds from the records: the state a restarted member starts from. */
export interface DiskState {
  readonly snapshot: Snapshot | undefined;
  /** Entries after the snapshot (or from index 1), contiguous. */
  readonly entries: readonly Entry[];
  readonly hardState: HardState;
}

/** What a crash did to the unsynced tail. */
export interface CrashLoss {
  /** Records written but not synced when the crash came. */
  readonly unsynced: number;
  /** Of those, records that reached the disk whole. */
  readonly kept: number;
  /** Whether the record after them reached the disk torn (recovery must cut it). */
  readonly torn: boolean;
}

/** FNV-1a over bytes, continuing from `h`. */
function fnv(h: number, bytes: ArrayLike<number>): number {
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function u32s(...xs: number[]): number[] {
  const out: number[] = [];
  for (const x of xs) for (let k = 0; k < 4; k++) out.push((x >>> (k * 8)) & 0xff);
  return out;
}

export function entryCrc(e: Entry): number {
  return fnv(fnv(0x811c9dc5, u32s(1, e.index, e.term, e.type, e.data.length)), e.data);
}

function hardStateCrc(hs: HardState): number {
  return fnv(0x811c9dc5, u32s(2, hs.term, Number(hs.vote & 0xffffffffn), hs.commit));
}

function snapshotCrc(s: Snapshot, install: boolean): number {
  const m = s.metadata;
  return fnv(fnv(0x811c9dc5, u32s(3, m.index, m.term, install ? 1 : 0, m.confState.voters.length, m.confState.learners.length)), s.data);
}

/** Whether the record's content still matches the checksum written with it. */
export function recordIntact(r: DiskRecord): boolean {
  switch (r.kind) {
    case 'entry':
      return entryCrc(r.entry) === r.crc;
    case 'hardState':
      return hardStateCrc(r.hardState) === r.crc;
    case 'snapshot':
      return snapshotCrc(r.snapshot, r.install) === r.crc;
  }
}

export function entryRecord(entry: Entry): DiskRecord {
  return { kind: 'entry', entry, crc: entryCrc(entry) };
}

export function hardStateRecord(hardState: HardState): DiskRecord {
  return { kind: 'hardState', hardState, crc: hardStateCrc(hardState) };
}

export function snapshotRecord(snapshot: Snapshot, install: boolean): DiskRecord {
  return { kind: 'snapshot', snapshot, install, crc: snapshotCrc(snapshot, install) };
}

/** A record as it lands when the write is cut short: its content damaged, its checksum the original. */
function tear(r: DiskRecord, random: Random): DiskRecord {
  switch (r.kind) {
    case 'entry': {
      const e = r.entry;
      // The tail of the payload never made it (zeros), or the header is half written.
      const data = e.data.length > 0 && random() < 0.7 ? e.data.slice(0, randomInt(random, e.data.length)) : e.data;
      const torn: Entry = data !== e.data ? { ...e, data } : { ...e, term: e.term + 1 + randomInt(random, 3), type: e.type === EntryType.Normal ? EntryType.ConfChange : EntryType.Normal };
      return { ...r, entry: torn };
    }
    case 'hardState':
      return { ...r, hardState: { ...r.hardState, commit: r.hardState.commit + 1 + randomInt(random, 5) } };
    case 'snapshot': {
      const s = r.snapshot;
      return s.data.length > 0
        ? { ...r, snapshot: { ...s, data: s.data.slice(0, randomInt(random, s.data.length)) } }
        : { ...r, snapshot: { ...s, metadata: { ...s.metadata, term: s.metadata.term + 1 } } };
    }
  }
}

export class Disk {
  private records: DiskRecord[] = [];
  /** Records [0, synced) are durable. */
  private synced = 0;
  /** Recovery state of the synced prefix, kept incrementally (`durable()`). */
  private durableState: MutableState = emptyState();
  /** Counters for reports. */
  readonly stats = { saves: 0, syncs: 0, crashesLosingWrites: 0, recordsLost: 0, tornRecords: 0, tornCut: 0 };

  /** Writes one save's records (not yet durable). */
  write(records: readonly DiskRecord[]): void {
    if (records.length === 0) return;
    this.stats.saves++;
    for (const r of records) this.records.push(r);
  }

  /** fdatasync: everything written so far is durable. */
  sync(): void {
    this.stats.syncs++;
    for (; this.synced < this.records.length; this.synced++) replayRecord(this.durableState, this.records[this.synced]);
  }

  /** Records written and not yet synced. */
  unsynced(): number {
    return this.records.length - this.synced;
  }

  /** The state recovery would rebuild from the synced records alone: what no crash can take away. */
  durable(): DiskState {
    return this.durableState;
  }

  /**
   * The machine loses power: of the unsynced records a random prefix reaches the disk whole and,
   * sometimes, the next one torn; the rest is gone. Returns what happened.
   */
  crash(random: Random): CrashLoss {
    const unsynced = this.unsynced();
    if (unsynced === 0) return { unsynced, kept: 0, torn: false };
    // Often everything unsynced is lost, often all of it survives, else a cut in between.
    const r = random();
    const kept = r < 0.4 ? 0 : r < 0.6 ? unsynced : randomInt(random, unsynced + 1);
    const torn = kept < unsynced && random() < 0.5;
    const survivors = this.records.slice(0, this.synced + kept);
    if (torn) survivors.push(tear(this.records[this.synced + kept], random));
    this.records = survivors;
    if (kept < unsynced) {
      this.stats.crashesLosingWrites++;
      this.stats.recordsLost += unsynced - kept;
    }
    if (torn) this.stats.tornRecords++;
    return { unsynced, kept, torn };
  }

  /**
   * Opens the disk after a crash, as the WAL does: reads the records in order and cuts the tail at
   * the first one that fails its checksum (a torn write); what is left becomes synced.
   */
  recover(): DiskState {
    let end = this.records.length;
    for (let i = this.synced; i < this.records.length; i++) {
      if (!recordIntact(this.records[i])) {
        end = i;
        this.stats.tornCut++;
        break;
      }
    }
    this.records.length = end;
    this.sync();
    return this.durableState;
  }

  /** Every record on disk (tests). */
  allRecords(): readonly DiskRecord[] {
    return this.records;
  }
}

interface MutableState {
  snapshot: Snapshot | undefined;
  entries: Entry[];
  hardState: HardState;
}

function emptyState(): MutableState {
  return { snapshot: undefined, entries: [], hardState: EMPTY_HARD_STATE };
}

/** Replays one record onto a recovery state (server/wal/replay.ts's rules, at the entry level). */
export function replayRecord(st: MutableState, r: DiskRecord): void {
  switch (r.kind) {
    case 'entry': {
      const e = r.entry;
      const snapIndex = st.snapshot?.metadata.index ?? 0;
      if (e.index <= snapIndex) return;
      const first = st.entries.length > 0 ? st.entries[0].index : snapIndex + 1;
      const keep = e.index - first;
      if (keep < 0 || keep > st.entries.length) {
        throw new Error(`disk: entry ${e.index} leaves a gap after ${first + st.entries.length - 1}`);
      }
      // server/wal/replay.ts refuses these: the WAL would not open.
      if (keep > 0 && st.entries[keep - 1].term > e.term) {
        throw new Error(`disk: entry ${e.index} has term ${e.term} below its predecessor's term ${st.entries[keep - 1].term} (the WAL refuses to open)`);
      }
      if (keep === 0 && st.snapshot !== undefined && e.index === snapIndex + 1 && e.term < st.snapshot.metadata.term) {
        throw new Error(`disk: entry ${e.index} has term ${e.term} below the snapshot's term ${st.snapshot.metadata.term} (the WAL refuses to open)`);
      }
      st.entries.length = keep;
      st.entries.push(e);
      return;
    }
    case 'hardState':
      st.hardState = r.hardState;
      return;
    case 'snapshot': {
      const s = r.snapshot.metadata.index;
      const prev = st.snapshot?.metadata.index ?? 0;
      if (s < prev) throw new Error(`disk: snapshot ${s} goes back from ${prev}`);
      st.snapshot = r.snapshot;
      if (r.install) st.entries = [];
      else st.entries = st.entries.filter((e) => e.index > s);
      return;
    }
  }
}

/** The term of entry i in a recovered state (snapshot included), or undefined when absent. */
export function termAt(st: DiskState, i: number): number | undefined {
  const snap = st.snapshot?.metadata;
  if (snap !== undefined && i === snap.index) return snap.term;
  if (snap !== undefined && i < snap.index) return undefined;
  const first = st.entries.length > 0 ? st.entries[0].index : 0;
  if (first === 0 || i < first || i >= first + st.entries.length) return undefined;
  return st.entries[i - first].term;
}

/** The last index in a recovered state. */
export function lastIndexOf(st: DiskState): number {
  if (st.entries.length > 0) return st.entries[st.entries.length - 1].index;
  return st.snapshot?.metadata.index ?? 0;
}
