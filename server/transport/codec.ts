/**
 * The binary form of a Raft `Message` on the peer wire: hand-written, little-endian, compact.
 *
 * ```
 * u8  type                 MessageType (0..18)
 * u8  flags                1 reject · 2 snapshot present · 4 context present
 * u64 to, u64 from         member IDs, fixed width (they are random 64-bit numbers)
 * uv  term, logTerm, index, commit, rejectHint
 * uv  entry count, then per entry:  uv term · uv index · u8 type · uv data length · data
 * [snapshot]  uv index · uv term · uv voter count · u64 voters… · uv learner count · u64 learners…
 *             · uv data length · data
 * [context]   uv length · bytes
 * ```
 * `uv` is an unsigned LEB128 varint of a safe integer (at most 8 bytes). The message is the whole
 * buffer: trailing bytes are an error. Framing on a stream is framing.ts's job.
 */
import { ConfState, Entry, EntryType, Message, MessageType, Snapshot } from '../raft/types';
import { varintSize } from '../../proto/varint';

const FLAG_REJECT = 1;
const FLAG_SNAPSHOT = 2;
const FLAG_CONTEXT = 4;
const FLAGS_KNOWN = FLAG_REJECT | FLAG_SNAPSHOT | FLAG_CONTEXT;
const MESSAGE_TYPE_MAX = MessageType.MsgPreVoteResp;
const ENTRY_TYPE_MAX = EntryType.ConfChange;
/** A varint of a safe integer (< 2^53) takes at most 8 bytes (8 × 7 = 56 bits). */
const VARINT_BYTES_MAX = 8;
const EMPTY = new Uint8Array(0);

/** A buffer that is not a well-formed message. Code: `ERR_TRANSPORT_CODEC`. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
  readonly code = 'ERR_TRANSPORT_CODEC';
}

/** Bytes `encodeMessage(m)` produces, computed without encoding. */
export function encodedMessageBytes(m: Message): number {
  let size = 2 + 16;
  size += varintSize(m.term) + varintSize(m.logTerm) + varintSize(m.index) + varintSize(m.commit);
  size += varintSize(m.rejectHint) + varintSize(m.entries.length);
  for (const e of m.entries) size += encodedEntryBytes(e);
  if (m.snapshot !== undefined) size += snapshotBytes(m.snapshot);
  if (m.context !== undefined) size += varintSize(m.context.length) + m.context.length;
  return size;
}

/** Bytes one entry takes inside an encoded message. */
export function encodedEntryBytes(e: Entry): number {
  return varintSize(e.term) + varintSize(e.index) + 1 + varintSize(e.data.length) + e.data.length;
}

function snapshotBytes(s: Snapshot): number {
  const md = s.metadata;
  const cs = md.confState;
  return (
    varintSize(md.index) +
    varintSize(md.term) +
    varintSize(cs.voters.length) +
    8 * cs.voters.length +
    varintSize(cs.learners.length) +
    8 * cs.learners.length +
    varintSize(s.data.length) +
    s.data.length
  );
}

/** Encodes `m` into a new buffer of exactly `encodedMessageBytes(m)` bytes. */
export function encodeMessage(m: Message): Uint8Array {
  const out = new Uint8Array(encodedMessageBytes(m));
  const end = encodeMessageInto(m, out, 0);
  if (end !== out.length) throw new Error(`codec: size mismatch ${end} != ${out.length}`);
  return out;
}

/**
 * Encodes `m` into `out` at `offset` (which must have `encodedMessageBytes(m)` bytes free).
 * @returns the offset just past the message
 */
export function encodeMessageInto(m: Message, out: Uint8Array, offset: number): number {
  const w = new Writer(out, offset);
  w.u8(m.type);
  w.u8((m.reject ? FLAG_REJECT : 0) | (m.snapshot !== undefined ? FLAG_SNAPSHOT : 0) | (m.context !== undefined ? FLAG_CONTEXT : 0));
  w.u64(m.to);
  w.u64(m.from);
  w.varint(m.term);
  w.varint(m.logTerm);
  w.varint(m.index);
  w.varint(m.commit);
  w.varint(m.rejectHint);
  w.varint(m.entries.length);
  for (const e of m.entries) {
    w.varint(e.term);
    w.varint(e.index);
    w.u8(e.type);
    w.bytes(e.data);
  }
  if (m.snapshot !== undefined) {
    const md = m.snapshot.metadata;
    w.varint(md.index);
    w.varint(md.term);
    w.ids(md.confState.voters);
    w.ids(md.confState.learners);
    w.bytes(m.snapshot.data);
  }
  if (m.context !== undefined) w.bytes(m.context);
  return w.pos;
}

