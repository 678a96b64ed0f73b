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

  get position(): number {
    return this.offset;
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

/** gRPC method paths of the etcd v3 KV (Txn), Lease and Watch services. */
export const KV_TXN_PATH = '/etcdserverpb.KV/Txn';
export const LEASE_GRANT_PATH = '/etcdserverpb.Lease/LeaseGrant';
export const LEASE_KEEPALIVE_PATH = '/etcdserverpb.Lease/LeaseKeepAlive';
export const WATCH_PATH = '/etcdserverpb.Watch/Watch';

/** Concatenates protobuf fields already encoded. */
function concatFields(parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

function lenField(field: number, data: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(bytesFieldSize(field, data));
  writeBytesField(buf, 0, field, data);
  return buf;
}

/** A varint field, written even when 0 (for oneof members, whose presence matters). */
function varintField(field: number, value: number): Buffer {
  assertSafeCount(`field ${field}`, value);
  const buf = Buffer.allocUnsafe(varintBytes(field << 3) + varintBytes(value));
  const o = writeVarint(buf, writeVarint(buf, 0, (field << 3) | WIRE_VARINT), value);
  return buf.subarray(0, o);
}

/** `Compare.CompareResult` and `Compare.CompareTarget` (rpc.proto). */
export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;

/** A `Compare` on a key's mod_revision: field 1 result, 2 target (MOD), 3 key, 6 mod_revision (always written: oneof). */
export function encodeModRevisionCompare(key: Uint8Array, result: number, modRevision: number): Buffer {
  const parts = [];
  if (result !== 0) parts.push(varintField(1, result));
  parts.push(varintField(2, CompareTarget.MOD), lenField(3, key), varintField(6, modRevision));
  return concatFields(parts);
}

/** A `RequestOp` (1 request_range, 2 request_put, 3 request_delete_range) around an encoded request. */
export function encodeRequestOp(kind: 'range' | 'put' | 'delete', request: Uint8Array): Buffer {
  return lenField(kind === 'range' ? 1 : kind === 'put' ? 2 : 3, request);
}

/** A `DeleteRangeRequest` of one key: field 1 key. */
export function encodeDeleteRangeRequest(key: Uint8Array): Buffer {
  return lenField(1, key);
}

/** A `TxnRequest`: 1 compare (repeated Compare), 2 success, 3 failure (repeated RequestOp); all already encoded. */
export function encodeTxnRequest(compare: Uint8Array[], success: Uint8Array[], failure: Uint8Array[] = []): Buffer {
  return concatFields([...compare.map((c) => lenField(1, c)), ...success.map((s) => lenField(2, s)), ...failure.map((f) => lenField(3, f))]);
}

/** What the benchmark reads in a `TxnResponse`: header.revision (field 1), succeeded (field 2), responses count (field 3). */
export interface TxnSummary {
  revision: number;
  succeeded: boolean;
  responses: number;
}

export function decodeTxnSummary(response: Uint8Array): TxnSummary {
  const r = new FieldReader(response);
  let succeeded = false;
  let responses = 0;
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 2 && wire === WIRE_VARINT) succeeded = r.varint() !== 0;
    else if (field === 3 && wire === WIRE_LEN) {
      r.lengthDelimited();
      responses++;
    } else r.skip(wire);
  }
  return { revision: decodeHeaderRevision(response), succeeded, responses };
}

/** A `RangeResponse`'s kvs count, `more` (field 3) and the key of its last kv (KeyValue field 1), for paging. */
export interface RangePage {
  kvsLength: number;
  more: boolean;
  lastKey: Buffer | null;
  /** mod_revision (KeyValue field 3) of the last kv; 0 when none. */
  lastModRevision: number;
}

export function decodeRangePage(response: Uint8Array): RangePage {
  const r = new FieldReader(response);
  let kvsLength = 0;
  let more = false;
  let lastKv: [number, number] | null = null;
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 2 && wire === WIRE_LEN) {
      lastKv = r.lengthDelimited();
      kvsLength++;
    } else if (field === 3 && wire === WIRE_VARINT) more = r.varint() !== 0;
    else r.skip(wire);
  }
  let lastKey: Buffer | null = null;
  let lastModRevision = 0;
  if (lastKv !== null) {
    const kv = new FieldReader(response, lastKv[0], lastKv[1]);
    while (!kv.done()) {
      const [field, wire] = kv.tag();
      if (field === 1 && wire === WIRE_LEN) {
        const [s, e] = kv.lengthDelimited();
        lastKey = Buffer.from(response.subarray(s, e));
      } else if (field === 3 && wire === WIRE_VARINT) lastModRevision = kv.varint();
      else kv.skip(wire);
    }
  }
  return { kvsLength, more, lastKey, lastModRevision };
}

