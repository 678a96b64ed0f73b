/**
 * A lease as it is persisted in the MVCC backend (one record per lease, written in the same flush
 * batch as the consistent index, so lease state always matches the applied log). Attached keys are
 * not stored: each key's record carries its lease, and the lessor re-attaches them on restart.
 *
 * Layout, big-endian: `i64 ttlSec | i64 remainingTtlSec` (remainingTtlSec 0: no checkpoint).
 */
import { strict as assert } from 'node:assert';

export const LEASE_RECORD_BYTES = 16;

export interface LeaseRecord {
  /** The granted TTL in seconds (after the minimum TTL rule). */
  readonly ttlSec: number;
  /** The remaining TTL of the last checkpoint, in seconds; 0 when none. */
  readonly remainingTtlSec: number;
}

export function encodeLeaseRecord(record: LeaseRecord): Uint8Array {
  const buf = Buffer.alloc(LEASE_RECORD_BYTES);
  buf.writeBigInt64BE(BigInt(record.ttlSec), 0);
  buf.writeBigInt64BE(BigInt(record.remainingTtlSec), 8);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function decodeLeaseRecord(bytes: Uint8Array): LeaseRecord {
  assert.equal(bytes.length, LEASE_RECORD_BYTES, `lease record of ${bytes.length} bytes`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { ttlSec: Number(buf.readBigInt64BE(0)), remainingTtlSec: Number(buf.readBigInt64BE(8)) };
}
