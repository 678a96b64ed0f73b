/**
 * Rebuilds the log from the records of all segments, in order, as etcd's WAL read does: an entry
 * whose index is at or below the last one replaces that suffix (a new leader's log), a snapshot
 * marker releases the entries it covers, the last hard state wins. Every rule the writer asserts is
 * checked again here (index continuity, terms never decreasing), reporting the file and offset.
 */
import type { Entry, HardState } from '../raft/types';
import { WalCorruptError } from './errors';
import {
  decodeEntry,
  decodeHardState,
  decodeMetadata,
  decodeSnapshot,
  RecordKind,
  type RecordView,
  type SnapshotMarker,
} from './record';

export interface ReplayedLog {
  readonly metadata: Uint8Array;
  readonly hardState?: HardState;
  readonly snapshot?: SnapshotMarker;
  /** Entries after the snapshot marker, contiguous. */
  readonly entries: Entry[];
}

export class LogReplay {
  private metadata: Uint8Array | undefined;
  private hardState: HardState | undefined;
  private snapshot: SnapshotMarker | undefined;
  private entries: Entry[] = [];
  /** False until the first entry is kept: the log may begin anywhere once old segments are released. */
  private entryKept = false;
  private segmentRecords = 0;
  /** Entries decoded from the current segment, whose data still points into the file's buffer. */
  private segmentEntries: Array<{ data: Uint8Array }> = [];
  private file = '';

  beginSegment(file: string): void {
    this.file = file;
    this.segmentRecords = 0;
    this.segmentEntries = [];
  }

  /** Ends a segment: moves its entries' data out of the file buffer into one compact allocation. */
  endSegment(): void {
    if (this.segmentRecords === 0) this.corrupt(0, 'segment holds no records (every segment starts with metadata)');
    let bytes = 0;
    for (const e of this.segmentEntries) bytes += e.data.length;
    const store = new ArrayBuffer(bytes);
    let offset = 0;
    for (const e of this.segmentEntries) {
      const copy = new Uint8Array(store, offset, e.data.length);
      copy.set(e.data);
      e.data = copy;
      offset += copy.length;
    }
    this.segmentEntries = [];
  }

  apply(buf: Buffer, record: RecordView, offset: number): void {
    const first = this.segmentRecords++ === 0;
    if (first !== (record.kind === RecordKind.Metadata)) {
      this.corrupt(offset, first ? 'segment does not start with a metadata record' : 'metadata record inside a segment');
    }
    switch (record.kind) {
      case RecordKind.Metadata:
        return this.applyMetadata(decodeMetadata(buf, record), offset);
      case RecordKind.Entry: {
        const entry = this.decoded(decodeEntry(buf, record), offset);
        this.segmentEntries.push(entry as { data: Uint8Array }); // our own object: data is replaced by endSegment
        return this.applyEntry(entry, offset);
      }
      case RecordKind.HardState:
        return this.applyHardState(this.decoded(decodeHardState(buf, record), offset), offset);
      case RecordKind.Snapshot:
        return this.applySnapshot(this.decoded(decodeSnapshot(buf, record), offset), offset);
    }
  }

  /** @param firstFile the first segment, named when entries after the snapshot are missing. */
  finish(firstFile: string): ReplayedLog {
    if (this.metadata === undefined) throw new WalCorruptError(firstFile, 0, 'no metadata record');
    const snapshotIndex = this.snapshot?.index ?? 0;
    if (this.entries.length > 0 && this.entries[0].index !== snapshotIndex + 1) {
      throw new WalCorruptError(
        firstFile,
        0,
        `the log is missing entries [${snapshotIndex + 1}, ${this.entries[0].index}) after the snapshot marker ` +
          `at index ${snapshotIndex} (a segment was removed)`,
      );
    }
    return { metadata: this.metadata, hardState: this.hardState, snapshot: this.snapshot, entries: this.entries };
  }

  private applyMetadata(metadata: Uint8Array, offset: number): void {
    if (this.metadata === undefined) this.metadata = metadata;
    else if (Buffer.compare(this.metadata, metadata) !== 0) this.corrupt(offset, 'metadata differs from the first segment');
  }

  private applyEntry(entry: Entry, offset: number): void {
    const snapshotIndex = this.snapshot?.index ?? 0;
    if (entry.index <= snapshotIndex) return; // covered by the snapshot
    const entries = this.entries;
    if (entries.length === 0) {
      if (this.entryKept && entry.index !== snapshotIndex + 1) {
        this.corrupt(offset, `entry index ${entry.index} leaves a gap after snapshot index ${snapshotIndex}`);
      }
      if (this.snapshot !== undefined && entry.index === snapshotIndex + 1 && entry.term < this.snapshot.term) {
        this.corrupt(offset, `entry ${entry.index} has term ${entry.term} below the snapshot's term ${this.snapshot.term}`);
      }
    } else {
      const firstIndex = entries[0].index;
      const lastIndex = firstIndex + entries.length - 1;
      if (entry.index > lastIndex + 1) {
        this.corrupt(offset, `entry index ${entry.index} leaves a gap after index ${lastIndex}`);
      }
      const keep = Math.max(0, entry.index - firstIndex);
      if (keep > 0 && entries[keep - 1].term > entry.term) {
        this.corrupt(offset, `entry ${entry.index} has term ${entry.term} below its predecessor's term ${entries[keep - 1].term}`);
      }
      entries.length = keep; // a new leader's entries replace the suffix from entry.index on
    }
    entries.push(entry);
    this.entryKept = true;
  }

  private applyHardState(hardState: HardState, offset: number): void {
    const previous = this.hardState;
    if (previous !== undefined && (hardState.term < previous.term || hardState.commit < previous.commit)) {
      this.corrupt(offset, `hard state (term ${hardState.term}, commit ${hardState.commit}) goes back from ` +
        `(term ${previous.term}, commit ${previous.commit})`);
    }
    this.hardState = hardState;
  }

  private applySnapshot(marker: SnapshotMarker, offset: number): void {
    const previous = this.snapshot;
    if (previous !== undefined && (marker.index < previous.index || (marker.index === previous.index && marker.term !== previous.term))) {
      this.corrupt(offset, `snapshot marker (index ${marker.index}, term ${marker.term}) goes back from ` +
        `(index ${previous.index}, term ${previous.term})`);
    }
    this.snapshot = marker;
    const entries = this.entries;
    if (entries.length > 0 && entries[0].index <= marker.index) {
      entries.splice(0, Math.min(entries.length, marker.index - entries[0].index + 1));
    }
    // A snapshot received from the leader replaces a log that had diverged: entries written before
    // its marker whose term is below the snapshot's cannot follow it (terms never go down along a
    // log); they are stale, and so is everything after them.
    if (entries.length > 0 && entries[0].index === marker.index + 1 && entries[0].term < marker.term) entries.length = 0;
  }

  private decoded<T>(value: T | string, offset: number): T {
    if (typeof value === 'string') this.corrupt(offset, value);
    return value as T;
  }

  private corrupt(offset: number, reason: string): never {
    throw new WalCorruptError(this.file, offset, reason);
  }
}
