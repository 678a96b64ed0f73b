/**
 * Hand-written codec for etcd's `mvccpb.KeyValue` (kv.proto) and the backend's stored value.
 *
 * Wire fields: 1 key bytes, 2 create_revision int64, 3 mod_revision int64, 4 version int64,
 * 5 value bytes, 6 lease int64. Fields are written in field order, zero values omitted (proto3),
 * int64 as varints (a negative int64 as its 10-byte two's complement).
 *
 * A stored value is one flag byte (put or tombstone) followed by the KeyValue bytes, so that a range
 * can hand out the KeyValue bytes as a view, without copying.
 */
import assert from 'node:assert';
import { varintSize, varintSizeBigint, writeVarint, writeVarintBigint } from '../../proto/varint';

/** First byte of a stored value. */
export const StoredFlag = {
  Put: 0x70, // 'p'
  Tombstone: 0x74, // 't'
} as const;
/** A stored value's flag byte. */
export type StoredFlag = (typeof StoredFlag)[keyof typeof StoredFlag];

/** The fields of an mvccpb.KeyValue to encode. */
export interface KeyValueFields {
  readonly key: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly value: Uint8Array;
  /** Lease ID, 0n when none. */
  readonly lease: bigint;
}

const TAG_KEY = 0x0a; // field 1, length-delimited
const TAG_CREATE_REVISION = 0x10; // field 2, varint
const TAG_MOD_REVISION = 0x18; // field 3, varint
const TAG_VERSION = 0x20; // field 4, varint
const TAG_VALUE = 0x2a; // field 5, length-delimited
const TAG_LEASE = 0x30; // field 6, varint

/** Bytes a varint of `n` takes (a negative int64 takes 10). */
function varintSizeOfNumber(n: number): number {
  return n < 0 ? 10 : varintSize(n);
}

function writeVarintNumber(buf: Uint8Array, pos: number, n: number): number {
  return n < 0 ? writeVarintBigint(buf, pos, BigInt(n)) : writeVarint(buf, pos, n);
}

function int64FieldSize(n: number): number {
  return n === 0 ? 0 : 1 + varintSizeOfNumber(n);
}

function bytesFieldSize(b: Uint8Array): number {
  return b.length === 0 ? 0 : 1 + varintSizeOfNumber(b.length) + b.length;
}

function assertInt64Number(n: number, what: string): void {
  assert(Number.isSafeInteger(n), `${what} must be a safe integer, got ${n}`);
}

/** Size in bytes of the KeyValue wire encoding of `kv`. */
export function keyValueSize(kv: KeyValueFields): number {
  return (
    bytesFieldSize(kv.key) +
    int64FieldSize(kv.createRevision) +
    int64FieldSize(kv.modRevision) +
    int64FieldSize(kv.version) +
    bytesFieldSize(kv.value) +
    (kv.lease === 0n ? 0 : 1 + varintSizeBigint(kv.lease))
  );
}

/** Writes the KeyValue wire encoding of `kv` into `buf` at `pos`; returns the position after it. */
export function writeKeyValue(buf: Uint8Array, pos: number, kv: KeyValueFields): number {
  assertInt64Number(kv.createRevision, 'createRevision');
  assertInt64Number(kv.modRevision, 'modRevision');
  assertInt64Number(kv.version, 'version');
  if (kv.key.length > 0) {
    buf[pos++] = TAG_KEY;
    pos = writeVarintNumber(buf, pos, kv.key.length);
    buf.set(kv.key, pos);
    pos += kv.key.length;
  }
  if (kv.createRevision !== 0) {
    buf[pos++] = TAG_CREATE_REVISION;
    pos = writeVarintNumber(buf, pos, kv.createRevision);
  }
  if (kv.modRevision !== 0) {
    buf[pos++] = TAG_MOD_REVISION;
    pos = writeVarintNumber(buf, pos, kv.modRevision);
  }
  if (kv.version !== 0) {
    buf[pos++] = TAG_VERSION;
    pos = writeVarintNumber(buf, pos, kv.version);
  }
  if (kv.value.length > 0) {
    buf[pos++] = TAG_VALUE;
    pos = writeVarintNumber(buf, pos, kv.value.length);
    buf.set(kv.value, pos);
    pos += kv.value.length;
  }
  if (kv.lease !== 0n) {
    buf[pos++] = TAG_LEASE;
    pos = writeVarintBigint(buf, pos, kv.lease);
  }
  return pos;
}

/** The KeyValue wire encoding of `kv`. */
export function encodeKeyValue(kv: KeyValueFields): Buffer {
  const buf = Buffer.allocUnsafe(keyValueSize(kv));
  const end = writeKeyValue(buf, 0, kv);
  assert.equal(end, buf.length, 'KeyValue size mismatch');
  return buf;
}

