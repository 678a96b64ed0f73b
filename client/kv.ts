/**
 * The KV service: get / getAll (range builders), put, delete, deleteRange, compact, and paging a
 * large range at one pinned revision.
 */
import { etcdserverpb as pb } from '../proto/index';
import { Bytes, Namespace, toBuffer, toKey } from './bytes';
import { CallOptions, Connection, RPC } from './connection';
import { InvalidArgumentError } from './errors';
import { KeyOrSelector, RangeOptions, SortTarget, ResolvedRange, buildRangeRequest, resolveSelector } from './range';
import { Int64Input, KeyValue, ResponseHeader, count, int64Field, toHeader, toKeyValue } from './types';

/**
 * The result of a range read.
 * @example const { kvs, more, count } = await client.getAll().prefix('a/').limit(10).exec();
 */
export interface RangeResult {
  readonly header: ResponseHeader;
  /** The key-values, in the requested order (empty for `countOnly`). */
  readonly kvs: KeyValue[];
  /** True when `limit` cut the result short. */
  readonly more: boolean;
  /** The number of keys in the range (before `limit`). */
  readonly count: number;
}

/**
 * Options of a put.
 * @example await client.put('k', 'v', { lease: leaseId, prevKv: true })
 */
export interface PutOptions extends CallOptions {
  /** Attach the key to this lease (0: none). */
  lease?: Int64Input;
  /** Return the previous key-value. */
  prevKv?: boolean;
  /** Keep the current value (the value argument must be empty). */
  ignoreValue?: boolean;
  /** Keep the current lease (`lease` must not be given). */
  ignoreLease?: boolean;
}

/**
 * The result of a put.
 * @example const { revision } = await client.put('k', 'v');
 */
export interface PutResult {
  readonly header: ResponseHeader;
  /** The revision of this write. */
  readonly revision: bigint;
  /** The previous key-value when asked for with `prevKv` and the key existed. */
  readonly prevKv?: KeyValue;
}

/**
 * The result of a delete.
 * @example const { deleted } = await client.deleteRange({ prefix: 'tmp/' });
 */
export interface DeleteResult {
  readonly header: ResponseHeader;
  /** The revision after the delete (unchanged when nothing was deleted). */
  readonly revision: bigint;
  /** How many keys were deleted. */
  readonly deleted: number;
  /** The deleted key-values, when asked for with `prevKv`. */
  readonly prevKvs: KeyValue[];
}

/** Builds a PutRequest; throws InvalidArgumentError for bad input. */
export function buildPutRequest(ns: Namespace, key: Bytes, value: Bytes, options: PutOptions = {}): pb.PutRequest.$Properties {
  const req: pb.PutRequest.$Properties = { key: ns.key(toKey(key)), value: toBuffer(value) };
  if (options.ignoreValue === true && req.value!.length !== 0) throw new InvalidArgumentError('ignoreValue: the value must be empty');
  if (options.ignoreLease === true && options.lease !== undefined) throw new InvalidArgumentError('ignoreLease and lease cannot go together');
  if (options.lease !== undefined) req.lease = int64Field(options.lease, 'lease');
  if (options.prevKv === true) req.prevKv = true;
  if (options.ignoreValue === true) req.ignoreValue = true;
  if (options.ignoreLease === true) req.ignoreLease = true;
  return req;
}

/** Builds a DeleteRangeRequest. */
export function buildDeleteRequest(ns: Namespace, sel: KeyOrSelector, options: { prevKv?: boolean } = {}): pb.DeleteRangeRequest.$Properties {
  const r = resolveSelector(sel, ns);
  return { key: r.key, rangeEnd: r.rangeEnd, prevKv: options.prevKv === true };
}

/** Converts a RangeResponse. */
export function toRangeResult(resp: pb.RangeResponse.$Properties, ns: Namespace): RangeResult {
  return {
    header: toHeader(resp.header),
    kvs: (resp.kvs ?? []).map((kv) => toKeyValue(kv, ns)),
    more: resp.more === true,
    count: count(resp.count),
  };
}

/** Converts a PutResponse. */
export function toPutResult(resp: pb.PutResponse.$Properties, ns: Namespace): PutResult {
  const header = toHeader(resp.header);
  return resp.prevKv ? { header, revision: header.revision, prevKv: toKeyValue(resp.prevKv, ns) } : { header, revision: header.revision };
}

