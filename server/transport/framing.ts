/**
 * Length-prefixed frames on a byte stream: `u32 length (little-endian) | payload`. The reader
 * reassembles frames from arbitrary chunks; the writer packs several payloads into one buffer.
 */

export const FRAME_HEADER_BYTES = 4;

/** A frame whose declared length is over the reader's limit. Code: `ERR_TRANSPORT_FRAME_TOO_LARGE`. */
export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError';
  readonly code = 'ERR_TRANSPORT_FRAME_TOO_LARGE';
}

/**
 * A frame's payload. `owned` is true when `bytes` is a buffer allocated for this frame alone (so
 * views into it keep nothing else alive); false when it is a view into a received chunk.
 */
export interface Frame {
  readonly bytes: Uint8Array;
  readonly owned: boolean;
}

/**
 * Splits a stream of chunks into frames. Memory held: at most one partial frame (bounded by
 * `frameBytesMax`) plus a partial 4-byte header.
 */
export class FrameReader {
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** The payload being assembled, when a frame spans chunks. */
  private partial: Uint8Array | undefined;
  private partialFill = 0;

  constructor(private readonly frameBytesMax: number) {}

  /**
   * Feeds one chunk; calls `onFrame` for every frame it completes, in order.
   * @throws FrameTooLargeError when a header declares more than `frameBytesMax`
   */
  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.partial !== undefined) {
        const n = Math.min(this.partial.length - this.partialFill, chunk.length - pos);
        this.partial.set(chunk.subarray(pos, pos + n), this.partialFill);
        this.partialFill += n;
        pos += n;
        if (this.partialFill === this.partial.length) {
          const bytes = this.partial;
          this.partial = undefined;
          onFrame({ bytes, owned: true });
        }
        continue;
      }
      let length: number;
      if (this.headerFill === 0 && chunk.length - pos >= FRAME_HEADER_BYTES) {
        length = readU32(chunk, pos);
        pos += FRAME_HEADER_BYTES;
      } else {
        while (this.headerFill < FRAME_HEADER_BYTES && pos < chunk.length) this.header[this.headerFill++] = chunk[pos++];
        if (this.headerFill < FRAME_HEADER_BYTES) return;
        this.headerFill = 0;
        length = readU32(this.header, 0);
      }
      if (length > this.frameBytesMax) throw new FrameTooLargeError(`frame of ${length} bytes exceeds the limit of ${this.frameBytesMax}`);
      if (chunk.length - pos >= length) {
        onFrame({ bytes: chunk.subarray(pos, pos + length), owned: false });
        pos += length;
      } else {
        this.partial = new Uint8Array(length);
        this.partialFill = 0;
      }
    }
  }
}

export function readU32(b: Uint8Array, pos: number): number {
  return (b[pos] | (b[pos + 1] << 8) | (b[pos + 2] << 16) | (b[pos + 3] << 24)) >>> 0;
}

export function writeU32(b: Uint8Array, pos: number, v: number): void {
  b[pos] = v & 0xff;
  b[pos + 1] = (v >>> 8) & 0xff;
  b[pos + 2] = (v >>> 16) & 0xff;
  b[pos + 3] = (v >>> 24) & 0xff;
}
