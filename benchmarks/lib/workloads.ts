/**
 * The request streams the benchmark sends: `put` (sequential or random keys over a key space) and
 * `range` (one key, linearizable or serializable). A workload is described by a plain, serialisable
 * spec, so each worker thread builds its own share of it.
 */
import type { GrpcConnection } from './grpc-client';
import {
  CompareResult,
  decodeHeaderRevision,
  decodeRangePage,
  decodeRangeSummary,
  decodeTxnSummary,
  encodeDeleteRangeRequest,
  encodeLeaseGrantRequest,
  encodeLeaseKeepAliveRequest,
  encodeModRevisionCompare,
  encodePutRequest,
  encodeRangeRequest,
  encodeRequestOp,
  encodeTxnRequest,
  KV_PUT_PATH,
  KV_RANGE_PATH,
  KV_TXN_PATH,
  LEASE_GRANT_PATH,
  LEASE_KEEPALIVE_PATH,
  rawVarintField,
  varintFieldValue,
} from './messages';

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
  /** Range over every key starting with `key` (etcd's `--prefix`) rather than the one key. */
  prefix?: boolean;
}

/**
 * A Txn with one put in its success branch, guarded by a compare on the key's mod_revision
 * (`mod_revision(key) < 2^53`, true for every key, so the put always applies but the compare is
 * evaluated). Keys and values as in `put`.
 */
export interface TxnPutWorkloadSpec extends Omit<PutWorkloadSpec, 'kind'> {
  kind: 'txn-put';
}

/** Ranges (one random key of the key space, linearizable) and txn-puts mixed: `readRatio` reads per write (etcd's `--rw-ratio`). */
export interface TxnMixedWorkloadSpec extends Omit<PutWorkloadSpec, 'kind'> {
  kind: 'txn-mixed';
  readRatio: number;
}

/** LeaseGrant once per client, then LeaseKeepAlive on one bidi stream per client: send a request, await its response. */
export interface LeaseKeepAliveWorkloadSpec {
  kind: 'lease-keepalive';
  ttlSeconds: number;
}

/**
 * A Kubernetes-shaped mix on `/registry/pods/<ns>/<name>` keys, as the API server drives etcd:
 * create = Txn(mod_revision == 0 → put), guarded update = Txn(mod_revision == expected → put),
 * delete = Txn(mod_revision == expected → delete), paged list = Range over the prefix with a limit
 * and a continue key. Each object is owned by one thread and has at most one call in flight, so a
 * failed compare is a real error, not a conflict. The first call on an object is a get (its
 * mod_revision is learnt from the server).
 */
export interface K8sWorkloadSpec {
  kind: 'k8s';
  /** Object slots: pod-0 ... pod-(objects-1), created by the scenario's set-up. */
  objects: number;
  namespaces: number;
  valueSize: number;
  /** Objects per list page (Range limit). */
  pageSize: number;
  /** Fraction of calls that are list pages. */
  listRatio: number;
  /** Fraction of writes that delete the object (it is created again by a later write on it). */
  churn: number;
}

/**
 * etcd's `benchmark stm`: optimistic read-modify-write transactions. Each operation picks
 * `keysPerTxn` distinct random keys of `keys`, reads each (a linearizable Range, learning its
 * mod_revision), then commits Txn(mod_revision(k) == read revision for every k → put every k). A
 * failed compare is a conflict: the operation reads the same keys again and retries (the count of
 * conflicts is reported). Ops = commits; latency = first read → successful commit, retries included.
 */
export interface StmWorkloadSpec {
  kind: 'stm';
  keys: number;
  keysPerTxn: number;
  keySize: number;
  valueSize: number;
}

/** Watch fan-out: not a closed loop (see `watch-load.ts`). */
export interface WatchWorkloadSpec {
  kind: 'watch';
  /** The key watched and put. */
  key: string;
  watchers: number;
  /** Watch streams the watchers are spread over. */
  streams: number;
  /** Puts per second, at a fixed rate, from a separate connection. */
  putRate: number;
  valueSize: number;
}

export type WorkloadSpec = PutWorkloadSpec | RangeWorkloadSpec | TxnPutWorkloadSpec | TxnMixedWorkloadSpec | LeaseKeepAliveWorkloadSpec | K8sWorkloadSpec | StmWorkloadSpec | WatchWorkloadSpec;

