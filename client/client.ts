/**
 * The client: a connection plus every service, and namespace views over the key space.
 */
import { Bytes, Namespace, toBuffer } from './bytes';
import { CallOptions, Connection, ConnectionOptions } from './connection';
import { InvalidArgumentError } from './errors';
import { DeleteResult, KVWrites, MultiRangeBuilder, PutOptions, PutResult, SingleRangeBuilder } from './kv';
import { KeyOrSelector } from './range';
import { CompareOperand, CompareOperator, CompareTarget, TxnBuilder } from './txn';
import { Int64Input, ResponseHeader } from './types';

/**
 * Options of a {@link Client}; see {@link ConnectionOptions} for each field.
 * @example new Client({ endpoints: ['http://127.0.0.1:2379'], callTimeoutMs: 5000 })
 */
export type ClientOptions = ConnectionOptions;

/**
 * The key-value surface shared by the client and its namespace views: every key given or returned
 * is relative to the view's prefix.
 * @example const app = client.namespace('app/'); await app.put('x', '1'); // stores 'app/x'
 */
export class KVView {
  /** @internal */
  protected readonly writes: KVWrites;

  /** @internal made by the client. */
  constructor(
    /** @internal */ readonly conn: Connection,
    /** @internal */ readonly ns: Namespace,
  ) {
    this.writes = new KVWrites(conn, ns);
  }

  /** The view's key prefix (empty for the client itself). @example client.namespace('a/').prefix.toString() // 'a/' */
  get prefix(): Buffer {
    return this.ns.prefix;
  }

  /**
   * Reads one key. Await it for the value as a string (null when absent), or call `.kv()`,
   * `.buffer()`, `.json()`, `.exec()`; set options with `.revision()`, `.serializable()`, `.options()`.
   * @throws InvalidArgumentError for an empty key (synchronously, nothing is sent).
   * @example const v = await client.get('greeting'); // 'hello' | null
   */
  get(key: Bytes): SingleRangeBuilder {
    return new SingleRangeBuilder(this.conn, this.ns, key);
  }

  /**
   * Reads many keys: every key unless narrowed with `.prefix()`, `.range()` or `.fromKey()`. Await it
   * for `{ key: value }`, or call `.keys()`, `.kvs()`, `.count()`, `.exec()`, `.iterate()`.
   * @example const cfg = await client.getAll().prefix('config/');
   */
  getAll(): MultiRangeBuilder {
    return new MultiRangeBuilder(this.conn, this.ns);
  }

  /**
   * Writes `key = value`. Not retried once sent (a put could apply twice).
   * @throws InvalidArgumentError for an empty key or contradictory options (before sending).
   * @example const { revision } = await client.put('greeting', 'hello');
   */
  put(key: Bytes, value: Bytes, options: PutOptions = {}): Promise<PutResult> {
    return this.writes.put(key, value, options);
  }

  /**
   * Deletes one key.
   * @example const { deleted } = await client.delete('greeting'); // 1 or 0
   */
  delete(key: Bytes, options: { prevKv?: boolean } & CallOptions = {}): Promise<DeleteResult> {
    return this.writes.deleteRange(key, options);
  }

  /**
   * Deletes a range of keys: `{ prefix }`, `{ key, rangeEnd }`, `{ fromKey }` or `{ all: true }`.
   * @example await client.deleteRange({ prefix: 'tmp/' })
   */
  deleteRange(selector: KeyOrSelector, options: { prevKv?: boolean } & CallOptions = {}): Promise<DeleteResult> {
    return this.writes.deleteRange(selector, options);
  }

  /**
   * Starts a transaction with its first compare: `target(key) operator operand`.
   * @example
   * await client.if('lock', 'version', '==', 0).then(op.put('lock', 'me')).else(op.get('lock')).commit();
   */
  if<T extends CompareTarget>(key: KeyOrSelector, target: T, operator: CompareOperator, operand: CompareOperand<T>): TxnBuilder {
    return new TxnBuilder(this.conn, this.ns).and(key, target, operator, operand);
  }

  /**
   * Starts a transaction without compares (add them with `.where()`/`.and()`, or none: always `then`).
   * @example await client.txn().then(op.put('a', '1'), op.put('b', '2')).commit(); // both or neither
   */
  txn(): TxnBuilder {
    return new TxnBuilder(this.conn, this.ns);
  }

  /**
   * A view whose keys all live under `prefix` (nested in this view's prefix).
   * @throws InvalidArgumentError for an empty prefix.
   * @example const jobs = client.namespace('jobs/'); await jobs.getAll().keys(); // keys without 'jobs/'
   */
  namespace(prefix: Bytes): KVView {
    const p = toBuffer(prefix);
    if (p.length === 0) throw new InvalidArgumentError('namespace prefix must not be empty');
    return new KVView(this.conn, this.ns.child(p));
  }
}

/**
 * A client of an etcd v3 API server (Cairn or etcd).
 * @example
 * const client = new Client({ endpoints: ['http://127.0.0.1:2379'] });
 * await client.put('greeting', 'hello');
 * console.log(await client.get('greeting')); // 'hello'
 * client.close();
 */
export class Client extends KVView {
  /**
   * @throws InvalidArgumentError for bad endpoints or options (nothing is connected yet then).
   * @example new Client({ endpoints: 'http://127.0.0.1:2379', auth: { username: 'root', password: 'pw' } })
   */
  constructor(options: ClientOptions) {
    super(new Connection(options), Namespace.root);
  }

  /**
   * Compacts the history before `revision` (reads older than it then fail with CompactedError).
   * @example await client.compact(1000n)
   */
  compact(revision: Int64Input, options: { physical?: boolean } & CallOptions = {}): Promise<ResponseHeader> {
    return this.writes.compact(revision, options);
  }

  /**
   * Closes the client: watchers end, leases stop being kept alive, pending calls fail with
   * ClientClosedError.
   * @example client.close();
   */
  close(): void {
    this.conn.close();
  }
}
