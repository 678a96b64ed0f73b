/**
 * Cairn's client SDK: a typed client for Cairn and any etcd v3 API server. This file is the whole
 * public surface; see client/README.md for a walk-through.
 */
export { Client, KVView } from './client';
export type { ClientOptions } from './client';
export type { CallOptions, ConnectionOptions, PemSource } from './connection';
export type { Bytes } from './bytes';
export { MultiRangeBuilder, SingleRangeBuilder } from './kv';
export type { DeleteResult, IterateOptions, PutOptions, PutResult, RangeResult } from './kv';
export type { KeyOrSelector, KeySelector, RangeOptions, SortOrder, SortTarget } from './range';
export { TxnBuilder, compare, op } from './txn';
export type { Compare, CompareOperand, CompareOperator, CompareTarget, Op, OpResult, TxnResult } from './txn';
export type { Int64Input, KeyValue, ResponseHeader } from './types';
export { Watcher } from './watch';
export type { WatchEvent, WatchOptions } from './watch';
export { Lease } from './lease';
export type { LeaseOptions, LeaseStatus, LeaseTimeToLive } from './lease';
export { Mutex, Session } from './lock';
export type { MutexOptions, SessionOptions } from './lock';
export { Election } from './election';
export type { ElectionOptions } from './election';
export type { Isolation, STM, STMOptions } from './stm';
export { Cluster } from './cluster';
export type { Member } from './cluster';
export { Maintenance } from './maintenance';
export type { Alarm, Status } from './maintenance';
export { Auth } from './auth';
export type { Permission, PermissionType } from './auth';
export * from './errors';
