/**
 * The write-ahead log: Cairn's durability point. A save appends the records of one Raft Ready in
 * one write call and makes them durable with one fdatasync; open replays the segments, repairs a
 * torn tail and refuses anything worse. See record.ts for the record format, segment-name.ts for
 * file names, scan.ts for how a torn tail is told from corruption.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Entry, HardState } from '../raft/types';
import { assert, WalCorruptError } from './errors';
import { closeFile, ensureDir, fdatasync, fdatasyncSync, fsyncDir, openFile, writeAt, writeAtSync, writeZeros } from './fsio';
import { SegmentPipeline } from './pipeline';
import { readU64, RECORD_HEADER_BYTES, RecordEncoder, RecordKind, SAVE_END_FLAG, type SnapshotMarker } from './record';
import { LogReplay } from './replay';
import { scanSegment } from './scan';
import { parseSegmentName, PREPARING_SUFFIX, segmentName, type SegmentName } from './segment-name';

/** Default size a segment is preallocated to, and rolls over at: 64 MiB, as etcd. */
export const SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Smallest accepted segment size. */
export const SEGMENT_BYTES_MIN = 4 * 1024;

export interface WalCreateOptions {
  /** Opaque bytes stored at the start of every segment (the host's cluster id and member id). */
  readonly metadata: Uint8Array;
  /** Segment size in bytes; default SEGMENT_BYTES_DEFAULT. */
  readonly segmentBytes?: number;
}

export interface WalOpenOptions {
  /** Size of segments created from now on; default SEGMENT_BYTES_DEFAULT. */
  readonly segmentBytes?: number;
}

/** What open cut off the end of the last segment (a torn write from a crash). */
export interface WalRepair {
  /** Path of the segment that was cut. */
  readonly file: string;
  /** Byte offset the log now ends at. */
  readonly offset: number;
  /** Non-zero bytes removed after `offset`. */
  readonly droppedBytes: number;
  /** What was found at `offset`. */
  readonly reason: string;
}

export interface WalOpenResult {
  readonly wal: Wal;
  readonly metadata: Uint8Array;
  /** The last hard state saved; all zero if none was. */
  readonly hardState: HardState;
  /** The log after the snapshot marker (or from index 1), contiguous, overwritten suffixes replaced. */
  readonly entries: Entry[];
  /** The last snapshot marker saved, if any: entries up to its index are not in `entries`. */
  readonly snapshot?: SnapshotMarker;
  /** Set when a torn tail was cut off the last segment. */
  readonly repaired?: WalRepair;
}

interface CurrentSegment {
  readonly name: SegmentName;
  readonly fd: number;
  /** Where the next record goes. */
  offset: number;
  /** Where records after the segment's header records begin. */
  readonly recordsStart: number;
  /** The temporary path while the segment is being started: renamed once its first save is durable. */
  preparingPath?: string;
}

interface LogPosition {
  /** Index of the last entry (or of the snapshot marker, if it is ahead of the entries). */
  lastIndex: number;
  lastTerm: number;
  hardState?: HardState;
  snapshot?: SnapshotMarker;
}

const EMPTY_HARD_STATE: HardState = { term: 0, vote: 0n, commit: 0 };

/**
 * A segmented, append-only log of Raft entries, hard states and snapshot markers.
 * Calls are serialized: a save waits for the previous one. After an I/O error the WAL is unusable
 * (every later call rejects with that error): the host must stop, as etcd does on a failed fsync.
 */
export class Wal {
  private queue: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;
  private readonly encoder = new RecordEncoder();
  private readonly headerEncoder = new RecordEncoder();

