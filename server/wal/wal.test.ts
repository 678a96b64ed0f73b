/**
 * The WAL's contract: what a save acknowledges comes back from open, in order, with overwritten
 * suffixes replaced (etcd's WAL read); segments roll over; a torn tail of the last segment is cut
 * and reported; damage anywhere else refuses to open naming the file and byte offset.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EntryType, type Entry, type HardState } from '../raft/types';
import { Wal, WalAssertionError, WalCorruptError } from './index';
import { entries, entry, makeTempDir, removeTempDir, segmentFiles } from './testing/fixtures';

const SEGMENT_BYTES = 64 * 1024;
const metadata = new TextEncoder().encode('cluster=1 member=2');

let dir: string;
beforeEach(() => {
  dir = path.join(makeTempDir(), 'member', 'wal');
});
afterEach(() => {
  removeTempDir(path.dirname(path.dirname(dir)));
});

function hs(term: number, commit: number, vote = 0n): HardState {
  return { term, vote, commit };
}

async function reopen(): Promise<Awaited<ReturnType<typeof Wal.open>>> {
  return Wal.open(dir, { segmentBytes: SEGMENT_BYTES });
}

/** Reads back and closes. */
async function readBack(): Promise<Awaited<ReturnType<typeof Wal.open>>> {
  const result = await reopen();
  await result.wal.close();
  return result;
}

function indexes(es: readonly Entry[]): number[] {
  return es.map((e) => e.index);
}

describe('Wal round trip', () => {
  test('create makes the directory, exists sees it, open reads back metadata, hard state and entries', async () => {
    expect(Wal.exists(dir)).toBe(false);
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    expect(Wal.exists(dir)).toBe(true);
    const saved = [entry(1, 1, 0), { ...entry(2, 1, 300), type: EntryType.ConfChange }, entry(3, 2, 5000)];
    await wal.save(hs(2, 2, 0xffff_ffff_ffff_fff1n), saved);
    await wal.close();

    const result = await readBack();
    expect(result.metadata).toEqual(metadata);
    expect(result.hardState).toEqual(hs(2, 2, 0xffff_ffff_ffff_fff1n));
    expect(result.entries).toEqual(saved);
    expect(result.snapshot).toBeUndefined();
    expect(result.repaired).toBeUndefined();
  });

  test('a fresh log opens with an empty hard state and no entries', async () => {
    await (await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES })).close();
    const result = await readBack();
    expect(result.hardState).toEqual(hs(0, 0));
    expect(result.entries).toEqual([]);
  });

  test('create refuses a directory that already holds a WAL', async () => {
    await (await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES })).close();
    await expect(Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES })).rejects.toThrow(/exists/);
  });

  test('open of a directory without a WAL fails', async () => {
    fs.mkdirSync(dir, { recursive: true });
    await expect(reopen()).rejects.toThrow(/no WAL segments/);
  });

  test('reopen and append more, several times', async () => {
    await (await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES })).close();
    for (let round = 0; round < 4; round++) {
      const { wal, entries: got } = await reopen();
      expect(indexes(got)).toEqual(indexes(entries(1, round * 10, 1)));
      await wal.save(hs(1, round * 10), entries(round * 10 + 1, round * 10 + 10, 1));
      await wal.close();
    }
    const result = await readBack();
    expect(result.entries).toEqual(entries(1, 40, 1));
    expect(result.hardState).toEqual(hs(1, 30));
  });

  test('saves called without waiting are applied in call order', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    const pending: Promise<void>[] = [];
    for (let i = 1; i <= 50; i++) pending.push(wal.save(hs(1, i - 1), [entry(i, 1, 100)]));
    await Promise.all(pending);
    await wal.close();
    const result = await readBack();
    expect(result.entries).toEqual(entries(1, 50, 1, 100));
    expect(result.hardState).toEqual(hs(1, 49));
  });
});

