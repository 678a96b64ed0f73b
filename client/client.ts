/**
 * The client: a connection plus every service, and namespace views over the key space.
 */
import { Bytes, Namespace, toBuffer } from './bytes';
import { CallOptions, Connection, ConnectionOptions, RPC } from './connection';
import { InvalidArgumentError } from './errors';
import { DeleteResult, KVWrites, MultiRangeBuilder, PutOptions, PutResult, SingleRangeBuilder } from './kv';
import { KeyOrSelector } from './range';
import { CompareOperand, CompareOperator, CompareTarget, TxnBuilder } from './txn';
import { Int64Input, ResponseHeader, int64Field } from './types';
import { WatchHub, WatchOptions, Watcher } from './watch';
import { Mutex, MutexOptions, Session, SessionOptions } from './lock';
import { Election, ElectionOptions } from './election';
import { STM, STMOptions, runSTM } from './stm';
import { Cluster } from './cluster';
import { Maintenance } from './maintenance';
import { Auth } from './auth';
import { Lease, LeaseKeeper, LeaseOptions, LeaseStatus, LeaseTimeToLive, leaseTimeToLive, listLeases } from './lease';

/** What every view of one client shares. @internal */
export class Shared {
  readonly watches: WatchHub;
  readonly leases: LeaseKeeper;
  constructor(readonly conn: Connection) {
    this.watches = new WatchHub(conn);
    this.leases = new LeaseKeeper(conn);
  }
}

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
  /** @internal */ readonly conn: Connection;

  /** @internal made by the client. */
  constructor(
    /** @internal */ readonly shared: Shared,
    /** @internal */ readonly ns: Namespace,
  ) {
    this.conn = shared.conn;
    this.writes = new KVWrites(shared.conn, ns);
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
    return new KVView(this.shared, this.ns.child(p));
  }

  /**
   * Watches a key (`'k'` or `{ key }`), a prefix (`{ prefix }`), a range (`{ key, rangeEnd }`,
   * `{ fromKey }`) or everything (`{ all: true }`). All watchers of a client share one stream; after
   * a disconnect each resumes where it left off, on the next healthy endpoint.
   * @throws InvalidArgumentError for an empty key or bad options (nothing is sent).
   * @example
   * const watcher = client.watch({ prefix: 'jobs/' }, { prevKv: true });
   * for await (const ev of watcher) console.log(ev.type, ev.kv.key.toString(), ev.revision);
   */
  watch(selector: KeyOrSelector, options: WatchOptions = {}): Watcher {
    return this.shared.watches.watch(this.ns, selector, options);
  }

  /**
   * A lease of `ttlSeconds`, granted on first use and kept alive until revoked or released.
   * @throws InvalidArgumentError for a TTL that is not a positive whole number of seconds.
   * @example const lease = client.lease(10); await lease.put('me', 'alive');
   */
  lease(ttlSeconds: number, options: LeaseOptions = {}): Lease {
    this.conn.assertOpen();
    return new Lease(this.conn, this.shared.leases, this, ttlSeconds, options);
  }

  /**
   * A session: a lease kept alive while the session is open; locks and elections run in one.
   * @example const session = client.session({ ttl: 10 });
   */
  session(options: SessionOptions = {}): Session {
    return new Session(this, options);
  }

  /**
   * A distributed mutex named `name` (keys `<name>/<lease id>` in this view).
   * @example const m = client.mutex('locks/a'); await m.lock(); try { ... } finally { await m.unlock(); }
   */
  mutex(name: Bytes, options: MutexOptions = {}): Mutex {
    return new Mutex(this, name, options);
  }

  /**
   * Leader election named `name`.
   * @example const e = client.election('scheduler'); await e.campaign('node-a');
   */
  election(name: Bytes, options: ElectionOptions = {}): Election {
    return new Election(this, name, options);
  }

  /**
   * Runs `fn` as an optimistic transaction (STM): reads are tracked, writes buffered, and the
   * commit succeeds only if nothing read has changed; otherwise `fn` runs again.
   * @throws STMConflictError after `retriesMax` conflicting runs.
   * @example
   * await client.stm(async (tx) => {
   *   const from = Number(await tx.get('acct/a')), to = Number(await tx.get('acct/b'));
   *   tx.put('acct/a', String(from - 10));
   *   tx.put('acct/b', String(to + 10));
   * });
   */
  stm<T>(fn: (tx: STM) => Promise<T> | T, options: STMOptions = {}): Promise<T> {
    return runSTM(this, fn, options);
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
  /** Members of the cluster. @example await client.cluster.memberList() */
  readonly cluster: Cluster;
  /** Status, hashes, alarms, defragment, snapshot. @example await client.maintenance.status() */
  readonly maintenance: Maintenance;
  /** Users, roles, permissions; enable/disable auth. @example await client.auth.userList() */
  readonly auth: Auth;

  constructor(options: ClientOptions) {
    super(new Shared(new Connection(options)), Namespace.root);
    this.cluster = new Cluster(this.conn);
    this.maintenance = new Maintenance(this.conn);
    this.auth = new Auth(this.conn);
  }

  /**
   * Every lease the server holds.
   * @example const ids = (await client.leases()).map((l) => l.id);
   */
  leases(options: CallOptions = {}): Promise<LeaseStatus[]> {
    return listLeases(this.conn, options);
  }

  /**
   * The remaining TTL of any lease by ID.
   * @example const { ttl } = await client.leaseTimeToLive(id);
   */
  leaseTimeToLive(id: bigint, options: { keys?: boolean } & CallOptions = {}): Promise<LeaseTimeToLive> {
    return leaseTimeToLive(this.conn, id, options);
  }

  /**
   * Revokes any lease by ID (its keys are deleted).
   * @example await client.revokeLease(id);
   */
  async revokeLease(id: bigint, options: CallOptions = {}): Promise<void> {
    await this.conn.unary(RPC.Lease.LeaseRevoke, { ID: int64Field(id, 'lease id') }, options, 'read');
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
