/**
 * Transactions: typed compares, the operations a transaction runs, and the builder
 * `client.if(key, 'value', '==', 'x').then(ops).else(ops).commit()`.
 */
import { etcdserverpb as pb } from '../proto/index';
import { Bytes, Namespace, toBuffer } from './bytes';
import { CallOptions, Connection, RPC } from './connection';
import { InvalidArgumentError } from './errors';
import {
  DeleteResult,
  PutOptions,
  PutResult,
  RangeResult,
  buildDeleteRequest,
  buildPutRequest,
  toDeleteResult,
  toPutResult,
  toRangeResult,
} from './kv';
import { KeyOrSelector, RangeOptions, buildRangeRequest, resolveSelector } from './range';
import { Int64Input, ResponseHeader, int64Field, toHeader } from './types';

/** What a compare looks at. */
export type CompareTarget = 'value' | 'version' | 'createRevision' | 'modRevision' | 'lease';
/** How it compares. */
export type CompareOperator = '==' | '!=' | '<' | '>';
/** The operand type of a target: bytes for `value`, an integer for the others. */
export type CompareOperand<T extends CompareTarget> = T extends 'value' ? Bytes : Int64Input;

const RESULT: Record<CompareOperator, number> = { '==': 0, '>': 1, '<': 2, '!=': 3 };
const TARGET: Record<CompareTarget, number> = { version: 0, createRevision: 1, modRevision: 2, value: 3, lease: 4 };

/**
 * One compare of a transaction's guard.
 * @example compare('k', 'modRevision', '<', 10n)
 */
export interface Compare {
  readonly selector: KeyOrSelector;
  readonly target: CompareTarget;
  readonly operator: CompareOperator;
  readonly operand: Bytes | Int64Input;
}

/**
 * Builds a compare: `target(key) operator operand`. A selector other than a plain key compares every
 * key in the range.
 * @throws InvalidArgumentError for an empty key, an unknown target or operator, or an operand of the wrong type.
 * @example compare('config', 'version', '==', 0) // the key does not exist
 */
export function compare<T extends CompareTarget>(key: KeyOrSelector, target: T, operator: CompareOperator, operand: CompareOperand<T>): Compare {
  if (!(target in TARGET)) throw new InvalidArgumentError(`unknown compare target '${String(target)}'`);
  if (!(operator in RESULT)) throw new InvalidArgumentError(`unknown compare operator '${String(operator)}'`);
  if (target === 'value') {
    if (typeof operand !== 'string' && !(operand instanceof Uint8Array)) throw new InvalidArgumentError('a value compare takes a string or bytes');
  } else if (typeof operand !== 'bigint' && typeof operand !== 'number') {
    throw new InvalidArgumentError(`a ${target} compare takes a bigint or integer`);
  } else {
    int64Field(operand, target);
  }
  resolveSelector(key, Namespace.root);
  return { selector: key, target, operator, operand };
}

function buildCompare(c: Compare, ns: Namespace): pb.Compare.$Properties {
  const r = resolveSelector(c.selector, ns);
  const out: pb.Compare.$Properties = { key: r.key, result: RESULT[c.operator], target: TARGET[c.target] };
  if (r.rangeEnd.length > 0) out.rangeEnd = r.rangeEnd;
  switch (c.target) {
    case 'value':
      out.value = toBuffer(c.operand as Bytes);
      break;
    case 'version':
      out.version = int64Field(c.operand as Int64Input, 'version');
      break;
    case 'createRevision':
      out.createRevision = int64Field(c.operand as Int64Input, 'createRevision');
      break;
    case 'modRevision':
      out.modRevision = int64Field(c.operand as Int64Input, 'modRevision');
      break;
    case 'lease':
      out.lease = int64Field(c.operand as Int64Input, 'lease');
      break;
  }
  return out;
}

/**
 * An operation in a transaction; build it with {@link op}.
 * @example op.put('k', 'v')
 */
export type Op =
  | { readonly type: 'range'; readonly selector: KeyOrSelector; readonly options: RangeOptions }
  | { readonly type: 'put'; readonly key: Bytes; readonly value: Bytes; readonly options: PutOptions }
  | { readonly type: 'delete'; readonly selector: KeyOrSelector; readonly options: { prevKv?: boolean } }
  | { readonly type: 'txn'; readonly compares: readonly Compare[]; readonly success: readonly Op[]; readonly failure: readonly Op[] };