describe('Wal segments', () => {
  test('many saves roll over across several segments and read back in order', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    let next = 1;
    for (let s = 0; s < 300; s++) {
      const batch = entries(next, next + (s % 7), 1 + Math.floor(s / 100), 100 + (s % 13) * 50);
      await wal.save(hs(1 + Math.floor(s / 100), next - 1), batch);
      next += batch.length;
    }
    await wal.close();
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(5);
    // Names: contiguous sequence; firstIndex never decreasing; every full segment within its size.
    const names = files.map((f) => path.basename(f));
    names.forEach((n, i) => expect(n.slice(0, 16)).toBe(i.toString(16).padStart(16, '0')));
    for (const f of files) expect(fs.statSync(f).size).toBe(SEGMENT_BYTES);
    const result = await readBack();
    expect(indexes(result.entries)).toEqual(Array.from({ length: next - 1 }, (_, i) => i + 1));
    expect(result.entries[500].data).toEqual(entry(501, result.entries[500].term, result.entries[500].data.length).data);
  });

  test('small saves written with blocking I/O give the same durable log, across rollover', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    wal.blockingSaveBytesMax = 4096; // most saves below take the blocking path, the largest do not
    let next = 1;
    const written: Entry[] = [];
    for (let s = 0; s < 200; s++) {
      const batch = entries(next, next + (s % 5), 1, 50 + (s % 11) * 200);
      await wal.save(hs(1, next - 1), batch);
      written.push(...batch);
      next += batch.length;
    }
    await wal.close();
    expect(segmentFiles(dir).length).toBeGreaterThan(2);
    const result = await readBack();
    expect(indexes(result.entries)).toEqual(indexes(written));
    expect(result.entries.map((e) => Buffer.from(e.data).toString('hex'))).toEqual(written.map((e) => Buffer.from(e.data).toString('hex')));
  });

  test('the record that does not fit starts the next segment, which repeats metadata, snapshot and hard state', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    await wal.save(hs(3, 0, 7n), entries(1, 6, 3, 10_000));
    await wal.saveSnapshot({ index: 6, term: 3 });
    expect(segmentFiles(dir)).toHaveLength(1);
    await wal.save(hs(3, 6, 7n), [entry(7, 3, 10_000)]); // 7 × ~10 KB > 64 KiB
    const files = segmentFiles(dir);
    expect(files).toHaveLength(2);
    expect(path.basename(files[1])).toBe('0000000000000001-0000000000000007.wal');
    await wal.close();
    // Remove the first segment: the second alone still carries metadata, snapshot and the hard state of before.
    fs.unlinkSync(files[0]);
    const result = await readBack();
    expect(result.metadata).toEqual(metadata);
    expect(result.snapshot).toEqual({ index: 6, term: 3 });
    expect(result.hardState).toEqual(hs(3, 6, 7n));
    expect(indexes(result.entries)).toEqual([7]);
  });

  test('a record larger than a segment gets a segment of its own', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    await wal.save(undefined, [entry(1, 1, 100)]);
    await wal.save(undefined, [entry(2, 1, 3 * SEGMENT_BYTES)]);
    await wal.save(undefined, [entry(3, 1, 100)]);
    await wal.close();
    expect(segmentFiles(dir)).toHaveLength(3);
    const result = await readBack();
    expect(result.entries).toEqual([entry(1, 1, 100), entry(2, 1, 3 * SEGMENT_BYTES), entry(3, 1, 100)]);
  });

  test('a save larger than several segments spreads over them', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    await wal.save(hs(1, 0), entries(1, 400, 1, 1000));
    await wal.close();
    expect(segmentFiles(dir).length).toBeGreaterThanOrEqual(6);
    expect((await readBack()).entries).toEqual(entries(1, 400, 1, 1000));
  });

  test('a missing segment in the sequence refuses to open', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    for (let i = 0; i < 40; i++) await wal.save(undefined, entries(i * 10 + 1, i * 10 + 10, 1, 1000));
    await wal.close();
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(3);
    fs.unlinkSync(files[2]);
    await expect(reopen()).rejects.toThrow(WalCorruptError);
    await expect(reopen()).rejects.toThrow(/segment 2 is missing/);
  });
});