/** Reads a varint field's raw wire bytes (e.g. an int64 lease ID beyond 2^53, to be sent back as is); null when absent. */
export function rawVarintField(message: Uint8Array, fieldNumber: number): Buffer | null {
  const r = new FieldReader(message);
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === fieldNumber && wire === WIRE_VARINT) {
      const start = r.position;
      r.varint();
      return Buffer.from(message.subarray(start, r.position));
    }
    r.skip(wire);
  }
  return null;
}

/** Reads a non-negative varint field that fits a safe integer (0 when absent). */
export function varintFieldValue(message: Uint8Array, fieldNumber: number): number {
  const r = new FieldReader(message);
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === fieldNumber && wire === WIRE_VARINT) return r.varint();
    r.skip(wire);
  }
  return 0;
}

/** A `LeaseGrantRequest`: field 1 TTL (seconds). */
export function encodeLeaseGrantRequest(ttlSeconds: number): Buffer {
  return varintField(1, ttlSeconds);
}

/** A `LeaseKeepAliveRequest`: field 1 ID, given as its raw varint bytes. */
export function encodeLeaseKeepAliveRequest(rawId: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([(1 << 3) | WIRE_VARINT]), rawId]);
}

/** A `WatchRequest` with a `create_request` (field 1): WatchCreateRequest field 1 key. */
export function encodeWatchCreateRequest(key: Uint8Array): Buffer {
  return lenField(1, lenField(1, key));
}

/** What the benchmark reads in a `WatchResponse`: 3 created, 4 canceled, 6 cancel_reason, and the value (KeyValue field 5) of each event (11; Event field 2 kv). */
export interface WatchResponseSummary {
  created: boolean;
  canceled: boolean;
  cancelReason: string;
  values: Buffer[];
}

export function decodeWatchResponse(response: Uint8Array): WatchResponseSummary {
  const r = new FieldReader(response);
  const out: WatchResponseSummary = { created: false, canceled: false, cancelReason: '', values: [] };
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 3 && wire === WIRE_VARINT) out.created = r.varint() !== 0;
    else if (field === 4 && wire === WIRE_VARINT) out.canceled = r.varint() !== 0;
    else if (field === 6 && wire === WIRE_LEN) {
      const [s, e] = r.lengthDelimited();
      out.cancelReason = Buffer.from(response.subarray(s, e)).toString('utf8');
    } else if (field === 11 && wire === WIRE_LEN) {
      const [es, ee] = r.lengthDelimited();
      const ev = new FieldReader(response, es, ee);
      while (!ev.done()) {
        const [ef, ew] = ev.tag();
        if (ef === 2 && ew === WIRE_LEN) {
          const [ks, ke] = ev.lengthDelimited();
          const kv = new FieldReader(response, ks, ke);
          let value = Buffer.alloc(0);
          while (!kv.done()) {
            const [kf, kw] = kv.tag();
            if (kf === 5 && kw === WIRE_LEN) {
              const [vs, ve] = kv.lengthDelimited();
              value = Buffer.from(response.subarray(vs, ve));
            } else kv.skip(kw);
          }
          out.values.push(value);
        } else ev.skip(ew);
      }
    } else r.skip(wire);
  }
  return out;
}

/** Maintenance.Status (request: an empty StatusRequest). */
export const MAINTENANCE_STATUS_PATH = '/etcdserverpb.Maintenance/Status';

/** What the benchmark reads in a `StatusResponse`: header.member_id (ResponseHeader field 2) and leader (field 4), as raw varint bytes (uint64 IDs). */
export interface StatusSummary {
  memberId: Buffer | null;
  leader: Buffer | null;
}

export function decodeStatusResponse(response: Uint8Array): StatusSummary {
  const r = new FieldReader(response);
  const out: StatusSummary = { memberId: null, leader: null };
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LEN) {
      const [start, end] = r.lengthDelimited();
      out.memberId = rawVarintField(response.subarray(start, end), 2);
    } else if (field === 4 && wire === WIRE_VARINT) {
      const start = r.position;
      r.varint();
      out.leader = Buffer.from(response.subarray(start, r.position));
    } else r.skip(wire);
  }
  return out;
}