/** What `WorkloadCall.verify` returns when the operation must start again (an STM conflict): counted as a conflict, not an error. */
export const RETRY_OPERATION = '\u0000retry the operation';

/** One call of a workload whose calls differ in method or carry state: its path, message, and checks bound to it. */
export interface WorkloadCall {
  path: string;
  request: Buffer;
  verify(response: Buffer): string | null;
  /** The call failed (a non-OK status): release what it held. */
  failed?(): void;
  /** One step of a multi-call operation: once it succeeds, the same client's next call continues the operation (not counted by itself). */
  partial?: boolean;
}

/** One client-side request stream. */
export interface Workload {
  /** gRPC method path. */
  readonly path: string;
  /** The next request message (unframed protobuf). */
  next(): Buffer;
  /** Checks a successful response; returns a description of what is wrong, or null. */
  verify(response: Buffer): string | null;
  /** When defined, used instead of `next`/`verify`/`path`: the next call of client `client`. */
  nextCall?(client: number): WorkloadCall;
  /** Calls are messages on one long-lived bidi stream per client (`path`), each request answered by one response. */
  readonly streaming?: boolean;
  /** Per-client set-up before the run (e.g. LeaseGrant), not measured. @throws Error when it fails. */
  prepare?(client: number, connection: GrpcConnection): Promise<void>;
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
    const key = Buffer.from(spec.key, 'latin1');
    this.request = encodeRangeRequest({ key, rangeEnd: spec.prefix === true ? prefixEnd(key) : undefined, serializable: spec.serializable });
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

/** The end of the range of every key starting with `prefix` (etcd's `GetPrefixRangeEnd`). */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff: to the end of the key space
}

/** `mod_revision(key) < 2^53 - 1`: always true, evaluated on every txn-put. */
const TXN_PUT_BOUND = Number.MAX_SAFE_INTEGER;

function encodeTxnPut(put: Buffer): Buffer {
  // The put's key is its first field: re-read it rather than re-encode.
  const keyLength = put[1]!; // keys are < 128 bytes (one-byte length)
  const key = put.subarray(2, 2 + keyLength);
  return encodeTxnRequest([encodeModRevisionCompare(key, CompareResult.LESS, TXN_PUT_BOUND)], [encodeRequestOp('put', put)]);
}

function verifyTxnSucceeded(response: Buffer): string | null {
  const t = decodeTxnSummary(response);
  if (!t.succeeded) return 'TxnResponse not succeeded (compare failed)';
  if (t.revision <= 0) return 'TxnResponse without header.revision';
  return t.responses === 1 ? null : `TxnResponse with ${t.responses} responses, expected 1`;
}

class TxnPutWorkload implements Workload {
  readonly path = KV_TXN_PATH;
  private readonly puts: PutWorkload;

  constructor(spec: Omit<PutWorkloadSpec, 'kind'>, part: WorkloadPart) {
    if (spec.keySize > 127) throw new RangeError(`txn-put: key size must be at most 127, got ${spec.keySize}`);
    this.puts = new PutWorkload({ ...spec, kind: 'put' }, part);
  }

  next(): Buffer {
    return encodeTxnPut(this.puts.next());
  }

  verify(response: Buffer): string | null {
    return verifyTxnSucceeded(response);
  }
}

class TxnMixedWorkload implements Workload {
  readonly path = KV_TXN_PATH;
  private readonly txnPuts: TxnPutWorkload;
  private readonly readFraction: number;
  private readonly keyStart: number;
  private readonly readCall: Omit<WorkloadCall, 'request'>;
  private readonly writeCall: Omit<WorkloadCall, 'request'>;

  constructor(private readonly spec: TxnMixedWorkloadSpec, part: WorkloadPart) {
    if (!(Number.isFinite(spec.readRatio) && spec.readRatio >= 0)) throw new RangeError(`txn-mixed: read ratio must be a non-negative number, got ${spec.readRatio}`);
    this.txnPuts = new TxnPutWorkload(spec, part);
    this.readFraction = spec.readRatio / (spec.readRatio + 1);
    this.keyStart = spec.keyStart ?? 0;
    this.readCall = {
      path: KV_RANGE_PATH,
      verify: (response) => {
        const { kvsLength } = decodeRangeSummary(response);
        return kvsLength <= 1 ? null : `RangeResponse with ${kvsLength} kvs for one key`;
      },
    };
    this.writeCall = { path: KV_TXN_PATH, verify: verifyTxnSucceeded };
  }

