/**
 * Revisions and their backend key encoding: 'k' followed by 8-byte main and 8-byte sub, both
 * big-endian, so that byte order is revision order.
 */
import assert from 'node:assert';

/** A store revision: `main` counts write transactions, `sub` is the change's index within one. */
export interface Revision {
  readonly main: number;
  readonly sub: number;
}

/** Prefix byte of data keys ('k'). */
export const DATA_PREFIX = 0x6b;
/** Prefix byte of meta keys ('m'). */
export const META_PREFIX = 0x6d;
/** Length of a data key: prefix + 8-byte main + 8-byte sub. */
export const REVISION_KEY_BYTES = 17;

const TWO_POW_32 = 4294967296;

function writeUint64(buf: Uint8Array, pos: number, n: number): void {
  const high = Math.floor(n / TWO_POW_32);
  const low = n - high * TWO_POW_32;
  buf[pos] = high >>> 24;
  buf[pos + 1] = (high >>> 16) & 0xff;
  buf[pos + 2] = (high >>> 8) & 0xff;
  buf[pos + 3] = high & 0xff;
  buf[pos + 4] = low >>> 24;
  buf[pos + 5] = (low >>> 16) & 0xff;
  buf[pos + 6] = (low >>> 8) & 0xff;
  buf[pos + 7] = low & 0xff;
}

function readUint64(buf: Uint8Array, pos: number): number {
  const high = ((buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]) >>> 0;
  const low = ((buf[pos + 4] << 24) | (buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7]) >>> 0;
  const n = high * TWO_POW_32 + low;
  assert(Number.isSafeInteger(n), 'revision beyond 2^53');
  return n;
}

/** Writes the data key of (main, sub) into `buf` (at least 17 bytes); returns `buf`. */
export function writeRevisionKey(buf: Uint8Array, main: number, sub: number): Uint8Array {
  assert(Number.isSafeInteger(main) && main >= 0, `bad main revision ${main}`);
  assert(Number.isSafeInteger(sub) && sub >= 0, `bad sub revision ${sub}`);
  buf[0] = DATA_PREFIX;
  writeUint64(buf, 1, main);
  writeUint64(buf, 9, sub);
  return buf;
}

/** A new data key for (main, sub). */
export function revisionKey(main: number, sub: number): Uint8Array {
  return writeRevisionKey(new Uint8Array(REVISION_KEY_BYTES), main, sub);
}

/** Main revision of a data key. */
export function revisionKeyMain(key: Uint8Array): number {
  assert(key.length === REVISION_KEY_BYTES && key[0] === DATA_PREFIX, 'not a data key');
  return readUint64(key, 1);
}

/** Sub revision of a data key. */
export function revisionKeySub(key: Uint8Array): number {
  assert(key.length === REVISION_KEY_BYTES && key[0] === DATA_PREFIX, 'not a data key');
  return readUint64(key, 9);
}

/** Compares revisions: negative when a < b. */
export function compareRevisions(aMain: number, aSub: number, bMain: number, bSub: number): number {
  return aMain !== bMain ? aMain - bMain : aSub - bSub;
}

/** An 8-byte big-endian encoding of a non-negative safe integer (meta values). */
export function encodeUint64(n: number): Uint8Array {
  assert(Number.isSafeInteger(n) && n >= 0, `bad uint64 ${n}`);
  const buf = new Uint8Array(8);
  writeUint64(buf, 0, n);
  return buf;
}

/** Reads an 8-byte big-endian meta value; asserts that it is a safe integer. */
export function decodeUint64(buf: Uint8Array): number {
  assert(buf.length === 8, 'meta value must be 8 bytes');
  return readUint64(buf, 0);
}
