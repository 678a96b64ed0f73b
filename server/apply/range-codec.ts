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
import { varintSize, writeVarint } from '../../proto/varint';

/** The header fields the host owns. */
export interface ResponseHeaderFields {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly raftTerm: number;
}

const EMPTY = Buffer.alloc(0);
const TWO_POW_32 = 0x1_0000_0000;

/**
 * A uint64 split into 32-bit halves, for varint writing without bigint arithmetic per call. The
 * member's cluster and member IDs are the same on every response: the last two splits are kept.
 */
class Uint64Halves {
  private lastValue = 0n;
  private lastLo = 0;
  private lastHi = 0;
  lo = 0;
  hi = 0;

  set(v: bigint): this {
    if (v !== this.lastValue) {
      const u = BigInt.asUintN(64, v);
      this.lastValue = v;
      this.lastLo = Number(u & 0xffffffffn);
      this.lastHi = Number(u >> 32n);
    }
    this.lo = this.lastLo;
    this.hi = this.lastHi;
    return this;
  }
}
const clusterIdHalves = new Uint64Halves();
const memberIdHalves = new Uint64Halves();

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

function headerSize(cluster: Uint64Halves, member: Uint64Halves, revision: number, raftTerm: number): number {
  let size = 0;
  if (cluster.lo !== 0 || cluster.hi !== 0) size += 1 + varint64Size(cluster.lo, cluster.hi);
  if (member.lo !== 0 || member.hi !== 0) size += 1 + varint64Size(member.lo, member.hi);
  if (revision !== 0) size += 1 + varintSize(revision);
  if (raftTerm !== 0) size += 1 + varintSize(raftTerm);
  return size;
}

function writeHeader(buf: Buffer, pos: number, cluster: Uint64Halves, member: Uint64Halves, revision: number, raftTerm: number): number {
  if (cluster.lo !== 0 || cluster.hi !== 0) {
    buf[pos++] = 0x08;
    pos = writeVarint64(buf, pos, cluster.lo, cluster.hi);
  }
  if (member.lo !== 0 || member.hi !== 0) {
    buf[pos++] = 0x10;
    pos = writeVarint64(buf, pos, member.lo, member.hi);
  }
  if (revision !== 0) {
    buf[pos++] = 0x18;
    pos = writeVarint(buf, pos, revision);
  }
  if (raftTerm !== 0) {
    buf[pos++] = 0x20;
    pos = writeVarint(buf, pos, raftTerm);
  }
  return pos;
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
  const cluster = clusterIdHalves.set(header.clusterId);
  const member = memberIdHalves.set(header.memberId);
  const { kvs, keysOnly, revision } = result;
  const hSize = headerSize(cluster, member, revision, header.raftTerm);

  let size = 1 + varintSize(hSize) + hSize;
  // keys_only: each record's size is computed once, for both passes.
  const scratch: MutableKeyValueFields | undefined = keysOnly
    ? { key: EMPTY, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0n }
    : undefined;
  const kvSizes: number[] | undefined = keysOnly ? new Array<number>(kvs.length) : undefined;
  for (let i = 0; i < kvs.length; i++) {
    let kvSize: number;
    if (kvSizes && scratch) {
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
  let pos = writeVarint(buf, 1, hSize);
  pos = writeHeader(buf, pos, cluster, member, revision, header.raftTerm);
  for (let i = 0; i < kvs.length; i++) {
    const kv = kvs[i];
    buf[pos++] = 0x12;
    if (kvSizes && scratch) {
      pos = writeVarint(buf, pos, kvSizes[i]);
      pos = writeKeyValue(buf, pos, withoutValue(scratch, kv));
    } else {
      const encoded = kv.encoded;
      pos = writeVarint(buf, pos, encoded.length);
      buf.set(encoded, pos);
      pos += encoded.length;
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