/** A stored value: `flag` followed by the KeyValue wire encoding of `kv`. */
export function encodeStoredValue(flag: StoredFlag, kv: KeyValueFields): Buffer {
  const size = 1 + keyValueSize(kv);
  const buf = Buffer.allocUnsafe(size);
  buf[0] = flag;
  const end = writeKeyValue(buf, 1, kv);
  assert.equal(end, size, 'stored value size mismatch');
  return buf;
}

/** Decoder state: reads varints and skips fields of one message. */
class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
  ) {
    this.pos = start;
  }

  /** A varint as a number; asserts that it is a non-negative safe integer. */
  varintNumber(): number {
    const buf = this.buf;
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      assert(this.pos < buf.length, 'truncated varint');
      const byte = buf[this.pos++];
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        assert(Number.isSafeInteger(result), 'int64 field beyond 2^53 or negative');
        return result;
      }
      multiplier *= 128;
    }
    assert.fail('varint longer than 10 bytes');
  }

  /** A varint as a signed int64 bigint. */
  varintInt64(): bigint {
    const buf = this.buf;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      assert(this.pos < buf.length, 'truncated varint');
      const byte = buf[this.pos++];
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asIntN(64, result);
      shift += 7n;
    }
    assert.fail('varint longer than 10 bytes');
  }

  /** Start and end of a length-delimited field's bytes; moves past them. */
  lengthDelimited(): number {
    const length = this.varintNumber();
    const start = this.pos;
    this.pos += length;
    assert(this.pos <= this.buf.length, 'truncated length-delimited field');
    return start;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varintInt64();
        return;
      case 1:
        this.pos += 8;
        return;
      case 2:
        this.lengthDelimited();
        return;
      case 5:
        this.pos += 4;
        return;
      default:
        assert.fail(`unsupported wire type ${wireType}`);
    }
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decoded KeyValue; `key` and `value` are views into the encoded bytes (no copy). */
export interface DecodedKeyValue {
  key: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Buffer;
  lease: bigint;
}

const EMPTY = Buffer.alloc(0);

/** Decodes KeyValue wire bytes; bytes fields are views into `encoded`. */
export function decodeKeyValue(encoded: Uint8Array): DecodedKeyValue {
  const buf = asBuffer(encoded);
  const reader = new Reader(buf, 0);
  const kv: DecodedKeyValue = { key: EMPTY, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0n };
  while (reader.pos < buf.length) {
    const tag = reader.varintNumber();
    switch (tag) {
      case TAG_KEY: {
        const start = reader.lengthDelimited();
        kv.key = buf.subarray(start, reader.pos);
        break;
      }
      case TAG_CREATE_REVISION:
        kv.createRevision = reader.varintNumber();
        break;
      case TAG_MOD_REVISION:
        kv.modRevision = reader.varintNumber();
        break;
      case TAG_VERSION:
        kv.version = reader.varintNumber();
        break;
      case TAG_VALUE: {
        const start = reader.lengthDelimited();
        kv.value = buf.subarray(start, reader.pos);
        break;
      }
      case TAG_LEASE:
        kv.lease = reader.varintInt64();
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  return kv;
}

/** What rebuilding the key index needs from a stored value. */
export interface StoredHeader {
  tombstone: boolean;
  /** latin1 string of the key bytes. */
  key: string;
  createRevision: number;
  version: number;
}

/**
 * Reads flag, key, createRevision and version of a stored value into `out`, without decoding the
 * value bytes (fields 1-4 precede field 5 in our encoding; any order is accepted).
 */
export function readStoredHeader(stored: Uint8Array, out: StoredHeader): StoredHeader {
  assert(stored.length >= 1, 'empty stored value');
  const flag = stored[0];
  assert(flag === StoredFlag.Put || flag === StoredFlag.Tombstone, `bad stored value flag ${flag}`);
  out.tombstone = flag === StoredFlag.Tombstone;
  out.key = '';
  out.createRevision = 0;
  out.version = 0;
  const buf = asBuffer(stored);
  const reader = new Reader(buf, 1);
  let seen = 0;
  while (reader.pos < buf.length && seen < 3) {
    const tag = reader.varintNumber();
    if (tag === TAG_KEY) {
      const start = reader.lengthDelimited();
      out.key = buf.toString('latin1', start, reader.pos);
      seen++;
    } else if (tag === TAG_CREATE_REVISION) {
      out.createRevision = reader.varintNumber();
      seen++;
    } else if (tag === TAG_VERSION) {
      out.version = reader.varintNumber();
      seen++;
    } else {
      reader.skip(tag & 7);
    }
  }
  return out;
}

/** The flag byte of a stored value. */
export function storedFlag(stored: Uint8Array): StoredFlag {
  return stored[0] as StoredFlag;
}