describe('Wal suffix overwrite', () => {
  test('entries at or below the last index replace the suffix (a new leader’s log)', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    await wal.save(hs(1, 3), entries(1, 10, 1));
    await wal.save(hs(2, 3), entries(6, 8, 2));
    await wal.save(undefined, entries(9, 9, 2));
    await wal.close();
    const result = await readBack();
    expect(result.entries).toEqual([...entries(1, 5, 1), ...entries(6, 9, 2)]);
  });

  test('an overwrite that reaches into an earlier segment', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    await wal.save(undefined, entries(1, 100, 1, 1000));
    expect(segmentFiles(dir).length).toBeGreaterThan(1);
    await wal.save(hs(2, 10), entries(20, 25, 2, 1000));
    await wal.close();
    const result = await readBack();
    expect(result.entries).toEqual([...entries(1, 19, 1, 1000), ...entries(20, 25, 2, 1000)]);
  });

  test('an overwrite that shortens the log before a rollover (segment names need not increase)', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    await wal.save(undefined, entries(1, 70, 1, 1000)); // rolls over: the second segment starts above 60
    await wal.save(hs(2, 5), entries(10, 10, 2, 1000)); // the log is now 1..10
    await wal.save(undefined, entries(11, 11, 2, SEGMENT_BYTES)); // does not fit: a segment named 11
    await wal.save(undefined, entries(12, 100, 2, 1000));
    const names = segmentFiles(dir).map((f) => parseInt(path.basename(f).slice(17, 33), 16));
    expect(names.some((n, i) => i > 0 && n < names[i - 1])).toBe(true);
    await wal.saveSnapshot({ index: 60, term: 2 });
    await wal.releaseTo(61);
    await wal.close();
    const result = await readBack();
    expect(result.entries).toEqual(entries(61, 100, 2, 1000));
    expect(segmentFiles(dir).length).toBeLessThan(names.length);
  });

  test('a gap, a start before the snapshot or a term going back is refused and writes nothing', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    await wal.save(hs(2, 2), entries(1, 5, 2));
    await expect(wal.save(undefined, entries(7, 8, 2))).rejects.toThrow(WalAssertionError);
    await expect(wal.save(undefined, [entry(6, 2), entry(8, 2)])).rejects.toThrow(/contiguous/);
    await expect(wal.save(undefined, [entry(6, 1)])).rejects.toThrow(/term/);
    await expect(wal.save(hs(1, 2), [])).rejects.toThrow(/hard state/);
    await wal.saveSnapshot({ index: 3, term: 2 });
    await expect(wal.save(undefined, [entry(3, 3)])).rejects.toThrow(/must lie in \[4, 6\]/);
    await wal.save(undefined, [entry(6, 2)]); // still usable
    await wal.close();
    const result = await readBack();
    expect(result.entries).toEqual([entry(4, 2), entry(5, 2), entry(6, 2)]);
  });
});