  nextCall(): WorkloadCall {
    if (Math.random() < this.readFraction) {
      const key = Buffer.from(formatKey(this.keyStart + Math.floor(Math.random() * this.spec.keySpace), this.spec.keySize), 'latin1');
      return { ...this.readCall, request: encodeRangeRequest({ key }) };
    }
    return { ...this.writeCall, request: this.txnPuts.next() };
  }

  next(): Buffer {
    return this.nextCall().request;
  }

  verify(response: Buffer): string | null {
    return response.length > 0 ? null : 'empty response';
  }
}

class LeaseKeepAliveWorkload implements Workload {
  readonly path = LEASE_KEEPALIVE_PATH;
  readonly streaming = true;
  private readonly requests: (Buffer | undefined)[] = [];

  constructor(private readonly spec: LeaseKeepAliveWorkloadSpec) {
    assertPositiveInteger('lease TTL', spec.ttlSeconds);
  }

  async prepare(client: number, connection: GrpcConnection): Promise<void> {
    const response = await unaryOnce(connection, LEASE_GRANT_PATH, encodeLeaseGrantRequest(this.spec.ttlSeconds));
    const id = rawVarintField(response, 2);
    if (id === null) throw new Error('LeaseGrantResponse without an ID');
    this.requests[client] = encodeLeaseKeepAliveRequest(id);
  }

  nextCall(client: number): WorkloadCall {
    const request = this.requests[client];
    if (request === undefined) throw new Error(`lease-keepalive: client ${client} has no lease (prepare was not run)`);
    return { path: this.path, request, verify: (response) => this.verify(response) };
  }

  next(): Buffer {
    throw new Error('lease-keepalive calls are per client (nextCall)');
  }

  verify(response: Buffer): string | null {
    // LeaseKeepAliveResponse: 2 ID, 3 TTL; TTL <= 0 means the lease is gone.
    return varintFieldValue(response, 3) > 0 ? null : 'LeaseKeepAliveResponse with TTL <= 0 (lease not found)';
  }
}

/** One unary call as a promise of its OK response. @throws Error with the gRPC status otherwise. */
export function unaryOnce(connection: GrpcConnection, path: string, request: Buffer, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const stream = connection.unary(path, request, (status, message, response) => {
      clearTimeout(timer);
      if (status === 0) resolve(response!);
      else reject(new Error(`${path} failed: status ${status}: ${message}`));
    });
    if (stream !== null) timer = setTimeout(() => stream.close(0x8), timeoutMs); // NGHTTP2_CANCEL
  });
}

export const K8S_PREFIX = '/registry/pods/';

/** The key of object slot `i`: `/registry/pods/ns-<i mod namespaces>/pod-<i>`. */
export function k8sKey(i: number, namespaces: number): Buffer {
  return Buffer.from(`${K8S_PREFIX}ns-${String(i % namespaces).padStart(3, '0')}/pod-${String(i).padStart(7, '0')}`, 'latin1');
}

const UNKNOWN = -1;

class K8sWorkload implements Workload {
  readonly path = KV_TXN_PATH;
  private readonly owned: number[];
  /** Per owned slot: mod_revision (0 absent, -1 unknown). */
  private readonly modRevision: Float64Array;
  private readonly busy: Uint8Array;
  private readonly keys: Buffer[];
  private readonly valuePool: Buffer;
  private cursor: Buffer | null = null;
  private readonly listEnd: Buffer;

  constructor(
    private readonly spec: K8sWorkloadSpec,
    part: WorkloadPart,
  ) {
    assertPositiveInteger('k8s objects', spec.objects);
    assertPositiveInteger('k8s namespaces', spec.namespaces);
    assertPositiveInteger('k8s page size', spec.pageSize);
    for (const [name, v] of [['list ratio', spec.listRatio], ['churn', spec.churn]] as const) {
      if (!(Number.isFinite(v) && v >= 0 && v <= 1)) throw new RangeError(`k8s ${name} must be between 0 and 1, got ${v}`);
    }
    this.owned = [];
    for (let i = part.index; i < spec.objects; i += part.of) this.owned.push(i);
    this.modRevision = new Float64Array(this.owned.length).fill(UNKNOWN);
    this.busy = new Uint8Array(this.owned.length);
    this.keys = this.owned.map((i) => k8sKey(i, spec.namespaces));
    this.valuePool = randomPrintable(Math.max(VALUE_POOL_BYTES, 2 * spec.valueSize), 0x2545f491 + part.index);
    this.listEnd = prefixEnd(Buffer.from(K8S_PREFIX, 'latin1'));
  }

