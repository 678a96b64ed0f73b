/**
 * Cairn's domain errors and the ONE table that maps each of them to a gRPC status code and etcd's
 * exact message text. Go's clientv3 and the `etcd3` npm client recognise errors by that text, so
 * the strings below are part of the wire contract: never reword them.
 *
 * The table follows etcd 3.4's `api/v3rpc/rpctypes/error.go` (server-side errors) and
 * `api/v3rpc/util.go` (`togRPCError`), release-3.4 as shipped in 3.4.23. Where etcd 3.4 sends a
 * different code than error.go declares, the table says what goes on the wire and why.
 *
 * Lower modules (mvcc, lease, ...) throw their own typed errors; `toGrpcStatus` maps them here, so
 * the mapping stays in one place. Anything it does not know becomes UNKNOWN with the error's message,
 * and the caller must log it with its cause: an unknown error is a bug or an unplanned failure.
 */
import { GrpcStatus } from '../proto/grpc-status';

/** gRPC status codes (grpc/codes), by their canonical names. */
export const GrpcCode = GrpcStatus;
export type GrpcCode = GrpcStatus;

/** One row of the table: the status an error is answered with. */
export interface GrpcErrorStatus {
  readonly code: GrpcCode;
  /** etcd's exact message text (`grpc-message`). */
  readonly message: string;
}

const row = (code: GrpcCode, message: string): GrpcErrorStatus => ({ code, message });
const C = GrpcCode;

/**
 * Every domain error Cairn answers with, by kind (etcd's `ErrXxx` name without `Err`), with its
 * gRPC code and etcd's message text.
 */