/** Converts a DeleteRangeResponse. */
export function toDeleteResult(resp: pb.DeleteRangeResponse.$Properties, ns: Namespace): DeleteResult {
  const header = toHeader(resp.header);
  return { header, revision: header.revision, deleted: count(resp.deleted), prevKvs: (resp.prevKvs ?? []).map((kv) => toKeyValue(kv, ns)) };
}

/** What range builders share: the range options, call options and execution. */
abstract class RangeBuilderBase {
  protected rangeOptions: RangeOptions = {};
  protected callOptions: CallOptions = {};

  constructor(
    protected readonly conn: Connection,
    protected readonly ns: Namespace,
  ) {}

  /** The keys this builder reads (resolved and validated). */
  protected abstract resolved(): ResolvedRange;

  /**
   * Reads as of `revision` (0: the latest).
   * @example await client.get('k').revision(5n).string()
   */
  revision(revision: Int64Input): this {
    int64Field(revision, 'revision');
    this.rangeOptions.revision = revision;
    return this;
  }

  /**
   * Serves the read from the member's local state, without a quorum round (may be stale).
   * @example await client.get('k').serializable().string()
   */
  serializable(on = true): this {
    this.rangeOptions.serializable = on;
    return this;
  }

  /**
   * Sets several range options at once (and call options: `timeoutMs`, `signal`).
   * @example await client.getAll().prefix('a/').options({ minModRevision: 10n, timeoutMs: 500 }).keys()
   */
  options(options: RangeOptions & CallOptions): this {
    const { timeoutMs, signal, ...range } = options;
    this.rangeOptions = { ...this.rangeOptions, ...range };
    this.callOptions = { ...this.callOptions, ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(signal === undefined ? {} : { signal }) };
    buildRangeRequest(this.resolved(), this.rangeOptions);
    return this;
  }

  /**
   * Runs the read and returns the whole result.
   * @example const { kvs, header } = await client.getAll().prefix('a/').exec();
   */
  async exec(): Promise<RangeResult> {
    const req = buildRangeRequest(this.resolved(), this.rangeOptions);
    const resp = await this.conn.unary<pb.RangeResponse>(RPC.KV.Range, req, this.callOptions, 'read');
    return toRangeResult(resp, this.ns);
  }
}

/**
 * A read of one key; awaiting it gives the value as a string, or null when the key does not exist.
 * @example
 * const v = await client.get('greeting');                  // 'hello' | null
 * const kv = await client.get('greeting').revision(3n).kv(); // KeyValue | null
 */
export class SingleRangeBuilder extends RangeBuilderBase implements PromiseLike<string | null> {
  private readonly key: Buffer;

  /** @throws InvalidArgumentError for an empty key. */
  constructor(conn: Connection, ns: Namespace, key: Bytes) {
    super(conn, ns);
    this.key = toKey(key);
  }

  protected resolved(): ResolvedRange {
    return { key: this.ns.key(this.key), rangeEnd: Buffer.alloc(0) };
  }

  /**
   * The key-value, or null.
   * @example const kv = await client.get('k').kv(); if (kv) console.log(kv.version);
   */
  async kv(): Promise<KeyValue | null> {
    return (await this.exec()).kvs[0] ?? null;
  }

  /**
   * The value as bytes, or null.
   * @example const buf = await client.get('k').buffer();
   */
  async buffer(): Promise<Buffer | null> {
    return (await this.kv())?.value ?? null;
  }

  /**
   * The value as a UTF-8 string, or null.
   * @example const s = await client.get('k').string();
   */
  async string(): Promise<string | null> {
    return (await this.kv())?.value.toString('utf8') ?? null;
  }

  /**
   * The value parsed as JSON, or null.
   * @example const cfg = await client.get('config').json<{ port: number }>();
   */
  async json<T = unknown>(): Promise<T | null> {
    const s = await this.string();
    return s === null ? null : (JSON.parse(s) as T);
  }

  /**
   * Whether the key exists.
   * @example if (await client.get('k').exists()) ...
   */
  async exists(): Promise<boolean> {
    this.rangeOptions.countOnly = true;
    return (await this.exec()).count > 0;
  }