describe('Wal snapshots and releaseTo', () => {
  test('a snapshot marker hides the entries it covers', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    await wal.save(hs(1, 10), entries(1, 10, 1));
    await wal.saveSnapshot({ index: 7, term: 1 });
    await wal.close();
    const result = await readBack();
    expect(result.snapshot).toEqual({ index: 7, term: 1 });
    expect(indexes(result.entries)).toEqual([8, 9, 10]);
  });

  test('a snapshot marker ahead of the log (a follower installs a snapshot) is followed by entries after it', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    await wal.save(hs(1, 3), entries(1, 5, 1));
    await wal.saveSnapshot({ index: 50, term: 3 });
    expect(wal.lastIndex()).toBe(50);
    await wal.save(hs(3, 50), entries(51, 52, 3));
    await wal.close();
    const result = await readBack();
    expect(result.snapshot).toEqual({ index: 50, term: 3 });
    expect(result.entries).toEqual(entries(51, 52, 3));
  });

  test('a received snapshot drops the diverged entries after it that were written before its marker', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    await wal.save(hs(2, 3), entries(1, 10, 2));
    // The leader's snapshot at 6 is of term 4: entries 7..10 of term 2 were never committed.
    await wal.saveSnapshot({ index: 6, term: 4 });
    await wal.close();
    const result = await readBack();
    expect(result.snapshot).toEqual({ index: 6, term: 4 });
    expect(result.entries).toEqual([]);
    expect(result.wal.lastIndex()).toBe(6);
  });

  test('releaseTo deletes whole segments below the index, never entries after the snapshot', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    for (let i = 0; i < 30; i++) await wal.save(hs(1, i * 10), entries(i * 10 + 1, i * 10 + 10, 1, 1000));
    const before = segmentFiles(dir);
    expect(before.length).toBeGreaterThan(3);

    await wal.releaseTo(250); // no snapshot yet: nothing may go
    expect(segmentFiles(dir)).toEqual(before);

    await wal.saveSnapshot({ index: 200, term: 1 });
    await wal.releaseTo(250); // capped at the snapshot
    const after = segmentFiles(dir);
    expect(after.length).toBeLessThan(before.length);
    const firstIndexes = after.map((f) => parseInt(path.basename(f).slice(17, 33), 16));
    expect(firstIndexes[0]).toBeLessThanOrEqual(201);
    if (after.length > 1) expect(firstIndexes[1]).toBeGreaterThan(201);

    await wal.save(hs(1, 300), entries(301, 305, 1, 1000));
    await wal.close();
    const result = await readBack();
    expect(result.snapshot).toEqual({ index: 200, term: 1 });
    expect(result.entries).toEqual(entries(201, 305, 1, 1000));
    expect(result.hardState).toEqual(hs(1, 300));
  });

  test('releaseTo with a later snapshot written after the cut still reads back', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    for (let i = 0; i < 30; i++) await wal.save(hs(1, i * 10), entries(i * 10 + 1, i * 10 + 10, 1, 1000));
    await wal.saveSnapshot({ index: 300, term: 1 });
    await wal.releaseTo(301);
    expect(segmentFiles(dir)).toHaveLength(1);
    await wal.close();
    const result = await readBack();
    expect(result.entries).toEqual([]);
    expect(result.snapshot).toEqual({ index: 300, term: 1 });
    const { wal: again } = await reopen();
    await again.save(undefined, entries(301, 302, 1));
    await again.close();
    expect((await readBack()).entries).toEqual(entries(301, 302, 1));
  });
});