  private value(): Buffer {
    const o = Math.floor(Math.random() * (this.valuePool.length - this.spec.valueSize + 1));
    return this.valuePool.subarray(o, o + this.spec.valueSize);
  }

  private freeSlot(): number {
    const n = this.owned.length;
    for (let tries = 0; tries < 8; tries++) {
      const s = Math.floor(Math.random() * n);
      if (this.busy[s] === 0) return s;
    }
    const start = Math.floor(Math.random() * n);
    for (let k = 0; k < n; k++) {
      const s = (start + k) % n;
      if (this.busy[s] === 0) return s;
    }
    return -1;
  }

  private listCall(): WorkloadCall {
    const pageSize = this.spec.pageSize;
    const request = encodeRangeRequest({ key: this.cursor ?? Buffer.from(K8S_PREFIX, 'latin1'), rangeEnd: this.listEnd, limit: pageSize });
    return {
      path: KV_RANGE_PATH,
      request,
      verify: (response) => {
        const page = decodeRangePage(response);
        if (page.kvsLength > pageSize) return `list page of ${page.kvsLength} kvs, limit ${pageSize}`;
        if (page.more && page.kvsLength !== pageSize) return `list page of ${page.kvsLength} kvs with more, limit ${pageSize}`;
        // continue key: the last key + "\0" (the API server's continue token)
        this.cursor = page.more && page.lastKey !== null ? Buffer.concat([page.lastKey, Buffer.from([0])]) : null;
        return null;
      },
    };
  }

  nextCall(): WorkloadCall {
    const slot = this.owned.length > 0 && Math.random() >= this.spec.listRatio ? this.freeSlot() : -1;
    if (slot < 0) return this.listCall();
    this.busy[slot] = 1;
    const key = this.keys[slot]!;
    const expected = this.modRevision[slot]!;
    const failed = (): void => {
      this.busy[slot] = 0;
      this.modRevision[slot] = UNKNOWN;
    };
    if (expected === UNKNOWN) {
      return {
        path: KV_RANGE_PATH,
        request: encodeRangeRequest({ key }),
        failed,
        verify: (response) => {
          const page = decodeRangePage(response);
          this.busy[slot] = 0;
          if (page.kvsLength > 1) return `get of one object returned ${page.kvsLength} kvs`;
          this.modRevision[slot] = page.kvsLength === 0 ? 0 : page.lastModRevision;
          return null;
        },
      };
    }
    const remove = expected > 0 && Math.random() < this.spec.churn;
    const op = remove ? encodeRequestOp('delete', encodeDeleteRangeRequest(key)) : encodeRequestOp('put', encodePutRequest({ key, value: this.value() }));
    return {
      path: KV_TXN_PATH,
      request: encodeTxnRequest([encodeModRevisionCompare(key, CompareResult.EQUAL, expected)], [op]),
      failed,
      verify: (response) => {
        const t = decodeTxnSummary(response);
        this.busy[slot] = 0;
        if (!t.succeeded) {
          this.modRevision[slot] = UNKNOWN;
          return `guarded ${expected === 0 ? 'create' : remove ? 'delete' : 'update'} failed its compare (mod_revision ${expected})`;
        }
        this.modRevision[slot] = remove ? 0 : t.revision;
        return null;
      },
    };
  }

  next(): Buffer {
    return this.nextCall().request;
  }

  verify(response: Buffer): string | null {
    return response.length > 0 ? null : 'empty response';
  }
}

export const STM_PREFIX = 'stm/';

interface StmState {
  keys: Buffer[];
  revisions: number[];
  read: number;
}

class StmWorkload implements Workload {
  readonly path = KV_TXN_PATH;
  private readonly states: (StmState | undefined)[] = [];
  private readonly valuePool: Buffer;

