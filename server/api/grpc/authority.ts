/**
 * Accepting etcd 3.4 clients' `:authority`.
 *
 * etcd 3.4's clientv3, for per-endpoint commands (`etcdctl endpoint status|health|hashkv`, ...),
 * dials grpc-go with the target "passthrough:///http://host:port", so its requests carry
 * `:authority: http://host:port`. etcd's Go server accepts that; node's nghttp2 refuses any
 * `:authority` containing '/' with RST_STREAM(PROTOCOL_ERROR), and node offers no switch.
 *
 * So the listener looks at a new HTTP/2 connection before handing it to node: it answers the
 * client's preface with an empty SETTINGS frame (grpc-go waits for the server's SETTINGS before its
 * first request), reads up to the first complete header block (and the client's ACK of that
 * SETTINGS, which it removes, as nghttp2 never sent it), and decodes `:authority`:
 * - no '/' (every other client): the socket goes to nghttp2 natively, with the bytes read so far.
 *   Later requests on the connection are not inspected (a client's authority does not change).
 * - a '/': the connection runs through {@link AuthorityPatchingStream}, which rewrites each '/' in
 *   `:authority` and `host` values to '-', in place, raw or Huffman-coded ('/' and '-' have codes of
 *   the same length, so frame lengths and HPACK table sizes stay the same). Slower, but only for
 *   these short-lived command-line connections.
 */
import { Duplex } from 'node:stream';
import type * as net from 'node:net';
import { HpackDecoder } from './hpack';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER_BYTES = 9;
const TYPE_HEADERS = 1;
const TYPE_SETTINGS = 4;
const TYPE_CONTINUATION = 9;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** An empty SETTINGS frame: the server's connection preface with every setting at its default. */
export const EMPTY_SETTINGS_FRAME = Buffer.from([0, 0, 0, TYPE_SETTINGS, 0, 0, 0, 0, 0]);

/** Bytes read while sniffing before giving up and handing the connection to nghttp2 as it is. */
const SNIFF_BYTES_MAX = 256 * 1024;

const PATCH = { names: new Set([':authority', 'host']), replace: new Map([[0x2f /* / */, 0x2d /* - */]]) };

/** The header block fragment of a HEADERS or CONTINUATION frame payload. */
function fragmentOf(type: number, flags: number, payload: Buffer): Buffer {
  if (type !== TYPE_HEADERS) return payload;
  let start = 0;
  let end = payload.length;
  if (flags & FLAG_PADDED) {
    end -= payload[0]!;
    start = 1;
  }
  if (flags & FLAG_PRIORITY) start += 5;
  if (start > end) throw new Error('HTTP/2: bad HEADERS padding');
  return payload.subarray(start, end);
}

export type SniffResult =
  | { readonly kind: 'undecided' }
  /** Hand `bytes` and the socket to node's http2 server as they are. */
  | { readonly kind: 'native'; readonly bytes: Buffer }
  /** Run the connection through an {@link AuthorityPatchingStream} fed `bytes` first. */
  | { readonly kind: 'patch'; readonly bytes: Buffer };

/**
 * Reads the start of an HTTP/2 connection (after the caller has sent {@link EMPTY_SETTINGS_FRAME})
 * until it can tell whether the client's `:authority` needs patching.
 */
export class ConnectionSniffer {
  private buf: Buffer = Buffer.alloc(0);
  /** Parsed frames end here. */
  private parsed = 0;
  private ackRange: [number, number] | null = null;
  private fragments: Buffer[] | null = null;
  private authority: string | null | undefined = undefined; // undefined: first block not complete

