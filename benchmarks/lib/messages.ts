/**
 * Hand-written protobuf encoding of the few etcd v3 requests the benchmark sends, and decoding of the
 * few response fields it reads. Field numbers are those of etcd's `rpc.proto` (package
 * `etcdserverpb`); nothing here depends on generated code, so the benchmark can measure any
 * etcd-compatible endpoint, and encoding costs the load generator next to nothing.
 */

/** gRPC method paths of the etcd v3 KV service. */
export const KV_PUT_PATH = '/etcdserverpb.KV/Put';
export const KV_RANGE_PATH = '/etcdserverpb.KV/Range';

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

/** A `PutRequest`: field 1 key (bytes), 2 value (bytes). */
export interface PutRequestFields {
  key: Uint8Array;
  value: Uint8Array;
}

/** A `RangeRequest`, subset: the range is `[key, rangeEnd)`; no `rangeEnd` means the one key. */
export interface RangeRequestFields {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** Field 3; 0 or absent means no limit. */
  limit?: number;
  /** Field 7: served from the member's local state, without a ReadIndex round. */
  serializable?: boolean;
  /** Field 8. */
  keysOnly?: boolean;
  /** Field 9. */
  countOnly?: boolean;
}

function varintBytes(value: number): number {
  let bytes = 1;
  let v = value;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    bytes++;
  }
  return bytes;
}

/** Writes a non-negative safe integer as a varint; returns the offset after it. */
function writeVarint(buf: Uint8Array, offset: number, value: number): number {
  let v = value;
  let o = offset;
  while (v >= 0x80) {
    buf[o++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[o++] = v;
  return o;
}

function bytesFieldSize(field: number, data: Uint8Array): number {
  return varintBytes(field << 3) + varintBytes(data.length) + data.length;
}

function writeBytesField(buf: Uint8Array, offset: number, field: number, data: Uint8Array): number {
  let o = writeVarint(buf, offset, (field << 3) | WIRE_LEN);
  o = writeVarint(buf, o, data.length);
  buf.set(data, o);
  return o + data.length;
}

function assertSafeCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
}

/** Encodes a `PutRequest` (proto3: empty fields are omitted). */
export function encodePutRequest(request: PutRequestFields): Buffer {
  let size = 0;
  if (request.key.length > 0) size += bytesFieldSize(1, request.key);
  if (request.value.length > 0) size += bytesFieldSize(2, request.value);
  const buf = Buffer.allocUnsafe(size);
  let o = 0;
  if (request.key.length > 0) o = writeBytesField(buf, o, 1, request.key);
  if (request.value.length > 0) o = writeBytesField(buf, o, 2, request.value);
  if (o !== size) throw new Error(`PutRequest encoding wrote ${o} bytes, expected ${size}`);
  return buf;
}

/** Encodes a `RangeRequest` (proto3: default-valued fields are omitted). */
export function encodeRangeRequest(request: RangeRequestFields): Buffer {
  const limit = request.limit ?? 0;
  assertSafeCount('limit', limit);
  let size = 0;
  if (request.key.length > 0) size += bytesFieldSize(1, request.key);
  if (request.rangeEnd !== undefined && request.rangeEnd.length > 0) size += bytesFieldSize(2, request.rangeEnd);
  if (limit > 0) size += 1 + varintBytes(limit);
  if (request.serializable === true) size += 2;
  if (request.keysOnly === true) size += 2;
  if (request.countOnly === true) size += 2;
  const buf = Buffer.allocUnsafe(size);
  let o = 0;
  if (request.key.length > 0) o = writeBytesField(buf, o, 1, request.key);
  if (request.rangeEnd !== undefined && request.rangeEnd.length > 0) o = writeBytesField(buf, o, 2, request.rangeEnd);
  if (limit > 0) {
    buf[o++] = (3 << 3) | WIRE_VARINT;
    o = writeVarint(buf, o, limit);
  }
  if (request.serializable === true) {
    buf[o++] = (7 << 3) | WIRE_VARINT;
    buf[o++] = 1;
  }
  if (request.keysOnly === true) {
    buf[o++] = (8 << 3) | WIRE_VARINT;
    buf[o++] = 1;
  }
  if (request.countOnly === true) {
    buf[o++] = (9 << 3) | WIRE_VARINT;
    buf[o++] = 1;
  }
  if (o !== size) throw new Error(`RangeRequest encoding wrote ${o} bytes, expected ${size}`);
  return buf;
}

/** A cursor over protobuf wire bytes that reads one field at a time. */
class FieldReader {
  private offset: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.offset = start;
  }

  done(): boolean {
    return this.offset >= this.end;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.offset >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.offset++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** Reads a tag; returns `[fieldNumber, wireType]`. */
  tag(): [number, number] {
    const t = this.varint();
    return [Math.floor(t / 8), t & 7];
  }

  /** Reads a length-delimited field's bounds: `[start, end)`. */
  lengthDelimited(): [number, number] {
    const len = this.varint();
    const start = this.offset;
    if (start + len > this.end) throw new Error('truncated length-delimited field');
    this.offset += len;
    return [start, start + len];
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 2) this.lengthDelimited();
    else if (wireType === 1 || wireType === 5) {
      this.offset += wireType === 1 ? 8 : 4;
      if (this.offset > this.end) throw new Error('truncated fixed-width field');
    } else throw new Error(`unsupported wire type ${wireType}`);
  }
}

/**
 * Reads `header.revision` (ResponseHeader field 3) from any KV response whose field 1 is the
 * `ResponseHeader` (PutResponse, RangeResponse, DeleteRangeResponse, TxnResponse).
 * Returns 0 when absent. Revisions are safe integers (2^53 revisions is centuries of writes).
 */
export function decodeHeaderRevision(response: Uint8Array): number {
  const r = new FieldReader(response);
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LEN) {
      const [start, end] = r.lengthDelimited();
      const h = new FieldReader(response, start, end);
      while (!h.done()) {
        const [hf, hw] = h.tag();
        if (hf === 3 && hw === WIRE_VARINT) return h.varint();
        h.skip(hw);
      }
      return 0;
    }
    r.skip(wire);
  }
  return 0;
}

/** What the benchmark checks in a `RangeResponse`: the number of `kvs` (field 2) and `count` (field 4). */
export interface RangeSummary {
  kvsLength: number;
  count: number;
}

/** Summarises a `RangeResponse` without decoding the key-values themselves. */
export function decodeRangeSummary(response: Uint8Array): RangeSummary {
  const r = new FieldReader(response);
  let kvsLength = 0;
  let count = 0;
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 2 && wire === WIRE_LEN) {
      r.lengthDelimited();
      kvsLength++;
    } else if (field === 4 && wire === WIRE_VARINT) {
      count = r.varint();
    } else {
      r.skip(wire);
    }
  }
  return { kvsLength, count };
}
