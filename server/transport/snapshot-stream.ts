/**
 * The body of a `POST /raft/snapshot` request: one MsgSnap, its data in checksummed chunks.
 *
 * ```
 * u32 length | MsgSnap encoded with empty snapshot data (codec.ts)
 * then per chunk:  u32 chunk length (> 0) | u32 crc32c(chunk) | chunk bytes
 * end record:      u32 0                  | u32 crc32c(all data)
 * ```
 * All little-endian. The data's total length travels in the `cairn-snapshot-bytes` header, so the
 * receiver bounds and allocates it before reading a byte. The receiver verifies every chunk's CRC,
 * the total length and the CRC of the whole, and delivers nothing unless all three hold.
 */
import { crc32c } from '../wal/crc32c';
import { Message, MessageType } from '../raft/types';
import { decodeMessage, encodedMessageBytes, encodeMessageInto } from './codec';
import { readU32, writeU32 } from './framing';

const EMPTY = new Uint8Array(0);
const CHUNK_HEADER_BYTES = 8;
/** The metadata message (confState IDs and all) is small; bound it well above any real membership. */
const SNAPSHOT_HEADER_MESSAGE_BYTES_MAX = 1024 * 1024;

/** A snapshot body that is malformed or fails its checksum. Code: `ERR_TRANSPORT_SNAPSHOT`. */
export class SnapshotStreamError extends Error {
  override readonly name = 'SnapshotStreamError';
  readonly code = 'ERR_TRANSPORT_SNAPSHOT';
}

/** The first bytes of the body: the framed MsgSnap without its data. */
export function encodeSnapshotHead(m: Message): Buffer {
  if (m.type !== MessageType.MsgSnap || m.snapshot === undefined) throw new TypeError('encodeSnapshotHead: not a MsgSnap with a snapshot');
  const head: Message = { ...m, snapshot: { metadata: m.snapshot.metadata, data: EMPTY } };
  const size = encodedMessageBytes(head);
  const out = Buffer.allocUnsafe(4 + size);
  writeU32(out, 0, size);
  encodeMessageInto(head, out, 4);
  return out;
}

/** The 8 bytes before a chunk (`crc` = crc32c of the chunk), or the end record (`length` 0, `crc` of all data). */
export function encodeChunkHeader(length: number, crc: number): Buffer {
  const out = Buffer.allocUnsafe(CHUNK_HEADER_BYTES);
  writeU32(out, 0, length);
  writeU32(out, 4, crc);
  return out;
}

type State = 'headLength' | 'head' | 'chunkHeader' | 'chunkData' | 'done';

/**
 * Reassembles a snapshot body from arbitrary chunks, verifying as it goes. Memory: the data buffer
 * (`dataBytes`, allocated up front) plus the small head message.
 */
export class SnapshotAssembler {
  private state: State = 'headLength';
  /** Collects fixed-size headers and the head message across chunks. */
  private scratch = new Uint8Array(4);
  private scratchFill = 0;
  private head: Message | undefined;
  private readonly data: Uint8Array;
  private dataFill = 0;
  private chunkRemaining = 0;
  private chunkCrcExpected = 0;
  private chunkCrc = 0;
  private chunkStart = 0;
  private chunkCount = 0;
  private totalCrc = 0;

  constructor(private readonly dataBytes: number) {
    this.data = new Uint8Array(dataBytes);
  }

  /** @throws SnapshotStreamError on a malformed body or a checksum mismatch */
  push(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.state === 'done') throw new SnapshotStreamError('bytes after the end record');
      if (this.state === 'chunkData') {
        const n = Math.min(this.chunkRemaining, chunk.length - pos);
        this.data.set(chunk.subarray(pos, pos + n), this.dataFill);
        this.chunkCrc = crc32c(this.data, this.dataFill, this.dataFill + n, this.chunkCrc);
        this.dataFill += n;
        this.chunkRemaining -= n;
        pos += n;
        if (this.chunkRemaining === 0) this.endChunk();
        continue;
      }
      const n = Math.min(this.scratch.length - this.scratchFill, chunk.length - pos);
      this.scratch.set(chunk.subarray(pos, pos + n), this.scratchFill);
      this.scratchFill += n;
      pos += n;
      if (this.scratchFill === this.scratch.length) this.onScratchFull();
    }
  }

  /**
   * The delivered message, once the whole body has been read.
   * @throws SnapshotStreamError when the body ended early
   */
  finish(): Message {
    if (this.state !== 'done' || this.head === undefined || this.head.snapshot === undefined) {
      throw new SnapshotStreamError(`snapshot body ended early (${this.dataFill} of ${this.dataBytes} data bytes, state ${this.state})`);
    }
    return { ...this.head, snapshot: { metadata: this.head.snapshot.metadata, data: this.data } };
  }

  private expect(bytes: number, state: State): void {
    this.scratch = bytes === this.scratch.length ? this.scratch : new Uint8Array(bytes);
    this.scratchFill = 0;
    this.state = state;
  }

  private onScratchFull(): void {
    const s = this.scratch;
    switch (this.state) {
      case 'headLength': {
        const length = readU32(s, 0);
        if (length === 0 || length > SNAPSHOT_HEADER_MESSAGE_BYTES_MAX) throw new SnapshotStreamError(`snapshot head message of ${length} bytes`);
        this.expect(length, 'head');
        return;
      }
      case 'head': {
        let m: Message;
        try {
          m = decodeMessage(s);
        } catch (err) {
          throw new SnapshotStreamError(`snapshot head message: ${(err as Error).message}`);
        }
        if (m.type !== MessageType.MsgSnap || m.snapshot === undefined || m.snapshot.data.length !== 0) {
          throw new SnapshotStreamError(`snapshot head is not a MsgSnap without data (type ${m.type})`);
        }
        this.head = m;
        this.expect(CHUNK_HEADER_BYTES, 'chunkHeader');
        return;
      }
      case 'chunkHeader': {
        const length = readU32(s, 0);
        const crc = readU32(s, 4);
        if (length === 0) {
          if (this.dataFill !== this.dataBytes) throw new SnapshotStreamError(`snapshot ended after ${this.dataFill} of ${this.dataBytes} bytes`);
          if (crc !== this.totalCrc) throw new SnapshotStreamError(`snapshot checksum mismatch: crc32c ${hex(this.totalCrc)}, sender said ${hex(crc)}`);
          this.state = 'done';
          return;
        }
        if (this.dataFill + length > this.dataBytes) throw new SnapshotStreamError(`snapshot chunk of ${length} bytes at offset ${this.dataFill} exceeds the ${this.dataBytes} announced`);
        this.chunkRemaining = length;
        this.chunkCrcExpected = crc;
        this.chunkCrc = 0;
        this.chunkStart = this.dataFill;
        this.state = 'chunkData';
        return;
      }
      default:
        throw new Error(`snapshot assembler: unexpected state ${this.state}`);
    }
  }

  private endChunk(): void {
    if (this.chunkCrc !== this.chunkCrcExpected) {
      throw new SnapshotStreamError(
        `snapshot chunk ${this.chunkCount} at offset ${this.chunkStart} failed its checksum: crc32c ${hex(this.chunkCrc)}, sender said ${hex(this.chunkCrcExpected)}`,
      );
    }
    this.totalCrc = crc32c(this.data, this.chunkStart, this.dataFill, this.totalCrc);
    this.chunkCount++;
    this.expect(CHUNK_HEADER_BYTES, 'chunkHeader');
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