describe('Wal torn tails and corruption', () => {
  /** A log of 20 saves of 5 entries; returns the tail offset before and after the last save. */
  async function writeLog(): Promise<{ file: string; before: number; after: number }> {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    for (let i = 0; i < 19; i++) await wal.save(hs(1, i * 5), entries(i * 5 + 1, i * 5 + 5, 1, 200));
    const before = wal.tail();
    await wal.save(hs(1, 95), entries(96, 100, 1, 200));
    const after = wal.tail();
    await wal.close();
    expect(after.file).toBe(before.file);
    return { file: before.file, before: before.offset, after: after.offset };
  }

  async function expectRepairedTo(lastIndex: number, offset: number): Promise<void> {
    const { wal, entries: got, repaired } = await reopen();
    expect(repaired).toMatchObject({ offset });
    expect(repaired!.droppedBytes).toBeGreaterThan(0);
    expect(indexes(got)).toEqual(Array.from({ length: lastIndex }, (_, i) => i + 1));
    // It appends after the cut and reopens cleanly.
    await wal.save(hs(2, lastIndex), entries(lastIndex + 1, lastIndex + 3, 2, 200));
    await wal.close();
    const again = await readBack();
    expect(again.repaired).toBeUndefined();
    expect(again.entries.length).toBe(lastIndex + 3);
    expect(again.hardState).toEqual(hs(2, lastIndex));
  }

  test('a file truncated mid-record is cut at the last good record', async () => {
    const { file, before, after } = await writeLog();
    fs.truncateSync(file, before + Math.floor((after - before) / 2));
    const { entries: got, repaired } = await readBack();
    expect(repaired?.file).toBe(file);
    expect(got.length).toBeGreaterThanOrEqual(95);
    expect(got.length).toBeLessThan(100);
  });

  test('truncation mid-record: the repaired log keeps every earlier save and appends', async () => {
    const { file, before } = await writeLog();
    fs.truncateSync(file, before + 100); // inside the first entry record of the last save
    await expectRepairedTo(95, before);
    expect(fs.statSync(file).size).toBe(SEGMENT_BYTES);
  });

  test('random garbage after the last record is cut', async () => {
    const { file, after } = await writeLog();
    const fd = fs.openSync(file, 'r+');
    const garbage = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919 + 13) & 0xff));
    fs.writeSync(fd, garbage, 0, garbage.length, after);
    fs.closeSync(fd);
    await expectRepairedTo(100, after);
  });

  test('garbage appended past the end of a full file is cut', async () => {
    const { file, after } = await writeLog();
    fs.truncateSync(file, after);
    fs.appendFileSync(file, Buffer.from('this is not a record, just some trailing bytes'));
    await expectRepairedTo(100, after);
  });

  test('a last record partly zeroed is cut', async () => {
    const { file, before, after } = await writeLog();
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(150), 0, 150, after - 150);
    fs.closeSync(fd);
    const { entries: got, repaired } = await readBack();
    expect(repaired).toBeDefined();
    expect(repaired!.offset).toBeGreaterThanOrEqual(before);
    expect(got.length).toBeGreaterThanOrEqual(95);
    expect(got.length).toBeLessThan(100);
  });

  test('a torn final save whose later pages reached the disk (first page lost) is cut too', async () => {
    const { file, before } = await writeLog();
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(100), 0, 100, before); // the save's first sector never written
    fs.closeSync(fd);
    await expectRepairedTo(95, before);
  });

  test('a flipped byte in an early record refuses to open, naming file and offset', async () => {
    const { file } = await writeLog();
    const offset = 500;
    const bytes = fs.readFileSync(file);
    bytes[offset] ^= 0x40;
    fs.writeFileSync(file, bytes);
    const err = await reopen().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WalCorruptError);
    const corrupt = err as WalCorruptError;
    expect(corrupt.file).toBe(file);
    expect(corrupt.offset).toBeLessThanOrEqual(offset);
    expect(corrupt.offset).toBeGreaterThan(offset - 300);
    expect(corrupt.message).toContain(file);
    expect(corrupt.message).toContain(`byte offset ${corrupt.offset}`);
    expect(corrupt.message).toMatch(/etcdctl member remove/);
  });

  test('a damaged record in a segment that is not the last refuses to open', async () => {
    const wal = await Wal.create(dir, { metadata, segmentBytes: SEGMENT_BYTES });
    for (let i = 0; i < 20; i++) await wal.save(undefined, entries(i * 10 + 1, i * 10 + 10, 1, 1000));
    await wal.close();
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(2);
    const bytes = fs.readFileSync(files[0]);
    const lastRecordOffset = 40_000;
    bytes[lastRecordOffset] ^= 1;
    fs.writeFileSync(files[0], bytes);
    await expect(reopen()).rejects.toThrow(WalCorruptError);
    await expect(reopen()).rejects.toThrow(files[0]);
  });
});