  /**
   * Saves whose records take at most this many bytes write and fdatasync synchronously, blocking
   * the calling thread (~0.1 ms on this machine's disk) instead of taking two thread-pool round
   * trips (~0.1 ms more). Larger saves stay asynchronous so that the host's work overlaps the
   * fsync. 0: never block (the default).
   */
  blockingSaveBytesMax = 0;

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly metadata: Uint8Array,
    /** Live segments, oldest first; the last one is `current`. */
    private readonly segments: SegmentName[],
    private current: CurrentSegment,
    private readonly position: LogPosition,
    private readonly pipeline: SegmentPipeline,
  ) {}

  /** True if `dir` holds at least one WAL segment. */
  static exists(dir: string): boolean {
    try {
      return fs.readdirSync(dir).some((name) => parseSegmentName(name) !== undefined);
    } catch {
      return false;
    }
  }

  /**
   * Creates a fresh log in `dir` (created if missing). The first segment appears under its final
   * name only once its metadata is durable, so `exists` never sees a half-made log.
   * @throws Error if `dir` already holds a WAL.
   */
  static async create(dir: string, options: WalCreateOptions): Promise<Wal> {
    const segmentBytes = checkSegmentBytes(options.segmentBytes);
    if (Wal.exists(dir)) throw new Error(`cannot create a WAL in ${dir}: one exists there already`);
    await ensureDir(dir);
    await removePreparingFiles(dir);
    const pipeline = new SegmentPipeline(dir, segmentBytes);
    try {
      const prepared = await pipeline.take();
      const header = new RecordEncoder();
      header.addMetadata(options.metadata, true);
      await writeAt(prepared.fd, header.bytes(), 0, header.length, 0);
      await fdatasync(prepared.fd);
      const name = segmentName(0, 1);
      await fs.promises.rename(prepared.path, path.join(dir, name.name));
      await fsyncDir(dir);
      const current: CurrentSegment = { name, fd: prepared.fd, offset: header.length, recordsStart: header.length };
      return new Wal(dir, segmentBytes, new Uint8Array(options.metadata), [name], current, { lastIndex: 0, lastTerm: 0 }, pipeline);
    } catch (err) {
      await pipeline.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Opens the log in `dir` and reads it back. A torn tail of the last segment is cut (reported in
   * `repaired`); the log is then ready for appending after the last good record.
   * @throws WalCorruptError for damage that is not a torn tail, a missing segment, or records that
   *   contradict each other; the message names the file and byte offset.
   * @throws Error if `dir` holds no WAL.
   */
  static async open(dir: string, options: WalOpenOptions = {}): Promise<WalOpenResult> {
    const segmentBytes = checkSegmentBytes(options.segmentBytes);
    if (!Wal.exists(dir)) throw new Error(`no WAL segments in ${dir}`);
    await removePreparingFiles(dir);
    const segments = await listSegments(dir);
    const replay = new LogReplay();
    let lastScan: ReturnType<typeof scanSegment> | undefined;
    let lastFileBytes = 0;
    let metadataEnd = 0;
    for (let i = 0; i < segments.length; i++) {
      const file = path.join(dir, segments[i].name);
      const buf = await fs.promises.readFile(file);
      const isLast = i === segments.length - 1;
      replay.beginSegment(file);
      const scan = scanSegment(buf, file, isLast, (record, offset) => {
        if (offset === 0) metadataEnd = record.end;
        replay.apply(buf, record, offset);
      });
      replay.endSegment();
      if (isLast) {
        lastScan = scan;
        lastFileBytes = buf.length;
      }
    }
    assert(lastScan !== undefined, 'the last segment was scanned');
    const log = replay.finish(path.join(dir, segments[0].name));

    const last = segments[segments.length - 1];
    const lastFile = path.join(dir, last.name);
    const fd = await openFile(lastFile, 'r+');
    let repaired: WalRepair | undefined;
    try {
      const tear = lastScan.tear;
      if (tear !== undefined) {
        // Zero what follows the last good record; restore the preallocated size if the file was cut short.
        const zeroEnd = Math.max(tear.nonZeroEnd, lastFileBytes < segmentBytes ? segmentBytes : 0);
        await writeZeros(fd, tear.offset, zeroEnd);
        await fdatasync(fd);
        repaired = { file: lastFile, offset: tear.offset, droppedBytes: tear.nonZeroEnd - tear.offset, reason: tear.reason };
      }
    } catch (err) {
      await closeFile(fd).catch(() => undefined);
      throw err;
    }

    const lastEntry = log.entries.length > 0 ? log.entries[log.entries.length - 1] : undefined;
    const position: LogPosition = {
      lastIndex: lastEntry?.index ?? log.snapshot?.index ?? 0,
      lastTerm: lastEntry?.term ?? log.snapshot?.term ?? 0,
      hardState: log.hardState,
      snapshot: log.snapshot,
    };
    const current: CurrentSegment = { name: last, fd, offset: lastScan.end, recordsStart: metadataEnd };
    const pipeline = new SegmentPipeline(dir, segmentBytes);
    pipeline.start();
    const wal = new Wal(dir, segmentBytes, log.metadata, segments, current, position, pipeline);
    return {
      wal,
      metadata: log.metadata,
      hardState: log.hardState ?? EMPTY_HARD_STATE,
      entries: log.entries,
      snapshot: log.snapshot,
      repaired,
    };
  }

  /**
   * Appends `entries` (if any) then `hardState` (if given) and makes them durable with one
   * fdatasync; resolves when they are. Give it all entries of one Raft Ready (group commit).
   * `entries` must be contiguous and start within [snapshot index + 1, last index + 1]; an
   * entry at or below the last index replaces the log from there on (a new leader's log).
   * The records are encoded when the call's turn comes: do not change `entries` or their data
   * until the returned promise settles.
   * @throws WalAssertionError when the entries break those rules (nothing is written).
   */
  save(hardState: HardState | undefined, entries: readonly Entry[]): Promise<void> {
    return this.enqueue(() => this.saveNow(hardState, entries));
  }

  /**
   * Records that a snapshot covers the log up to `marker.index`, durably. Entries up to that index
   * are no longer returned by open, and releaseTo may delete the segments holding them.
   * @throws WalAssertionError if the marker goes back from the previous one.
   */
  saveSnapshot(marker: SnapshotMarker): Promise<void> {
    return this.enqueue(() => this.saveSnapshotNow({ index: marker.index, term: marker.term }));
  }

  /**
   * Deletes whole segments whose live entries all lie below `index`, never any entry after the
   * last snapshot marker (so `index` is capped at snapshot index + 1), never the current segment.
   */
  releaseTo(index: number): Promise<void> {
    return this.enqueue(() => this.releaseToNow(index));
  }

  /** Waits for pending calls, then closes the files. Later calls reject. */
  close(): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.closed) return;
      this.closed = true;
      await closeFile(this.current.fd);
      await this.pipeline.close();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The current segment's path and the byte offset where the next record goes (diagnostics, tests). */
  tail(): { readonly file: string; readonly offset: number } {
    return { file: path.join(this.dir, this.current.name.name), offset: this.current.offset };
  }

  /** Index of the last entry saved (or of the snapshot marker, if it is ahead of the entries). */
  lastIndex(): number {
    return this.position.lastIndex;
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.queue.then(() => {
      if (this.failure !== undefined) throw this.failure;
      if (this.closed) throw new Error('the WAL is closed');
      return op();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async saveNow(hardState: HardState | undefined, entries: readonly Entry[]): Promise<void> {
    if (hardState === undefined && entries.length === 0) return;
    const pos = this.position;
    if (entries.length > 0) checkEntries(entries, pos);
    if (hardState !== undefined && pos.hardState !== undefined) {
      assert(
        hardState.term >= pos.hardState.term && hardState.commit >= pos.hardState.commit,
        `hard state (term ${hardState.term}, commit ${hardState.commit}) goes back from ` +
          `(term ${pos.hardState.term}, commit ${pos.hardState.commit})`,
      );
    }
    const enc = this.encoder;
    enc.reset();
    for (let i = 0; i < entries.length; i++) enc.addEntry(entries[i], hardState === undefined && i === entries.length - 1);
    if (hardState !== undefined) enc.addHardState(hardState, true);
    await this.writeRecords(enc.bytes());
    if (entries.length > 0) {
      const last = entries[entries.length - 1];
      pos.lastIndex = last.index;
      pos.lastTerm = last.term;
    }
    if (hardState !== undefined) pos.hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
  }

  private async saveSnapshotNow(marker: SnapshotMarker): Promise<void> {
    const pos = this.position;
    const previous = pos.snapshot;
    assert(
      previous === undefined || marker.index > previous.index || (marker.index === previous.index && marker.term === previous.term),
      `snapshot marker (index ${marker.index}, term ${marker.term}) goes back from (index ${previous?.index}, term ${previous?.term})`,
    );
    const enc = this.encoder;
    enc.reset();
    enc.addSnapshot(marker, true);
    await this.writeRecords(enc.bytes());
    pos.snapshot = marker;
    if (marker.index > pos.lastIndex) {
      pos.lastIndex = marker.index;
      pos.lastTerm = marker.term;
    }
  }

  private async releaseToNow(index: number): Promise<void> {
    const limit = Math.min(index, (this.position.snapshot?.index ?? 0) + 1);
    // Live entries of segments before segment n are below n's firstIndex (names need not increase:
    // an overwrite can shorten the log before a cut), so take the last n whose firstIndex ≤ limit.
    let n = 0;
    for (let i = 1; i < this.segments.length; i++) if (this.segments[i].firstIndex <= limit) n = i;
    if (n === 0) return;
    await this.failOnError(async () => {
      // Oldest first: a crash part-way leaves a contiguous run of segments.
      for (let i = 0; i < n; i++) await fs.promises.unlink(path.join(this.dir, this.segments[i].name));
      this.segments.splice(0, n);
      await fsyncDir(this.dir);
    });
  }

  /**
   * Writes `buf` (whole records) after the last record, rolling over to new segments where a
   * record does not fit, and makes everything durable. A new segment gets its final name only
   * after the previous segment and its own first records are durable, so that only the last
   * segment can ever have a torn tail.
   */
  private writeRecords(buf: Buffer): Promise<void> {
    return this.failOnError(async () => {
      // Live entries in the segments written so far are at most this index.
      let writtenIndex = this.position.lastIndex;
      const blocking = buf.length <= this.blockingSaveBytesMax;
      let p = 0;
      for (;;) {
        const seg = this.current;
        const q = this.fitEnd(buf, p, seg);
        if (q > p) {
          if (blocking) writeAtSync(seg.fd, buf, p, q, seg.offset);
          else await writeAt(seg.fd, buf, p, q, seg.offset);
          seg.offset += q - p;
        }
        if (q > p || seg.preparingPath !== undefined) {
          if (blocking) fdatasyncSync(seg.fd);
          else await fdatasync(seg.fd);
        }
        p = q;
        if (seg.preparingPath !== undefined) {
          await fs.promises.rename(seg.preparingPath, path.join(this.dir, seg.name.name));
          await fsyncDir(this.dir);
          seg.preparingPath = undefined;
          this.segments.push(seg.name);
        }
        if (p === buf.length) return;
        writtenIndex = Math.max(writtenIndex, maxEntryIndex(buf, 0, p));
        await this.cut(writtenIndex + 1);
      }
    });
  }

  /** End of the longest run of whole records from `p` that fits in `seg` (at least one record if it holds none yet). */
  private fitEnd(buf: Buffer, p: number, seg: CurrentSegment): number {
    const room = this.segmentBytes - seg.offset;
    if (buf.length - p <= room) return buf.length;
    let q = p;
    while (q < buf.length) {
      const end = q + RECORD_HEADER_BYTES + buf.readUInt32LE(q);
      if (end - p > room) {
        if (q === p && seg.offset === seg.recordsStart) q = end; // an oversized record gets a segment of its own
        break;
      }
      q = end;
    }
    return q;
  }

  /** Starts the next segment in a prepared file, headed by metadata, snapshot marker and hard state. */
  private async cut(firstIndex: number): Promise<void> {
    const prepared = await this.pipeline.take();
    const h = this.headerEncoder;
    h.reset();
    h.addMetadata(this.metadata, false);
    if (this.position.snapshot !== undefined) h.addSnapshot(this.position.snapshot, false);
    if (this.position.hardState !== undefined) h.addHardState(this.position.hardState, false);
    await writeAt(prepared.fd, h.bytes(), 0, h.length, 0);
    const previous = this.current;
    this.current = {
      name: segmentName(previous.name.seq + 1, firstIndex),
      fd: prepared.fd,
      offset: h.length,
      recordsStart: h.length,
      preparingPath: prepared.path,
    };
    await closeFile(previous.fd);
  }

  private async failOnError(op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
      throw err;
    }
  }
}

/** The highest entry index among the whole records of buf[start, end), or 0. */
function maxEntryIndex(buf: Buffer, start: number, end: number): number {
  let max = 0;
  for (let p = start; p < end; p = p + RECORD_HEADER_BYTES + buf.readUInt32LE(p)) {
    if ((buf[p + RECORD_HEADER_BYTES] & ~SAVE_END_FLAG) === RecordKind.Entry) {
      max = Math.max(max, readU64(buf, p + RECORD_HEADER_BYTES + 1 + 8));
    }
  }
  return max;
}

function checkSegmentBytes(segmentBytes: number | undefined): number {
  const bytes = segmentBytes ?? SEGMENT_BYTES_DEFAULT;
  assert(Number.isSafeInteger(bytes) && bytes >= SEGMENT_BYTES_MIN, `segmentBytes must be an integer ≥ ${SEGMENT_BYTES_MIN}, got ${bytes}`);
  return bytes;
}

/** Entries of one save: contiguous, terms never decreasing, starting within [snapshot + 1, last + 1]. */
function checkEntries(entries: readonly Entry[], pos: LogPosition): void {
  const first = entries[0];
  const snapshotIndex = pos.snapshot?.index ?? 0;
  assert(
    first.index > snapshotIndex && first.index <= pos.lastIndex + 1,
    `first entry index ${first.index} must lie in [${snapshotIndex + 1}, ${pos.lastIndex + 1}] ` +
      `(snapshot index ${snapshotIndex}, last index ${pos.lastIndex})`,
  );
  if (first.index === pos.lastIndex + 1) {
    assert(first.term >= pos.lastTerm, `entry ${first.index} has term ${first.term} below the last term ${pos.lastTerm}`);
  }
  for (let i = 1; i < entries.length; i++) {
    const e = entries[i];
    assert(e.index === first.index + i, `entry indexes must be contiguous: ${e.index} follows ${entries[i - 1].index}`);
    assert(e.term >= entries[i - 1].term, `entry ${e.index} has term ${e.term} below its predecessor's ${entries[i - 1].term}`);
  }
}

async function removePreparingFiles(dir: string): Promise<void> {
  const names = await fs.promises.readdir(dir);
  for (const name of names) if (name.endsWith(PREPARING_SUFFIX)) await fs.promises.rm(path.join(dir, name), { force: true });
}

/** The segments of `dir`, by sequence number, checked for gaps. */
async function listSegments(dir: string): Promise<SegmentName[]> {
  const segments = (await fs.promises.readdir(dir))
    .map(parseSegmentName)
    .filter((s): s is SegmentName => s !== undefined)
    .sort((a, b) => a.seq - b.seq);
  if (segments.length === 0) throw new Error(`no WAL segments in ${dir}`);
  for (let i = 1; i < segments.length; i++) {
    const file = path.join(dir, segments[i].name);
    if (segments[i].seq !== segments[i - 1].seq + 1) {
      throw new WalCorruptError(file, 0, `segment ${segments[i - 1].seq + 1} is missing before this one (the WAL has a hole)`);
    }
  }
  return segments;
}