/**
 * Operations for transactions. Each validates its input when built.
 * @example client.if('k', 'version', '==', 0).then(op.put('k', 'v')).else(op.get('k')).commit()
 */
export const op = {
  /**
   * Reads one key. @example op.get('k')
   */
  get(key: Bytes, options: RangeOptions = {}): Op {
    buildRangeRequest(resolveSelector(key, Namespace.root), options);
    return { type: 'range', selector: key, options };
  },
  /**
   * Reads a range. @example op.range({ prefix: 'a/' }, { limit: 10 })
   */
  range(selector: KeyOrSelector, options: RangeOptions = {}): Op {
    buildRangeRequest(resolveSelector(selector, Namespace.root), options);
    return { type: 'range', selector, options };
  },
  /**
   * Puts a key. @example op.put('k', 'v', { lease: id })
   */
  put(key: Bytes, value: Bytes, options: Omit<PutOptions, keyof CallOptions> = {}): Op {
    buildPutRequest(Namespace.root, key, value, options);
    return { type: 'put', key, value, options };
  },
  /**
   * Deletes one key or a range. @example op.delete({ prefix: 'tmp/' })
   */
  delete(selector: KeyOrSelector, options: { prevKv?: boolean } = {}): Op {
    resolveSelector(selector, Namespace.root);
    return { type: 'delete', selector, options };
  },
  /**
   * A nested transaction. @example op.txn([compare('a', 'value', '==', '1')], [op.put('b', '2')], [])
   */
  txn(compares: readonly Compare[], success: readonly Op[], failure: readonly Op[] = []): Op {
    checkCompares(compares, 'op.txn');
    checkOps(success, 'op.txn');
    checkOps(failure, 'op.txn');
    return { type: 'txn', compares, success, failure };
  },
};

const OP_TYPES = new Set(['range', 'put', 'delete', 'txn']);

function checkOps(ops: readonly unknown[], where: string): void {
  if (!Array.isArray(ops)) throw new InvalidArgumentError(`${where} takes arrays of operations built with op.*`);
  for (const o of ops) {
    if (o === null || typeof o !== 'object' || !OP_TYPES.has((o as { type?: unknown }).type as string)) {
      throw new InvalidArgumentError(`${where} takes operations built with op.*`);
    }
  }
}

function checkCompares(compares: readonly unknown[], where: string): void {
  if (!Array.isArray(compares)) throw new InvalidArgumentError(`${where} takes an array of compares built with compare()`);
  for (const c of compares) {
    const x = c as Partial<Compare> | null;
    if (x === null || typeof x !== 'object' || x.target === undefined || !(x.target in TARGET) || x.operator === undefined || !(x.operator in RESULT)) {
      throw new InvalidArgumentError(`${where} takes compares built with compare()`);
    }
  }
}

function buildOp(o: Op, ns: Namespace): pb.RequestOp.$Properties {
  switch (o.type) {
    case 'range':
      return { requestRange: buildRangeRequest(resolveSelector(o.selector, ns), o.options) };
    case 'put':
      return { requestPut: buildPutRequest(ns, o.key, o.value, o.options) };
    case 'delete':
      return { requestDeleteRange: buildDeleteRequest(ns, o.selector, o.options) };
    case 'txn':
      return { requestTxn: buildTxnRequest(o.compares, o.success, o.failure, ns) };
  }
}

/** Builds a TxnRequest. */
export function buildTxnRequest(compares: readonly Compare[], success: readonly Op[], failure: readonly Op[], ns: Namespace): pb.TxnRequest.$Properties {
  return {
    compare: compares.map((c) => buildCompare(c, ns)),
    success: success.map((o) => buildOp(o, ns)),
    failure: failure.map((o) => buildOp(o, ns)),
  };
}

/**
 * The result of one operation of a transaction.
 * @example if (r.type === 'range') console.log(r.kvs.length);
 */
export type OpResult =
  | ({ readonly type: 'range' } & RangeResult)
  | ({ readonly type: 'put' } & PutResult)
  | ({ readonly type: 'delete' } & DeleteResult)
  | ({ readonly type: 'txn' } & TxnResult);

/**
 * The result of a transaction.
 * @example const { succeeded, responses } = await client.if('k', 'version', '==', 0).then(op.put('k', 'v')).commit();
 */