  /**
   * Awaiting the builder reads the value as a string.
   * @example const v = await client.get('k');
   */
  then<R1 = string | null, R2 = never>(
    onfulfilled?: ((value: string | null) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.string().then(onfulfilled, onrejected);
  }
}

/**
 * Options of {@link MultiRangeBuilder.iterate}.
 * @example for await (const kv of client.getAll().prefix('p/').iterate({ pageSize: 500 })) ...
 */
export interface IterateOptions {
  /** Keys per request (default 1000). Memory held at once is about one page. */
  pageSize?: number;
}

/**
 * A read of many keys; awaiting it gives `{ key: value }` as strings.
 * @example
 * const all = await client.getAll().prefix('app/');                 // Record<string, string>
 * const keys = await client.getAll().prefix('app/').keys();         // string[]
 * const n = await client.getAll().fromKey('m').count();             // number
 * for await (const kv of client.getAll().prefix('big/').iterate({ pageSize: 1000 })) use(kv);
 */
export class MultiRangeBuilder extends RangeBuilderBase implements PromiseLike<Record<string, string>> {
  private selector: KeyOrSelector = { all: true };
  private selectorSet = false;

  protected resolved(): ResolvedRange {
    return resolveSelector(this.selector, this.ns);
  }

  private select(sel: KeyOrSelector): this {
    if (this.selectorSet) throw new InvalidArgumentError('the range is already chosen (prefix, range, fromKey and all exclude each other)');
    resolveSelector(sel, this.ns);
    this.selector = sel;
    this.selectorSet = true;
    return this;
  }

  /**
   * Every key that starts with `prefix`.
   * @example await client.getAll().prefix('app/').keys()
   */
  prefix(prefix: Bytes): this {
    return this.select({ prefix });
  }

  /**
   * The half-open range `[start, end)`.
   * @example await client.getAll().range('a', 'c').keys() // a, b..., not c
   */
  range(start: Bytes, end: Bytes): this {
    return this.select({ key: start, rangeEnd: end });
  }

  /**
   * Every key ≥ `key`.
   * @example await client.getAll().fromKey('m').keys()
   */
  fromKey(key: Bytes): this {
    return this.select({ fromKey: key });
  }

  /**
   * At most `n` keys (`more` tells whether there were more).
   * @example await client.getAll().prefix('a/').limit(10).kvs()
   */
  limit(n: number): this {
    return this.options({ limit: n });
  }

  /**
   * Sorts by `target` in `order` (default ascending).
   * @example await client.getAll().sort('modRevision', 'descend').limit(1).kvs() // the last written key
   */
  sort(target: SortTarget, order: 'ascend' | 'descend' = 'ascend'): this {
    return this.options({ sort: { target, order } });
  }

  /**
   * Returns keys without values.
   * @example await client.getAll().prefix('a/').keysOnly().kvs()
   */
  keysOnly(): this {
    return this.options({ keysOnly: true });
  }

  /**
   * Keys whose mod revision lies in [min, max] (0 or absent: no bound).
   * @example await client.getAll().modRevisions(10n, 20n).keys()
   */
  modRevisions(min?: Int64Input, max?: Int64Input): this {
    return this.options({ ...(min === undefined ? {} : { minModRevision: min }), ...(max === undefined ? {} : { maxModRevision: max }) });
  }

  /**
   * Keys whose create revision lies in [min, max] (0 or absent: no bound).
   * @example await client.getAll().createRevisions(undefined, 20n).keys()
   */
  createRevisions(min?: Int64Input, max?: Int64Input): this {
    return this.options({ ...(min === undefined ? {} : { minCreateRevision: min }), ...(max === undefined ? {} : { maxCreateRevision: max }) });
  }

  /**
   * The key-values.
   * @example for (const kv of await client.getAll().prefix('a/').kvs()) console.log(kv.key.toString());
   */
  async kvs(): Promise<KeyValue[]> {
    return (await this.exec()).kvs;
  }

  /**
   * The keys as strings.
   * @example await client.getAll().prefix('a/').keys() // ['a/1', 'a/2']
   */
  async keys(): Promise<string[]> {
    this.rangeOptions.keysOnly = this.rangeOptions.countOnly !== true;
    return (await this.exec()).kvs.map((kv) => kv.key.toString('utf8'));
  }

  /**
   * `{ key: value }` as strings.
   * @example await client.getAll().prefix('a/').strings() // { 'a/1': 'x' }
   */
  async strings(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const kv of await this.kvs()) out[kv.key.toString('utf8')] = kv.value.toString('utf8');
    return out;
  }

  /**
   * `{ key: value }` with values as bytes.
   * @example await client.getAll().prefix('a/').buffers()
   */
  async buffers(): Promise<Record<string, Buffer>> {
    const out: Record<string, Buffer> = {};
    for (const kv of await this.kvs()) out[kv.key.toString('utf8')] = kv.value;
    return out;
  }

  /**
   * The number of keys in the range (no key-values are sent).
   * @example await client.getAll().prefix('a/').count() // 2
   */
  async count(): Promise<number> {
    this.rangeOptions.countOnly = true;
    this.rangeOptions.keysOnly = false;
    return (await this.exec()).count;
  }

