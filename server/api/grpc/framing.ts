/**
 * gRPC message framing ("Length-Prefixed-Message" in PROTOCOL-HTTP2.md): a 1-byte compressed flag,
 * a 4-byte big-endian length, then the message bytes. Messages cross DATA frame boundaries freely.
 */
import { Status } from './status';

/** Bytes of the prefix before each message. */
export const FRAME_PREFIX_BYTES = 5;

/** Above this size a message is sent as prefix + payload (two buffers, one writev) instead of one copy. */
export const FRAME_COPY_MAX_BYTES = 64 * 1024;

/** Frames a message into one new buffer: prefix + a copy of `payload`. */
export function frameMessage(payload: Uint8Array): Buffer {
  const n = payload.length;
  const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + n);
  out[0] = 0;
  out.writeUInt32BE(n, 1);
  out.set(payload, FRAME_PREFIX_BYTES);
  return out;
}

/** The 5-byte prefix alone, for large messages written without copying. */
export function framePrefix(length: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES);
  out[0] = 0;
  out.writeUInt32BE(length, 1);
  return out;
}

/** Receives what a {@link MessageDecoder} finds. */
export interface MessageSink {
  /** A complete message. It may be a view into a larger buffer: copy it to keep it long. */
  onDecodedMessage(message: Buffer): void;
  /** The stream broke the rules; no more messages follow. */
  onDecodeError(code: Status, message: string): void;
}

/**
 * Splits a stream of DATA chunks into messages. A message that lies whole within one chunk is
 * delivered as a view of that chunk (no copy); one that spans chunks is assembled in one buffer
 * allocated when its length is known.
 */
export class MessageDecoder {
  private prefix: Buffer | null = null;
  private prefixFilled = 0;
  private body: Buffer | null = null;
  private bodyFilled = 0;
  private failed = false;

  constructor(private readonly receiveBytesMax: number) {}

  /** True if a message has begun but not finished (a stream that ends here is truncated). */
  get midMessage(): boolean {
    return this.prefixFilled > 0 || this.body !== null;
  }

  push(chunk: Buffer, sink: MessageSink): void {
    if (this.failed) return;
    const len = chunk.length;
    let off = 0;
    while (off < len) {
      const body = this.body;
      if (body !== null) {
        const n = Math.min(body.length - this.bodyFilled, len - off);
        chunk.copy(body, this.bodyFilled, off, off + n);
        this.bodyFilled += n;
        off += n;
        if (this.bodyFilled === body.length) {
          this.body = null;
          sink.onDecodedMessage(body);
          if (this.failed) return;
        }
        continue;
      }
      let flags: number;
      let size: number;
      if (this.prefixFilled === 0 && len - off >= FRAME_PREFIX_BYTES) {
        flags = chunk[off]!;
        size = chunk.readUInt32BE(off + 1);
        off += FRAME_PREFIX_BYTES;
      } else {
        const prefix = (this.prefix ??= Buffer.allocUnsafe(FRAME_PREFIX_BYTES));
        const n = Math.min(FRAME_PREFIX_BYTES - this.prefixFilled, len - off);
        chunk.copy(prefix, this.prefixFilled, off, off + n);
        this.prefixFilled += n;
        off += n;
        if (this.prefixFilled < FRAME_PREFIX_BYTES) return;
        this.prefixFilled = 0;
        flags = prefix[0]!;
        size = prefix.readUInt32BE(1);
      }
      if ((flags & 1) !== 0) {
        this.fail(sink, Status.UNIMPLEMENTED, 'grpc: compressed messages are not supported (grpc-accept-encoding: identity)');
        return;
      }
      if (size > this.receiveBytesMax) {
        this.fail(sink, Status.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${size} vs. ${this.receiveBytesMax})`);
        return;
      }
      if (len - off >= size) {
        const message = chunk.subarray(off, off + size);
        off += size;
        sink.onDecodedMessage(message);
        if (this.failed) return;
        continue;
      }
      this.body = Buffer.allocUnsafe(size);
      this.bodyFilled = 0;
    }
  }

  /** Stops decoding: later chunks are ignored. */
  stop(): void {
    this.failed = true;
    this.body = null;
  }

  private fail(sink: MessageSink, code: Status, message: string): void {
    this.stop();
    sink.onDecodeError(code, message);
  }
}