export interface TxnResult {
  readonly header: ResponseHeader;
  /** The revision after the transaction. */
  readonly revision: bigint;
  /** True when every compare held (the `then` branch ran). */
  readonly succeeded: boolean;
  /** One result per operation of the branch that ran. */
  readonly responses: OpResult[];
}

function toOpResult(r: pb.ResponseOp.$Properties, ns: Namespace): OpResult {
  if (r.responseRange) return { type: 'range', ...toRangeResult(r.responseRange, ns) };
  if (r.responsePut) return { type: 'put', ...toPutResult(r.responsePut, ns) };
  if (r.responseDeleteRange) return { type: 'delete', ...toDeleteResult(r.responseDeleteRange, ns) };
  if (r.responseTxn) return { type: 'txn', ...toTxnResult(r.responseTxn, ns) };
  throw new Error('txn: empty ResponseOp');
}

/** Converts a TxnResponse. */
export function toTxnResult(resp: pb.TxnResponse.$Properties, ns: Namespace): TxnResult {
  const header = toHeader(resp.header);
  return { header, revision: header.revision, succeeded: resp.succeeded === true, responses: (resp.responses ?? []).map((r) => toOpResult(r, ns)) };
}

/**
 * A transaction being built: compares (`if` / `and`), the operations to run when they all hold
 * (`then`) and otherwise (`else`). `commit()` sends it.
 * @example
 * const { succeeded } = await client
 *   .if('balance', 'value', '==', '100')
 *   .and('balance', 'modRevision', '<', 50n)
 *   .then(op.put('balance', '90'), op.put('log/1', 'withdraw 10'))
 *   .else(op.get('balance'))
 *   .commit();
 */
export class TxnBuilder {
  private readonly compares: Compare[] = [];
  private success: Op[] = [];
  private failure: Op[] = [];
  private callOptions: CallOptions = {};

  /** @internal made by `client.if()` / `client.txn()`. */
  constructor(
    private readonly conn: Connection,
    private readonly ns: Namespace,
  ) {}

  /**
   * Adds a compare (all compares must hold).
   * @example client.if('a', 'version', '>', 0).and('b', 'version', '==', 0)
   */
  and<T extends CompareTarget>(key: KeyOrSelector, target: T, operator: CompareOperator, operand: CompareOperand<T>): this {
    this.compares.push(compare(key, target, operator, operand));
    return this;
  }

  /**
   * Adds compares built with {@link compare}.
   * @example client.txn().where(compare('a', 'value', '==', 'x'))
   */
  where(...compares: Compare[]): this {
    checkCompares(compares, 'where()');
    this.compares.push(...compares);
    return this;
  }

  /**
   * The operations to run when every compare holds. (Should plain JavaScript `await` the builder,
   * which calls `then` with functions, it commits: a builder is never awaited into a no-op.)
   * @example client.if('k', 'version', '==', 0).then(op.put('k', 'v'))
   */
  then(...ops: Op[]): this;
  then(...args: unknown[]): unknown {
    if (args.length > 0 && args.every((a) => typeof a === 'function' || a === undefined || a === null) && args.some((a) => typeof a === 'function')) {
      return this.commit().then(args[0] as never, args[1] as never);
    }
    checkOps(args, 'then()');
    this.success.push(...(args as Op[]));
    return this;
  }

  /**
   * The operations to run when a compare fails.
   * @example .else(op.get('k'))
   */
  else(...ops: Op[]): this {
    checkOps(ops, 'else()');
    this.failure.push(...ops);
    return this;
  }

  /**
   * Call options (deadline, signal) for the commit.
   * @example .options({ timeoutMs: 1000 })
   */
  options(options: CallOptions): this {
    this.callOptions = { ...this.callOptions, ...options };
    return this;
  }

  /**
   * Sends the transaction. A transaction that only reads is retried like a read; one that writes
   * is not retried once sent.
   * @example const r = await client.if('k', 'value', '==', 'a').then(op.put('k', 'b')).commit();
   */
  async commit(): Promise<TxnResult> {
    const req = buildTxnRequest(this.compares, this.success, this.failure, this.ns);
    const writes = (ops: readonly Op[]): boolean => ops.some((o) => o.type !== 'range' && (o.type !== 'txn' || writes(o.success) || writes(o.failure)));
    const safety = writes(this.success) || writes(this.failure) ? 'write' : 'read';
    const resp = await this.conn.unary<pb.TxnResponse>(RPC.KV.Txn, req, this.callOptions, safety);
    return toTxnResult(resp, this.ns);
  }
}