  constructor(
    private readonly spec: StmWorkloadSpec,
    part: WorkloadPart,
  ) {
    assertPositiveInteger('stm keys', spec.keys);
    assertPositiveInteger('stm keys per txn', spec.keysPerTxn);
    assertPositiveInteger('key size', spec.keySize);
    if (spec.keysPerTxn > spec.keys) throw new RangeError(`stm keys per txn (${spec.keysPerTxn}) must be at most stm keys (${spec.keys})`);
    if (spec.keysPerTxn > 64) throw new RangeError(`stm keys per txn must be at most 64 (etcd's --max-txn-ops is 128), got ${spec.keysPerTxn}`);
    formatKey(spec.keys - 1, spec.keySize);
    this.valuePool = randomPrintable(Math.max(VALUE_POOL_BYTES, 2 * spec.valueSize), 0x68e31da4 + part.index);
  }

  private fresh(): StmState {
    const picked = new Set<number>();
    while (picked.size < this.spec.keysPerTxn) picked.add(Math.floor(Math.random() * this.spec.keys));
    const keys = [...picked].map((i) => Buffer.from(`${STM_PREFIX}${formatKey(i, this.spec.keySize)}`, 'latin1'));
    return { keys, revisions: keys.map(() => 0), read: 0 };
  }

  nextCall(client: number): WorkloadCall {
    let state = this.states[client];
    if (state === undefined) this.states[client] = state = this.fresh();
    const st = state;
    const failed = (): void => {
      this.states[client] = undefined;
    };
    if (st.read < st.keys.length) {
      const index = st.read;
      return {
        path: KV_RANGE_PATH,
        request: encodeRangeRequest({ key: st.keys[index]! }),
        partial: true,
        failed,
        verify: (response) => {
          const page = decodeRangePage(response);
          if (page.kvsLength > 1) {
            failed();
            return `stm read of one key returned ${page.kvsLength} kvs`;
          }
          st.revisions[index] = page.kvsLength === 0 ? 0 : page.lastModRevision;
          st.read++;
          return null;
        },
      };
    }
    const o = Math.floor(Math.random() * (this.valuePool.length - this.spec.valueSize + 1));
    const value = this.valuePool.subarray(o, o + this.spec.valueSize);
    return {
      path: KV_TXN_PATH,
      request: encodeTxnRequest(
        st.keys.map((k, i) => encodeModRevisionCompare(k, CompareResult.EQUAL, st.revisions[i]!)),
        st.keys.map((k) => encodeRequestOp('put', encodePutRequest({ key: k, value }))),
      ),
      failed,
      verify: (response) => {
        const t = decodeTxnSummary(response);
        if (!t.succeeded) {
          st.read = 0; // read the same keys again, then retry
          return RETRY_OPERATION;
        }
        this.states[client] = undefined;
        if (t.responses !== st.keys.length) return `stm commit with ${t.responses} responses, expected ${st.keys.length}`;
        return t.revision > 0 ? null : 'TxnResponse without header.revision';
      },
    };
  }

  next(): Buffer {
    throw new Error('stm calls are per client (nextCall)');
  }

  verify(response: Buffer): string | null {
    return response.length > 0 ? null : 'empty response';
  }
}

/** Builds thread `part.index`'s share of a workload. */
export function createWorkload(spec: WorkloadSpec, part: WorkloadPart = { index: 0, of: 1 }): Workload {
  if (!(Number.isSafeInteger(part.of) && part.of >= 1 && part.index >= 0 && part.index < part.of)) throw new RangeError(`bad workload part ${part.index}/${part.of}`);
  switch (spec.kind) {
    case 'put':
      return new PutWorkload(spec, part);
    case 'range':
      return new RangeWorkload(spec);
    case 'txn-put':
      return new TxnPutWorkload(spec, part);
    case 'txn-mixed':
      return new TxnMixedWorkload(spec, part);
    case 'lease-keepalive':
      return new LeaseKeepAliveWorkload(spec);
    case 'k8s':
      return new K8sWorkload(spec, part);
    case 'stm':
      return new StmWorkload(spec, part);
    case 'watch':
      throw new RangeError('watch is not a closed-loop workload (run it with runWatchLoad)');
  }
}