export const ETCD_ERRORS = {
  // --- request validation and KV (api/v3rpc/key.go, etcdserver/apply.go)
  EmptyKey: row(C.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  KeyNotFound: row(C.INVALID_ARGUMENT, 'etcdserver: key not found'),
  ValueProvided: row(C.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  LeaseProvided: row(C.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  TooManyOps: row(C.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  DuplicateKey: row(C.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  /**
   * A sort order or sort target outside the proto enums. etcd 3.4.23 has no such check: an unknown
   * sort target makes it dereference a nil sorter and crash (observed). We answer as etcd 3.5 does.
   */
  InvalidSortOption: row(C.INVALID_ARGUMENT, 'etcdserver: invalid sort option'),
  Compacted: row(C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  FutureRev: row(C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  NoSpace: row(C.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),
  RequestTooLarge: row(C.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  /**
   * etcd 3.4's error.go declares ResourceExhausted, but its togRPCError returns the client-side
   * EtcdError value, which grpc-go cannot read a status from: on the wire it is UNKNOWN with this
   * text. Clients match the text; we send what etcd sends.
   */
  TooManyRequests: row(C.UNKNOWN, 'etcdserver: too many requests'),

  // --- leases (lease/lessor.go)
  LeaseNotFound: row(C.NOT_FOUND, 'etcdserver: requested lease not found'),
  LeaseExist: row(C.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  LeaseTTLTooLarge: row(C.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),

  // --- watch
  WatchCanceled: row(C.CANCELLED, 'etcdserver: watch canceled'),

  // --- membership (etcdserver/api/membership, etcdserver/server.go)
  MemberExist: row(C.FAILED_PRECONDITION, 'etcdserver: member ID already exist'),
  PeerURLExist: row(C.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'),
  /** As TooManyRequests: error.go says FailedPrecondition, etcd 3.4 sends UNKNOWN with this text. */
  MemberNotEnoughStarted: row(C.UNKNOWN, 'etcdserver: re-configuration failed due to not enough started members'),
  MemberBadURLs: row(C.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'),
  MemberNotFound: row(C.NOT_FOUND, 'etcdserver: member not found'),
  MemberNotLearner: row(C.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'),
  LearnerNotReady: row(C.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader'),
  TooManyLearners: row(C.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'),

  // --- auth (auth/store.go)
  RootUserNotExist: row(C.FAILED_PRECONDITION, 'etcdserver: root user does not exist'),
  RootRoleNotExist: row(C.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'),
  UserAlreadyExist: row(C.FAILED_PRECONDITION, 'etcdserver: user name already exists'),
  UserEmpty: row(C.INVALID_ARGUMENT, 'etcdserver: user name is empty'),
  UserNotFound: row(C.FAILED_PRECONDITION, 'etcdserver: user name not found'),
  RoleAlreadyExist: row(C.FAILED_PRECONDITION, 'etcdserver: role name already exists'),
  RoleNotFound: row(C.FAILED_PRECONDITION, 'etcdserver: role name not found'),
  RoleEmpty: row(C.INVALID_ARGUMENT, 'etcdserver: role name is empty'),
  AuthFailed: row(C.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'),
  PermissionDenied: row(C.PERMISSION_DENIED, 'etcdserver: permission denied'),
  RoleNotGranted: row(C.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'),
  PermissionNotGranted: row(C.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'),
  AuthNotEnabled: row(C.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'),
  InvalidAuthToken: row(C.UNAUTHENTICATED, 'etcdserver: invalid auth token'),
  InvalidAuthMgmt: row(C.INVALID_ARGUMENT, 'etcdserver: invalid auth management'),
  AuthOldRevision: row(C.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'),

  // --- cluster state (etcdserver/errors.go)
  NoLeader: row(C.UNAVAILABLE, 'etcdserver: no leader'),
  NotLeader: row(C.FAILED_PRECONDITION, 'etcdserver: not leader'),
  LeaderChanged: row(C.UNAVAILABLE, 'etcdserver: leader changed'),
  NotCapable: row(C.UNAVAILABLE, 'etcdserver: not capable'),
  Stopped: row(C.UNAVAILABLE, 'etcdserver: server stopped'),
  Timeout: row(C.UNAVAILABLE, 'etcdserver: request timed out'),
  TimeoutDueToLeaderFail: row(C.UNAVAILABLE, 'etcdserver: request timed out, possibly due to previous leader failure'),
  TimeoutDueToConnectionLost: row(C.UNAVAILABLE, 'etcdserver: request timed out, possibly due to connection lost'),
  TimeoutWaitAppliedIndex: row(C.UNAVAILABLE, 'etcdserver: request timed out, waiting for the applied index took too long'),
  Unhealthy: row(C.UNAVAILABLE, 'etcdserver: unhealthy cluster'),
  Corrupt: row(C.DATA_LOSS, 'etcdserver: corrupt cluster'),
  NotSupportedForLearner: row(C.UNAVAILABLE, 'etcdserver: rpc not supported for learner'),
  BadLeaderTransferee: row(C.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'),
  TimeoutLeaderTransfer: row(C.UNAVAILABLE, 'etcdserver: request timed out, leader transfer took too long'),
} as const satisfies Record<string, GrpcErrorStatus>;

/** The kind of a domain error: a key of `ETCD_ERRORS`. */
export type EtcdErrorKind = keyof typeof ETCD_ERRORS;

/**
 * A domain error: an operating error with a kind from the table. Thrown by validation and apply
 * (and by any module that answers with one of etcd's errors); its message is etcd's text.
 * @example throw new EtcdError('EmptyKey')
 */
export class EtcdError extends Error {
  readonly kind: EtcdErrorKind;

  constructor(kind: EtcdErrorKind, options?: { cause?: unknown }) {
    super(ETCD_ERRORS[kind].message, options);
    this.name = 'EtcdError';
    this.kind = kind;
  }

  /** The gRPC status code this error is answered with. */
  get grpcCode(): GrpcCode {
    return ETCD_ERRORS[this.kind].code;
  }
}

/** True when `err` is an `EtcdError`, of `kind` when given. */
/** Whether `kind` names an etcd error (an error kind that crossed a process boundary as text). */
export function isEtcdErrorKind(kind: string): kind is EtcdErrorKind {
  return Object.prototype.hasOwnProperty.call(ETCD_ERRORS, kind);
}

export function isEtcdError(err: unknown, kind?: EtcdErrorKind): err is EtcdError {
  return err instanceof EtcdError && (kind === undefined || err.kind === kind);
}

/**
 * Typed errors of lower modules, recognised by class name so that those modules need not import
 * this one (dependencies point down: api → apply → mvcc). Each name maps to its row of the table.
 */
const FOREIGN_ERRORS: ReadonlyMap<string, EtcdErrorKind> = new Map<string, EtcdErrorKind>([
  ['CompactedError', 'Compacted'], // server/mvcc/errors.ts
  ['FutureRevisionError', 'FutureRev'], // server/mvcc/errors.ts
  ['LeaseNotFoundError', 'LeaseNotFound'],
  ['LeaseExistsError', 'LeaseExist'],
  ['LeaseTTLTooLargeError', 'LeaseTTLTooLarge'],
]);

/** The result of mapping an error: its status, and whether the table knew it. */
export interface MappedGrpcError extends GrpcErrorStatus {
  /** The error's kind; undefined for an unknown error, which the caller must log with its cause. */
  readonly kind: EtcdErrorKind | undefined;
}

/** The kind of `err` per the table, or undefined when it is not a known domain error. */
export function etcdErrorKindOf(err: unknown): EtcdErrorKind | undefined {
  if (err instanceof EtcdError) return err.kind;
  if (typeof err === 'object' && err !== null) {
    const name = (err as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string') return FOREIGN_ERRORS.get(name);
  }
  return undefined;
}

/**
 * Maps any thrown value to the gRPC status to answer with. A known domain error gets its row of the
 * table; anything else gets UNKNOWN with its message (`kind` undefined: log it with its cause).
 */
export function toGrpcStatus(err: unknown): MappedGrpcError {
  const kind = etcdErrorKindOf(err);
  if (kind !== undefined) {
    const status = ETCD_ERRORS[kind];
    return { code: status.code, message: status.message, kind };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: GrpcCode.UNKNOWN, message, kind: undefined };
}
