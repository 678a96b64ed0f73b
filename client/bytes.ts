/**
 * Keys and values as bytes: conversion from what callers pass, the end of a prefix range, and the
 * key namespace (prefix) applied on the way out and removed on the way back.
 */
import { InvalidArgumentError } from './errors';

/** A key or value as callers may pass it: a string is UTF-8 encoded. */
export type Bytes = string | Uint8Array;

const EMPTY = Buffer.alloc(0);
/** The single zero byte etcd uses for "every key" (`key = rangeEnd = "\0"`) and "to the end" (`rangeEnd = "\0"`). */
export const ZERO_BYTE: Buffer = Buffer.from([0]);

/** Converts a key or value to a Buffer (no copy for a Buffer; a view for a Uint8Array). */
export function toBuffer(b: Bytes): Buffer {
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  if (Buffer.isBuffer(b)) return b;
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  throw new InvalidArgumentError(`expected a string or Uint8Array, got ${typeof b}`);
}

/** Converts a key; throws {@link InvalidArgumentError} when it is empty (etcd refuses empty keys). */
export function toKey(b: Bytes, what = 'key'): Buffer {
  const key = toBuffer(b);
  if (key.length === 0) throw new InvalidArgumentError(`${what} must not be empty`);
  return key;
}

/** The smallest key greater than every key that starts with `prefix`; "\0" (no end) when there is none. */
export function prefixEnd(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i]!++;
      return end;
    }
  }
  return ZERO_BYTE;
}

/** A Buffer view of protobuf bytes (no copy). */
export function asBuffer(u: Uint8Array | null | undefined): Buffer {
  if (u === null || u === undefined) return EMPTY;
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * A key namespace: keys are stored under `prefix`. The empty namespace changes nothing.
 * Ranges are clamped to the namespace: "every key" becomes "every key under the prefix".
 */
export class Namespace {
  /** The root namespace (no prefix). */
  static readonly root = new Namespace(EMPTY);

  constructor(readonly prefix: Buffer) {}

  /** A namespace nested under this one. */
  child(prefix: Buffer): Namespace {
    return new Namespace(Buffer.concat([this.prefix, prefix]));
  }

  /** The stored key for a caller's key. */
  key(key: Buffer): Buffer {
    return this.prefix.length === 0 ? key : Buffer.concat([this.prefix, key]);
  }

  /** The stored range end for a caller's range end ("\0", meaning no end, maps to the namespace's end). */
  rangeEnd(end: Buffer): Buffer {
    if (this.prefix.length === 0 || end.length === 0) return end;
    if (end.length === 1 && end[0] === 0) return prefixEnd(this.prefix);
    return Buffer.concat([this.prefix, end]);
  }

  /** The caller's key for a stored key. */
  strip(key: Buffer): Buffer {
    return this.prefix.length === 0 ? key : key.subarray(this.prefix.length);
  }
}
