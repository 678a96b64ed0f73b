/**
 * A backend snapshot: every key and value of the backend at one moment, as one byte string. This is
 * what a Raft snapshot carries to a member that fell behind the leader's log (etcd sends its bbolt
 * file for the same purpose); the receiver writes it into a fresh backend and swaps it in.
 *
 * Layout: `CRNB` | u32 version (1) | records | end marker | u64 record count.
 * A record is `u32 keyLength | key | u32 valueLength | value`; the end marker is a key length of
 * 0xffffffff. Integers are big-endian. The transport checksums the bytes in transit; the end marker
 * and the count catch a truncated or mis-assembled snapshot before anything is written.
 */
import type { Backend, BackendWrite, ScanEntry } from './backend';

const MAGIC = Buffer.from('CRNB', 'latin1');
const VERSION = 1;
const END_MARKER = 0xffffffff;
/** Bytes of writes per backend batch when a snapshot is written. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;

/** A backend snapshot's bytes are not one this codec wrote (or were cut short). */
export class BackendSnapshotError extends Error {
  override readonly name = 'BackendSnapshotError';
}

/**
 * Encodes the entries of `chunks` (a whole-backend snapshot scan).
 * @throws BackendSnapshotError when the encoding would exceed `maxBytes`.
 */
export async function encodeBackendSnapshot(chunks: AsyncIterable<ScanEntry[]>, maxBytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(8);
  MAGIC.copy(head, 0);
  head.writeUInt32BE(VERSION, 4);
  parts.push(head);
  let total = head.length;
  let count = 0;
  for await (const chunk of chunks) {
    let bytes = 0;
    for (const [key, value] of chunk) bytes += 8 + key.length + (value?.length ?? 0);
    const out = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (const [key, value] of chunk) {
      if (value === undefined) throw new BackendSnapshotError('a backend snapshot scan must read values');
      out.writeUInt32BE(key.length, at);
      out.set(key, at + 4);
      at += 4 + key.length;
      out.writeUInt32BE(value.length, at);
      out.set(value, at + 4);
      at += 4 + value.length;
    }
    total += bytes;
    count += chunk.length;
    if (total > maxBytes) throw new BackendSnapshotError(`the backend snapshot exceeds ${maxBytes} bytes`);
    parts.push(out);
  }
  const tail = Buffer.alloc(12);
  tail.writeUInt32BE(END_MARKER, 0);
  tail.writeBigUInt64BE(BigInt(count), 4);
  parts.push(tail);
  return Buffer.concat(parts, total + tail.length);
}

/** The records of an encoded snapshot, in order, in batches of about `batchBytes`. */
export function* decodeBackendSnapshot(data: Uint8Array, batchBytes = WRITE_BATCH_BYTES): Iterable<ScanEntry[]> {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 8 + 12 || !buf.subarray(0, 4).equals(MAGIC)) throw new BackendSnapshotError('not a backend snapshot (bad magic)');
  const version = buf.readUInt32BE(4);
  if (version !== VERSION) throw new BackendSnapshotError(`backend snapshot version ${version} is not supported`);
  let at = 8;
  let count = 0;
  let batch: ScanEntry[] = [];
  let bytes = 0;
  for (;;) {
    if (at + 4 > buf.length) throw new BackendSnapshotError(`backend snapshot cut short at byte ${at}`);
    const keyLength = buf.readUInt32BE(at);
    if (keyLength === END_MARKER) break;
    if (at + 4 + keyLength + 4 > buf.length) throw new BackendSnapshotError(`backend snapshot cut short in a key at byte ${at}`);
    const key = buf.subarray(at + 4, at + 4 + keyLength);
    at += 4 + keyLength;
    const valueLength = buf.readUInt32BE(at);
    if (at + 4 + valueLength > buf.length) throw new BackendSnapshotError(`backend snapshot cut short in a value at byte ${at}`);
    const value = buf.subarray(at + 4, at + 4 + valueLength);
    at += 4 + valueLength;
    batch.push([key, value]);
    count++;
    bytes += keyLength + valueLength;
    if (bytes >= batchBytes) {
      yield batch;
      batch = [];
      bytes = 0;
    }
  }
  if (at + 12 !== buf.length) throw new BackendSnapshotError(`backend snapshot has ${buf.length - at - 12} bytes after its end marker`);
  const expected = buf.readBigUInt64BE(at + 4);
  if (expected !== BigInt(count)) throw new BackendSnapshotError(`backend snapshot holds ${count} records but says ${expected}`);
  if (batch.length > 0) yield batch;
}

/**
 * Writes an encoded snapshot into an empty backend, in bounded batches, the last one fsynced.
 * Decoding runs ahead of writing only by one batch, and a malformed snapshot throws before its
 * end is written (the caller discards the half-written backend).
 */
export async function writeBackendSnapshot(backend: Backend, data: Uint8Array): Promise<{ records: number }> {
  let records = 0;
  let previous: BackendWrite[] | undefined;
  for (const batch of decodeBackendSnapshot(data)) {
    if (previous !== undefined) await backend.write(previous);
    previous = batch.map(([key, value]) => ({ type: 'put', key, value: value! }));
    records += batch.length;
  }
  if (previous === undefined) throw new BackendSnapshotError('backend snapshot holds no records');
  // The last batch is fsynced, which makes every earlier one durable (LevelDB's log is sequential).
  await backend.write(previous, { sync: true });
  return { records };
}