  /**
   * Pages through the range in key order at one pinned revision (the first page's), so the whole
   * iteration sees one consistent snapshot; only about one page is held in memory. Keep it shorter
   * than the compaction interval: a page at a compacted revision fails with CompactedError.
   * @throws InvalidArgumentError with `limit`, `countOnly` or a sort other than key ascending.
   * @example
   * for await (const kv of client.getAll().prefix('logs/').iterate({ pageSize: 1000 })) {
   *   process(kv.key, kv.value);
   * }
   */
  iterate(options: IterateOptions = {}): AsyncIterable<KeyValue> {
    const pageSize = options.pageSize ?? 1000;
    if (!(Number.isSafeInteger(pageSize) && pageSize > 0)) throw new InvalidArgumentError(`pageSize must be a positive integer (got ${pageSize})`);
    const o = this.rangeOptions;
    if (o.limit !== undefined && o.limit !== 0) throw new InvalidArgumentError('iterate() pages by itself: do not set limit');
    if (o.countOnly === true) throw new InvalidArgumentError('iterate() cannot be countOnly');
    if (o.sort !== undefined && !(o.sort.target === 'key' && o.sort.order === 'ascend')) {
      throw new InvalidArgumentError('iterate() reads in key order: only sort by key ascending');
    }
    const range = this.resolved();
    const base = { ...o };
    const conn = this.conn;
    const ns = this.ns;
    const callOptions = this.callOptions;
    return {
      async *[Symbol.asyncIterator](): AsyncGenerator<KeyValue> {
        let key = range.key;
        let revision: Int64Input | undefined = base.revision;
        for (;;) {
          const req = buildRangeRequest({ key, rangeEnd: range.rangeEnd }, { ...base, limit: pageSize, revision: revision ?? 0 });
          const resp = await conn.unary<pb.RangeResponse>(RPC.KV.Range, req, callOptions, 'read');
          if (revision === undefined || revision === 0 || revision === 0n) revision = toHeader(resp.header).revision;
          const kvs = resp.kvs;
          const more = resp.more === true && kvs.length > 0;
          const last = kvs.length > 0 ? kvs[kvs.length - 1]!.key : undefined;
          for (let i = 0; i < kvs.length; i++) {
            const kv = toKeyValue(kvs[i]!, ns);
            kvs[i] = undefined as never; // let the page's key-values go as they are consumed
            yield kv;
          }
          if (!more || range.rangeEnd.length === 0) return;
          // The next page starts right after the last key: last + "\0".
          key = Buffer.concat([Buffer.from(last!), Buffer.from([0])]);
        }
      },
    };
  }

  /**
   * Awaiting the builder reads `{ key: value }` as strings.
   * @example const all = await client.getAll().prefix('a/');
   */
  then<R1 = Record<string, string>, R2 = never>(
    onfulfilled?: ((value: Record<string, string>) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.strings().then(onfulfilled, onrejected);
  }
}

/**
 * Put, delete and compact (the reads are the builders above). Used through the client.
 */
export class KVWrites {
  constructor(
    private readonly conn: Connection,
    private readonly ns: Namespace,
  ) {}

  /** See {@link Client.put}. */
  async put(key: Bytes, value: Bytes, options: PutOptions = {}): Promise<PutResult> {
    const req = buildPutRequest(this.ns, key, value, options);
    const resp = await this.conn.unary<pb.PutResponse>(RPC.KV.Put, req, options, 'write');
    return toPutResult(resp, this.ns);
  }

  /** See {@link Client.deleteRange}. */
  async deleteRange(sel: KeyOrSelector, options: { prevKv?: boolean } & CallOptions = {}): Promise<DeleteResult> {
    const req = buildDeleteRequest(this.ns, sel, options);
    const resp = await this.conn.unary<pb.DeleteRangeResponse>(RPC.KV.DeleteRange, req, options, 'write');
    return toDeleteResult(resp, this.ns);
  }

  /** See {@link Client.compact}. */
  async compact(revision: Int64Input, options: { physical?: boolean } & CallOptions = {}): Promise<ResponseHeader> {
    const req = { revision: int64Field(revision, 'revision', { min: 1n }), physical: options.physical === true };
    // Compacting twice to the same revision fails harmlessly ("compacted"): safe to retry.
    const resp = await this.conn.unary<pb.CompactionResponse>(RPC.KV.Compact, req, options, 'read');
    return toHeader(resp.header);
  }
}
