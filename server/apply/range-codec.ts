/**
 * Writes an `etcdserverpb.RangeResponse` by hand: the hot path of every Range. Each key-value is
 * copied as the store's own `mvccpb.KeyValue` wire bytes (`StoredKeyValue.encoded`), so nothing is
 * decoded or re-encoded; only keys_only responses re-encode each record without its value.
 *
 * Wire layout (rpc.proto): RangeResponse { 1 header: ResponseHeader, 2 kvs: repeated KeyValue,
 * 3 more: bool, 4 count: int64 }; ResponseHeader { 1 cluster_id: uint64, 2 member_id: uint64,
 * 3 revision: int64, 4 raft_term: uint64 }. Fields in field order, zero values left out and the
 * header always present, as etcd (Go's gogo-protobuf) writes them.
 */
import { keyValueSize, writeKeyValue, type KeyValueFields } from '../mvcc/kv-codec';
import type { StoredKeyValue } from '../mvcc/types';
import type { KvRangeResult } from './kv';

/** The header fields the host owns. */
export interface ResponseHeaderFields {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly raftTerm: number;
}

const EMPTY = Buffer.alloc(0);
const TWO_POW_32 = 0x1_0000_0000;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** A uint64 as [low 32 bits, high 32 bits]. */
function splitUint64(v: bigint): readonly [number, number] {
  const u = BigInt.asUintN(64, v);
  return [Number(u & 0xffffffffn), Number(u >> 32n)];
}

function varint64Size(lo: number, hi: number): number {
  if (hi === 0) return varintSize(lo);
  // Beyond 32 bits: 5 bytes carry 35 bits, then 7 bits per byte for the rest of `hi`.
  let size = 5;
  let rest = hi >>> 3;
  while (rest > 0) {
    rest >>>= 7;
    size++;
  }
  return size;
}

function writeVarint64(buf: Buffer, pos: number, lo: number, hi: number): number {
  if (hi === 0) return writeVarint(buf, pos, lo);
  for (let i = 0; i < 4; i++) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  // 28 bits of lo written; the 5th byte takes lo's top 4 bits and hi's low 3 bits.
  let byte = lo | ((hi & 0x7) << 4);
  hi >>>= 3;
  while (hi > 0) {
    buf[pos++] = byte | 0x80;
    byte = hi & 0x7f;
    hi >>>= 7;
  }
  buf[pos++] = byte;
  return pos;
}

/** Sizes of the ResponseHeader's fields, computed once per response. */
class HeaderLayout {
  readonly clusterLo: number;
  readonly clusterHi: number;
  readonly memberLo: number;
  readonly memberHi: number;
  readonly raftTerm: number;
  readonly size: number;

  constructor(
    header: ResponseHeaderFields,
    readonly revision: number,
  ) {
    [this.clusterLo, this.clusterHi] = splitUint64(header.clusterId);
    [this.memberLo, this.memberHi] = splitUint64(header.memberId);
    this.raftTerm = header.raftTerm;
    let size = 0;
    if (header.clusterId !== 0n) size += 1 + varint64Size(this.clusterLo, this.clusterHi);
    if (header.memberId !== 0n) size += 1 + varint64Size(this.memberLo, this.memberHi);
    if (revision !== 0) size += 1 + varintSize(revision);
    if (this.raftTerm !== 0) size += 1 + varintSize(this.raftTerm);
    this.size = size;
  }

  write(buf: Buffer, pos: number): number {
    if (this.clusterLo !== 0 || this.clusterHi !== 0) {
      buf[pos++] = 0x08;
      pos = writeVarint64(buf, pos, this.clusterLo, this.clusterHi);
    }
    if (this.memberLo !== 0 || this.memberHi !== 0) {
      buf[pos++] = 0x10;
      pos = writeVarint64(buf, pos, this.memberLo, this.memberHi);
    }
    if (this.revision !== 0) {
      buf[pos++] = 0x18;
      pos = writeVarint(buf, pos, this.revision);
    }
    if (this.raftTerm !== 0) {
      buf[pos++] = 0x20;
      pos = writeVarint(buf, pos, this.raftTerm);
    }
    return pos;
  }
}

/** A KeyValue record without its value, reused while encoding keys_only responses. */
type MutableKeyValueFields = { -readonly [K in keyof KeyValueFields]: KeyValueFields[K] };

function withoutValue(scratch: MutableKeyValueFields, kv: StoredKeyValue): MutableKeyValueFields {
  scratch.key = kv.key;
  scratch.createRevision = kv.createRevision;
  scratch.modRevision = kv.modRevision;
  scratch.version = kv.version;
  scratch.lease = kv.lease;
  return scratch;
}

/**
 * The RangeResponse wire bytes for `result`, with the host's header fields and the result's
 * header revision. Key-values are spliced from their stored encoding.
 */
export function encodeRangeResponse(result: KvRangeResult, header: ResponseHeaderFields): Uint8Array {
  const layout = new HeaderLayout(header, result.revision);
  const { kvs, keysOnly } = result;
  const scratch: MutableKeyValueFields = { key: EMPTY, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0n };

  let size = 1 + varintSize(layout.size) + layout.size;
  // Sizes of keys_only records, computed once: both passes need them.
  const kvSizes: number[] | undefined = keysOnly ? new Array<number>(kvs.length) : undefined;
  for (let i = 0; i < kvs.length; i++) {
    let kvSize: number;
    if (kvSizes) {
      kvSize = keyValueSize(withoutValue(scratch, kvs[i]));
      kvSizes[i] = kvSize;
    } else {
      kvSize = kvs[i].encoded.length;
    }
    size += 1 + varintSize(kvSize) + kvSize;
  }
  if (result.more) size += 2;
  if (result.count !== 0) size += 1 + varintSize(result.count);

  const buf = Buffer.allocUnsafe(size);
  buf[0] = 0x0a;
  let pos = writeVarint(buf, 1, layout.size);
  pos = layout.write(buf, pos);
  for (let i = 0; i < kvs.length; i++) {
    const kv = kvs[i];
    buf[pos++] = 0x12;
    if (kvSizes) {
      pos = writeVarint(buf, pos, kvSizes[i]);
      pos = writeKeyValue(buf, pos, withoutValue(scratch, kv));
    } else {
      pos = writeVarint(buf, pos, kv.encoded.length);
      pos += kv.encoded.copy(buf, pos);
    }
  }
  if (result.more) {
    buf[pos++] = 0x18;
    buf[pos++] = 0x01;
  }
  if (result.count !== 0) {
    buf[pos++] = 0x20;
    pos = writeVarint(buf, pos, result.count);
  }
  if (pos !== size) throw new Error(`assertion failed: RangeResponse size ${size}, wrote ${pos}`);
  return buf;
}