  /** Adds bytes from the client. */
  push(chunk: Buffer): SniffResult {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.parsed === 0) {
      if (this.buf.length < H2_PREFACE.length) return { kind: 'undecided' };
      if (!this.buf.subarray(0, H2_PREFACE.length).equals(H2_PREFACE)) return { kind: 'native', bytes: this.buf }; // nghttp2 will refuse it
      this.parsed = H2_PREFACE.length;
    }
    try {
      this.parseFrames();
    } catch {
      return this.result('native'); // malformed: let nghttp2 answer it
    }
    if (this.buf.length > SNIFF_BYTES_MAX) return this.result('native'); // not a client we can help
    if (this.ackRange === null || this.authority === undefined) return { kind: 'undecided' };
    return this.result(this.authority !== null && this.authority.includes('/') ? 'patch' : 'native');
  }

  /** True once the client has acknowledged our SETTINGS (so the connection may be handed over). */
  get acknowledged(): boolean {
    return this.ackRange !== null;
  }

  /** Gives up waiting for a request (an idle client): hand over natively if the ACK has arrived. */
  giveUp(): SniffResult {
    return this.ackRange === null ? { kind: 'undecided' } : this.result('native');
  }

  private result(kind: 'native' | 'patch'): SniffResult {
    const r = this.ackRange;
    const bytes = r === null ? this.buf : Buffer.concat([this.buf.subarray(0, r[0]), this.buf.subarray(r[1])]);
    return { kind, bytes };
  }

  private parseFrames(): void {
    const buf = this.buf;
    while (buf.length - this.parsed >= FRAME_HEADER_BYTES) {
      const at = this.parsed;
      const length = buf.readUIntBE(at, 3);
      const end = at + FRAME_HEADER_BYTES + length;
      if (end > buf.length) return;
      const type = buf[at + 3]!;
      const flags = buf[at + 4]!;
      const payload = buf.subarray(at + FRAME_HEADER_BYTES, end);
      this.parsed = end;
      if (type === TYPE_SETTINGS && (flags & FLAG_ACK) !== 0 && this.ackRange === null) {
        this.ackRange = [at, end];
      } else if (this.authority === undefined && (type === TYPE_HEADERS || (type === TYPE_CONTINUATION && this.fragments !== null))) {
        (this.fragments ??= []).push(fragmentOf(type, flags, payload));
        if (flags & FLAG_END_HEADERS) this.readAuthority(Buffer.concat(this.fragments));
      }
    }
  }

  private readAuthority(block: Buffer): void {
    let authority: string | null = null;
    new HpackDecoder().decode(block, (name, value) => {
      if (name === ':authority' || (name === 'host' && authority === null)) authority = value;
    });
    this.authority = authority;
  }
}

/**
 * A Duplex over a client socket that patches `:authority`/`host` in every header block the client
 * sends (see the module comment), for node's http2 server to run on. Writes go to the socket as
 * they are.
 */
export class AuthorityPatchingStream extends Duplex {
  private pending: Buffer = Buffer.alloc(0);
  private prefaceLeft = H2_PREFACE.length;
  private readonly hpack = new HpackDecoder(4096, PATCH);
  /** Frames of a header block still waiting for END_HEADERS (the patch needs the whole block). */
  private blockFrames: Buffer[] | null = null;

  constructor(private readonly socket: net.Socket, initial: Buffer) {
    super();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
    socket.on('drain', () => this.emit('drain'));
    if (initial.length > 0) this.onData(initial);
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
  setTimeout(ms: number, cb?: () => void): this {
    this.socket.setTimeout(ms, cb);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }

  private onData(chunk: Buffer): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, buf.length);
      out.push(buf.subarray(0, n));
      this.prefaceLeft -= n;
      buf = buf.subarray(n);
    }
    let at = 0;
    while (buf.length - at >= FRAME_HEADER_BYTES) {
      const end = at + FRAME_HEADER_BYTES + buf.readUIntBE(at, 3);
      if (end > buf.length) break;
      const frame = buf.subarray(at, end);
      at = end;
      const type = frame[3]!;
      if (type === TYPE_HEADERS || (type === TYPE_CONTINUATION && this.blockFrames !== null)) {
        (this.blockFrames ??= []).push(Buffer.from(frame)); // a copy we may patch
        if (frame[4]! & FLAG_END_HEADERS) {
          this.patchBlock(this.blockFrames);
          out.push(...this.blockFrames);
          this.blockFrames = null;
        }
      } else {
        out.push(frame);
      }
    }
    this.pending = Buffer.from(buf.subarray(at));
    if (out.length > 0 && !this.push(out.length === 1 ? out[0] : Buffer.concat(out))) this.socket.pause();
  }

  /** Patches a complete header block spread over frames, writing the patched bytes back into them. */
  private patchBlock(frames: Buffer[]): void {
    const fragments = frames.map((f) => fragmentOf(f[3]!, f[4]!, f.subarray(FRAME_HEADER_BYTES)));
    const block = Buffer.concat(fragments);
    try {
      this.hpack.decode(block);
    } catch {
      return; // malformed: pass it on, nghttp2 will answer it
    }
    let p = 0;
    for (const f of fragments) {
      block.copy(f, 0, p, p + f.length);
      p += f.length;
    }
  }
}
