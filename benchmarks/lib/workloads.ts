/**
 * The request streams the benchmark sends: `put` (sequential or random keys over a key space) and
 * `range` (one key, linearizable or serializable). A workload is described by a plain, serialisable
 * spec, so each worker thread builds its own share of it.
 */
import { decodeHeaderRevision, decodeRangeSummary, encodePutRequest, encodeRangeRequest, KV_PUT_PATH, KV_RANGE_PATH } from './messages';

export interface PutWorkloadSpec {
  kind: 'put';
  /** Bytes per key: the key index as zero-padded decimal digits. */
  keySize: number;
  /** Bytes per value: each value is different, printable and, in practice, incompressible (see `randomPrintable`). */
  valueSize: number;
  /** Keys are the indexes `[keyStart, keyStart + keySpace)`. */
  keySpace: number;
  keyStart?: number;
  /** Sequential keys (each key once, in order, wrapping) rather than uniformly random ones. */
  sequential: boolean;
}

export interface RangeWorkloadSpec {
  kind: 'range';
  /** The one key read (latin1). */
  key: string;
  /** Serializable read (local state, no ReadIndex) rather than linearizable. */
  serializable: boolean;
  /** How many kvs each response must carry (1 when the key exists). Default 1. */
  expectKvs?: number;
}

export type WorkloadSpec = PutWorkloadSpec | RangeWorkloadSpec;

/** One client-side request stream. */
export interface Workload {
  /** gRPC method path. */
  readonly path: string;
  /** The next request message (unframed protobuf). */
  next(): Buffer;
  /** Checks a successful response; returns a description of what is wrong, or null. */
  verify(response: Buffer): string | null;
}

/** Which share of a workload a generator thread sends: thread `index` of `of`. */
export interface WorkloadPart {
  index: number;
  of: number;
}

/** The key for index `i` as `keySize` zero-padded decimal digits. */
export function formatKey(i: number, keySize: number): string {
  const digits = String(i);
  if (digits.length > keySize) throw new RangeError(`key index ${i} needs ${digits.length} bytes, more than key size ${keySize}`);
  return digits.padStart(keySize, '0');
}

/** A deterministic value of `size` bytes (printable, so etcdctl shows it). */
export function makeValue(size: number): Buffer {
  const value = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) value[i] = 97 + ((i * 7) % 26);
  return value;
}

const VALUE_POOL_BYTES = 1 << 20;
const ALPHANUMERIC = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'latin1');

/**
 * Pseudo-random printable bytes (xorshift32 from a fixed seed, so runs are repeatable). Put values
 * are slices of such a pool at random offsets: every value differs from its neighbours, so a
 * backend that compresses blocks (LevelDB's snappy) cannot shrink them, as it would one value
 * repeated N times. (~6 bits of entropy per byte; snappy has no entropy coding to exploit that.)
 */
export function randomPrintable(size: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed | 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ALPHANUMERIC[(x >>> 0) % ALPHANUMERIC.length]!;
  }
  return out;
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

class PutWorkload implements Workload {
  readonly path = KV_PUT_PATH;
  private readonly valuePool: Buffer;
  private readonly keyStart: number;
  private issued = 0;

  constructor(
    private readonly spec: PutWorkloadSpec,
    private readonly part: WorkloadPart,
  ) {
    assertPositiveInteger('key size', spec.keySize);
    assertPositiveInteger('key space', spec.keySpace);
    if (!Number.isSafeInteger(spec.valueSize) || spec.valueSize < 0) throw new RangeError(`value size must be a non-negative integer, got ${spec.valueSize}`);
    this.keyStart = spec.keyStart ?? 0;
    formatKey(this.keyStart + spec.keySpace - 1, spec.keySize); // the largest key must fit
    this.valuePool = randomPrintable(Math.max(VALUE_POOL_BYTES, 2 * spec.valueSize), 0x9e3779b9 + part.index);
  }

  next(): Buffer {
    const { keySpace, keySize } = this.spec;
    // Sequential: thread `index` of `of` sends keys index, index + of, index + 2·of, ... so that the
    // threads together cover the key space in order, each key once before any repeats.
    const offset = this.spec.sequential ? (this.issued * this.part.of + this.part.index) % keySpace : Math.floor(Math.random() * keySpace);
    this.issued++;
    const key = Buffer.from(formatKey(this.keyStart + offset, keySize), 'latin1');
    const valueOffset = Math.floor(Math.random() * (this.valuePool.length - this.spec.valueSize + 1));
    return encodePutRequest({ key, value: this.valuePool.subarray(valueOffset, valueOffset + this.spec.valueSize) });
  }

  verify(response: Buffer): string | null {
    return decodeHeaderRevision(response) > 0 ? null : 'PutResponse without header.revision';
  }
}

class RangeWorkload implements Workload {
  readonly path = KV_RANGE_PATH;
  private readonly request: Buffer;
  private readonly expectKvs: number;

  constructor(spec: RangeWorkloadSpec) {
    if (spec.key.length === 0) throw new RangeError('range key must not be empty');
    this.request = encodeRangeRequest({ key: Buffer.from(spec.key, 'latin1'), serializable: spec.serializable });
    this.expectKvs = spec.expectKvs ?? 1;
  }

  next(): Buffer {
    return this.request; // immutable once framed: the client copies it into the frame
  }

  verify(response: Buffer): string | null {
    const { kvsLength } = decodeRangeSummary(response);
    return kvsLength === this.expectKvs ? null : `RangeResponse with ${kvsLength} kvs, expected ${this.expectKvs}`;
  }
}

/** Builds thread `part.index`'s share of a workload. */
export function createWorkload(spec: WorkloadSpec, part: WorkloadPart = { index: 0, of: 1 }): Workload {
  if (!(Number.isSafeInteger(part.of) && part.of >= 1 && part.index >= 0 && part.index < part.of)) throw new RangeError(`bad workload part ${part.index}/${part.of}`);
  return spec.kind === 'put' ? new PutWorkload(spec, part) : new RangeWorkload(spec);
}