export interface DecodeOptions {
  /**
   * Copy entry, snapshot and context bytes out of `buf` (default true). Pass false only when `buf`
   * holds this one message and nothing else, so that views into it keep no unrelated bytes alive.
   */
  readonly copy?: boolean;
}

/**
 * Decodes one message that fills `buf` exactly.
 * @throws CodecError on truncation, trailing bytes, unknown types or flags, or integers past 2^53
 */
export function decodeMessage(buf: Uint8Array, options: DecodeOptions = {}): Message {
  const r = new Reader(buf, options.copy ?? true);
  const type = r.u8();
  if (type > MESSAGE_TYPE_MAX) throw new CodecError(`unknown message type ${type}`);
  const flags = r.u8();
  if ((flags & ~FLAGS_KNOWN) !== 0) throw new CodecError(`unknown message flags 0x${flags.toString(16)}`);
  const to = r.u64();
  const from = r.u64();
  const term = r.varint();
  const logTerm = r.varint();
  const index = r.varint();
  const commit = r.varint();
  const rejectHint = r.varint();
  const entryCount = r.varint();
  // Every entry takes at least 4 bytes: a bad count fails here rather than allocating.
  if (entryCount * 4 > r.remaining()) throw new CodecError(`entry count ${entryCount} exceeds the message`);
  const entries: Entry[] = new Array(entryCount);
  for (let k = 0; k < entryCount; k++) {
    const eTerm = r.varint();
    const eIndex = r.varint();
    const eType = r.u8();
    if (eType > ENTRY_TYPE_MAX) throw new CodecError(`unknown entry type ${eType}`);
    entries[k] = { term: eTerm, index: eIndex, type: eType as EntryType, data: r.bytes() };
  }
  let snapshot: Snapshot | undefined;
  if ((flags & FLAG_SNAPSHOT) !== 0) {
    const sIndex = r.varint();
    const sTerm = r.varint();
    const confState: ConfState = { voters: r.ids(), learners: r.ids() };
    snapshot = { metadata: { index: sIndex, term: sTerm, confState }, data: r.bytes() };
  }
  const context = (flags & FLAG_CONTEXT) !== 0 ? r.bytes() : undefined;
  if (r.remaining() !== 0) throw new CodecError(`${r.remaining()} trailing bytes after the message`);
  return {
    type: type as MessageType,
    to,
    from,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (flags & FLAG_REJECT) !== 0,
    rejectHint,
    ...(snapshot !== undefined ? { snapshot } : {}),
    ...(context !== undefined ? { context } : {}),
  };
}

class Writer {
  private readonly view: DataView;
  constructor(
    private readonly out: Uint8Array,
    public pos: number,
  ) {
    this.view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  }

  u8(v: number): void {
    this.out[this.pos++] = v;
  }

  u64(v: bigint): void {
    this.view.setBigUint64(this.pos, v, true);
    this.pos += 8;
  }

  varint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`codec: ${n} is not a non-negative safe integer`);
    const out = this.out;
    while (n >= 0x80) {
      out[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    out[this.pos++] = n;
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.out.set(b, this.pos);
    this.pos += b.length;
  }

  ids(ids: readonly bigint[]): void {
    this.varint(ids.length);
    for (const id of ids) this.u64(id);
  }
}

class Reader {
  private readonly view: DataView;
  private pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly copy: boolean,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new CodecError(`message truncated at byte ${this.pos} (needs ${n} more)`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let k = 0; k < VARINT_BYTES_MAX; k++) {
      const b = this.u8();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new CodecError(`integer at byte ${this.pos} exceeds 2^53`);
        return value;
      }
      scale *= 0x80;
    }
    throw new CodecError(`varint at byte ${this.pos} is longer than ${VARINT_BYTES_MAX} bytes`);
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (n === 0) return EMPTY;
    this.need(n);
    const start = this.pos;
    this.pos += n;
    if (!this.copy) return this.buf.subarray(start, start + n);
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(start, start + n));
    return out;
  }

  ids(): bigint[] {
    const n = this.varint();
    if (n * 8 > this.remaining()) throw new CodecError(`ID count ${n} exceeds the message`);
    const ids: bigint[] = new Array(n);
    for (let k = 0; k < n; k++) ids[k] = this.u64();
    return ids;
  }
}
