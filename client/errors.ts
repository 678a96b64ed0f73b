/**
 * The SDK's typed errors. Server errors are recognised by etcd's exact message text (the gRPC
 * `grpc-message`, which Go's clientv3 and the `etcd3` npm client match as well) and, when the text is
 * not one of etcd's, by the gRPC status code. Every class says whether a call that failed with it may
 * be retried: `retryable` for reads and other calls that are safe to repeat, `notApplied` when the
 * server is known not to have applied the request (so even a write may be sent again).
 *
 * Client-side errors (bad input, a closed client, an aborted call) derive from {@link ClientError}
 * and are thrown before any request is sent.
 */
import type * as grpc from '@grpc/grpc-js';
import { GrpcStatus } from '../proto/grpc-status';

/** gRPC status codes (grpc/codes). */
export { GrpcStatus };

/**
 * The base class of every error the SDK throws for a failed call.
 * @example
 * try { await client.put('k', 'v'); } catch (err) { if (err instanceof EtcdError && err.retryable) retryLater(); }
 */
export class EtcdError extends Error {
  /** The gRPC status code of the failed call (0 when the error never reached gRPC). */
  readonly code: number;
  /** True when repeating the call is safe for a read (the failure is transient). */
  readonly retryable: boolean;
  /** True when the server certainly did not apply the request, so even a write may be sent again. */
  readonly notApplied: boolean;

  /**
   * @param message the error text (etcd's message for server errors).
   * @param options the gRPC code, the retry flags and the cause.
   * @example new EtcdError('etcdserver: no leader', { code: 14, retryable: true })
   */
  constructor(message: string, options: { code?: number; retryable?: boolean; notApplied?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? GrpcStatus.UNKNOWN;
    this.retryable = options.retryable ?? false;
    this.notApplied = options.notApplied ?? false;
  }
}

// ------------------------------------------------------------------------------------------------
// Client-side errors: nothing was sent.

/**
 * An error raised by the SDK itself before any request was sent.
 * @example if (err instanceof ClientError) console.error('bug in the caller:', err.message);
 */
export class ClientError extends EtcdError {
  /**
   * @param message what is wrong.
   * @example new ClientError('client is closed')
   */
  constructor(message: string, options: { code?: number; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 0, notApplied: true, cause: options.cause });
  }
}

/**
 * Bad input: an empty key, a negative limit, options that cannot go together. Thrown synchronously or
 * as a rejected promise before any request is sent.
 * @example expect(() => client.get('')).toThrow(InvalidArgumentError)
 */
export class InvalidArgumentError extends ClientError {
  /** @example new InvalidArgumentError('key must not be empty') */
  constructor(message: string) {
    super(message, { code: GrpcStatus.INVALID_ARGUMENT });
  }
}

/**
 * A call made on a client (or a watcher, lease, session) after `close()`.
 * @example await client.close(); await client.get('k').catch((e) => e instanceof ClientClosedError) // true
 */
export class ClientClosedError extends ClientError {
  /** @example new ClientClosedError() */
  constructor(what = 'client') {
    super(`${what} is closed`, { code: GrpcStatus.CANCELLED });
  }
}

/**
 * The call's `AbortSignal` fired. The request may or may not have been applied if it had been sent.
 * @example
 * const ac = new AbortController(); setTimeout(() => ac.abort(), 100);
 * await mutex.lock({ signal: ac.signal }).catch((e) => e instanceof AbortedError);
 */
export class AbortedError extends EtcdError {
  /** @example new AbortedError() */
  constructor(cause?: unknown) {
    super('the operation was aborted', { code: GrpcStatus.CANCELLED, cause });
  }
}

/**
 * The call's deadline passed (`timeoutMs`, or the client's `callTimeoutMs`).
 * @example await client.get('k').options({ timeoutMs: 1 }).catch((e) => e instanceof DeadlineExceededError)
 */
export class DeadlineExceededError extends EtcdError {
  /** @example new DeadlineExceededError('Deadline exceeded') */
  constructor(message = 'deadline exceeded', cause?: unknown) {
    super(message, { code: GrpcStatus.DEADLINE_EXCEEDED, cause });
  }
}

/**
 * No endpoint could be reached (connection refused, dropped, or the server is stopping). Reads retry
 * it on the next endpoint; a write is retried only when the request was never sent (`notApplied`).
 * @example if (err instanceof UnavailableError && err.notApplied) await client.put('k', 'v');
 */
export class UnavailableError extends EtcdError {
  /** @example new UnavailableError('connect ECONNREFUSED', true) */
  constructor(message: string, notApplied: boolean, cause?: unknown) {
    super(message, { code: GrpcStatus.UNAVAILABLE, retryable: true, notApplied, cause });
  }
}

/**
 * The TLS handshake with an endpoint failed: no request was sent. A configuration problem rather
 * than a transient one, so a call is not retried until its deadline (as a refused connection is);
 * it fails over to the other endpoints within `retry.attemptsMax` attempts and then throws this.
 * The subclasses say which side's certificate was refused.
 * @example
 * await client.get('k').catch((e) => { if (e instanceof TlsError) console.error('check tls.ca / tls.cert:', e.message); });
 */
export class TlsError extends UnavailableError {
  /** The TLS library's own reason (e.g. `unable to verify the first certificate`). */
  readonly reason: string;
  /** @example new TlsError('TLS handshake failed', 'wrong version number') */
  constructor(message: string, reason: string, cause?: unknown) {
    super(message, true, cause);
    this.reason = reason;
  }
}

/**
 * The server's certificate is not trusted: it is not signed by the CA given in `tls.ca` (or, without
 * one, by a system root), has expired, or does not name the endpoint's host (SAN).
 * @example new Client({ endpoints: 'https://127.0.0.1:2379', tls: { ca: { path: 'ca.pem' } } }) // the CA that signed the server's certificate
 */
export class UntrustedServerCertificateError extends TlsError {
  /** @example new UntrustedServerCertificateError('unable to verify the first certificate') */
  constructor(reason: string, cause?: unknown) {
    super(`TLS: the server's certificate is not trusted (${reason}); is tls.ca the CA that signed it, and does it name this host?`, reason, cause);
  }
}

/**
 * The server refused the client's certificate during the handshake: none was given (`tls.cert` /
 * `tls.key`) while the server requires one (`--client-cert-auth`), or it is not signed by a CA the
 * server trusts (`--trusted-ca-file`), or it is not valid for client authentication.
 * @example new Client({ endpoints, tls: { ca, cert: { path: 'client.pem' }, key: { path: 'client-key.pem' } } })
 */
export class ClientCertificateRejectedError extends TlsError {
  /** @example new ClientCertificateRejectedError('sslv3 alert bad certificate') */
  constructor(reason: string, cause?: unknown) {
    super(`TLS: the server refused the client certificate (${reason}); it needs tls.cert and tls.key signed by a CA the server trusts`, reason, cause);
  }
}

/**
 * The server does not serve the method (e.g. a Cairn member without leases yet).
 * @example await client.lease(5).grant().catch((e) => e instanceof UnimplementedError)
 */
export class UnimplementedError extends EtcdError {
  /** @example new UnimplementedError('unknown service etcdserverpb.Lease') */
  constructor(message: string) {
    super(message, { code: GrpcStatus.UNIMPLEMENTED, notApplied: true });
  }
}

/**
 * A watch asked for a start revision that has been compacted away; no event was delivered for it.
 * Start again from {@link WatchCompactedError.compactRevision} (after re-reading the state).
 * @example
 * watcher.on('error', (e) => { if (e instanceof WatchCompactedError) resync(e.compactRevision); });
 */
export class WatchCompactedError extends EtcdError {
  /** The oldest revision the server still has. */
  readonly compactRevision: bigint;
  /** @example new WatchCompactedError(42n) */
  constructor(compactRevision: bigint) {
    super(`etcdserver: mvcc: required revision has been compacted (compact revision ${compactRevision})`, {
      code: GrpcStatus.OUT_OF_RANGE,
    });
    this.compactRevision = compactRevision;
  }
}

/**
 * A watcher fell too far behind: its consumer did not read events and the buffer bound was reached.
 * @example for await (const ev of watcher) { await slowWork(ev); } // may throw WatchBufferOverflowError
 */
export class WatchBufferOverflowError extends ClientError {
  /** @example new WatchBufferOverflowError(10000) */
  constructor(eventsBufferedMax: number) {
    super(`watch consumer fell behind: more than ${eventsBufferedMax} events buffered`);
  }
}

/**
 * The server cancelled a watch for a reason the SDK cannot recover from (e.g. permission denied).
 * @example watcher.on('error', (e) => e instanceof WatchCancelledError && console.warn(e.message));
 */
export class WatchCancelledError extends EtcdError {
  /** @example new WatchCancelledError('permission denied') */
  constructor(reason: string) {
    super(reason === '' ? 'etcdserver: watch canceled' : reason, { code: GrpcStatus.CANCELLED });
  }
}

/**
 * A lease could not be kept alive: it expired, was revoked, or no keep-alive got through before its
 * TTL ran out. Keys attached to it are gone (or will be).
 * @example lease.on('lost', (err: LeaseLostError) => process.exit(1));
 */
export class LeaseLostError extends EtcdError {
  /** The lease's ID. */
  readonly leaseId: bigint;
  /** @example new LeaseLostError(7587n, 'lease expired') */
  constructor(leaseId: bigint, reason: string, cause?: unknown) {
    super(`lease ${leaseId.toString(16)} lost: ${reason}`, { code: GrpcStatus.NOT_FOUND, cause });
    this.leaseId = leaseId;
  }
}

/**
 * An STM transaction kept conflicting with other writers and ran out of retries.
 * @example await client.stm(fn, { retriesMax: 3 }).catch((e) => e instanceof STMConflictError)
 */
export class STMConflictError extends EtcdError {
  /** @example new STMConflictError(10) */
  constructor(attempts: number) {
    super(`stm: transaction conflicted ${attempts} times`, { code: GrpcStatus.ABORTED, retryable: true, notApplied: true });
  }
}

/**
 * The lock or leadership was lost (its session's lease is gone) or was never held.
 * @example await mutex.unlock().catch((e) => e instanceof LockNotHeldError)
 */
export class LockNotHeldError extends ClientError {
  /** @example new LockNotHeldError('mutex /locks/a is not held') */
  constructor(message: string) {
    super(message, { code: GrpcStatus.FAILED_PRECONDITION });
  }
}

// ------------------------------------------------------------------------------------------------
// Server errors, by etcd's text (etcd 3.4 api/v3rpc/rpctypes/error.go).

interface ServerErrorOptions {
  readonly code: number;
  readonly retryable?: boolean;
  readonly notApplied?: boolean;
}

/**
 * An error answered by an etcd-compatible server with one of etcd's messages. Each subclass is one
 * etcd error; {@link fromGrpcError} picks it by the message text.
 * @example if (err instanceof ServerError) console.log(err.code, err.message);
 */
export class ServerError extends EtcdError {
  /** @example new ServerError('etcdserver: no leader', { code: 14, retryable: true }) */
  constructor(message: string, options: ServerErrorOptions & { cause?: unknown }) {
    super(message, options);
  }
}

/** A server error class: constructible from the message and cause, knowing etcd's text. */
export interface ServerErrorClass {
  new (message?: string, cause?: unknown): ServerError;
  /** etcd's message text for this error. */
  readonly text: string;
}

function serverError(text: string, options: ServerErrorOptions): ServerErrorClass {
  return class extends ServerError {
    static readonly text = text;
    constructor(message: string = text, cause?: unknown) {
      super(message, { ...options, cause });
    }
  };
}

const C = GrpcStatus;
const unavailable = { code: C.UNAVAILABLE, retryable: true } as const;

// One class per etcd error. Each is a named class so `instanceof` and stack traces say what it is.

/** `etcdserver: key is not provided`. @example err instanceof EmptyKeyError */
export class EmptyKeyError extends serverError('etcdserver: key is not provided', { code: C.INVALID_ARGUMENT, notApplied: true }) {}
/** `etcdserver: key not found`. @example err instanceof KeyNotFoundError */
export class KeyNotFoundError extends serverError('etcdserver: key not found', { code: C.INVALID_ARGUMENT, notApplied: true }) {}
/** `etcdserver: value is provided`. @example err instanceof ValueProvidedError */
export class ValueProvidedError extends serverError('etcdserver: value is provided', { code: C.INVALID_ARGUMENT, notApplied: true }) {}
/** `etcdserver: lease is provided`. @example err instanceof LeaseProvidedError */
export class LeaseProvidedError extends serverError('etcdserver: lease is provided', { code: C.INVALID_ARGUMENT, notApplied: true }) {}
/** `etcdserver: too many operations in txn request`. @example err instanceof TooManyOpsError */
export class TooManyOpsError extends serverError('etcdserver: too many operations in txn request', { code: C.INVALID_ARGUMENT, notApplied: true }) {}
/** `etcdserver: duplicate key given in txn request`. @example err instanceof DuplicateKeyError */
export class DuplicateKeyError extends serverError('etcdserver: duplicate key given in txn request', { code: C.INVALID_ARGUMENT, notApplied: true }) {}
/** `etcdserver: invalid sort option` (etcd 3.5). @example err instanceof InvalidSortOptionError */
export class InvalidSortOptionError extends serverError('etcdserver: invalid sort option', { code: C.INVALID_ARGUMENT, notApplied: true }) {}
/**
 * `etcdserver: mvcc: required revision has been compacted`: a read at a revision older than the
 * compaction. @example await client.get('k').revision(1n).catch((e) => e instanceof CompactedError)
 */
export class CompactedError extends serverError('etcdserver: mvcc: required revision has been compacted', { code: C.OUT_OF_RANGE }) {}
/** `etcdserver: mvcc: required revision is a future revision`. @example err instanceof FutureRevisionError */
export class FutureRevisionError extends serverError('etcdserver: mvcc: required revision is a future revision', { code: C.OUT_OF_RANGE }) {}
/** `etcdserver: mvcc: database space exceeded` (NOSPACE alarm). @example err instanceof NoSpaceError */
export class NoSpaceError extends serverError('etcdserver: mvcc: database space exceeded', { code: C.RESOURCE_EXHAUSTED, notApplied: true }) {}
/** `etcdserver: request is too large`. @example err instanceof RequestTooLargeError */
export class RequestTooLargeError extends serverError('etcdserver: request is too large', { code: C.INVALID_ARGUMENT, notApplied: true }) {}
/** `etcdserver: too many requests`: rejected before being proposed, safe to retry. @example err instanceof TooManyRequestsError */
export class TooManyRequestsError extends serverError('etcdserver: too many requests', { code: C.RESOURCE_EXHAUSTED, retryable: true, notApplied: true }) {}
/** `etcdserver: requested lease not found`. @example err instanceof LeaseNotFoundError */
export class LeaseNotFoundError extends serverError('etcdserver: requested lease not found', { code: C.NOT_FOUND }) {}
/** `etcdserver: lease already exists`. @example err instanceof LeaseExistError */
export class LeaseExistError extends serverError('etcdserver: lease already exists', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: too large lease TTL`. @example err instanceof LeaseTTLTooLargeError */
export class LeaseTTLTooLargeError extends serverError('etcdserver: too large lease TTL', { code: C.OUT_OF_RANGE, notApplied: true }) {}
/** `etcdserver: watch canceled`. @example err instanceof WatchCanceledError */
export class WatchCanceledError extends serverError('etcdserver: watch canceled', { code: C.CANCELLED }) {}
/** `etcdserver: member ID already exist`. @example err instanceof MemberExistError */
export class MemberExistError extends serverError('etcdserver: member ID already exist', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: Peer URLs already exists`. @example err instanceof PeerURLExistError */
export class PeerURLExistError extends serverError('etcdserver: Peer URLs already exists', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: re-configuration failed due to not enough started members`. @example err instanceof MemberNotEnoughStartedError */
export class MemberNotEnoughStartedError extends serverError('etcdserver: re-configuration failed due to not enough started members', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: given member URLs are invalid`. @example err instanceof MemberBadURLsError */
export class MemberBadURLsError extends serverError('etcdserver: given member URLs are invalid', { code: C.INVALID_ARGUMENT }) {}
/** `etcdserver: member not found`. @example err instanceof MemberNotFoundError */
export class MemberNotFoundError extends serverError('etcdserver: member not found', { code: C.NOT_FOUND }) {}
/** `etcdserver: can only promote a learner member`. @example err instanceof MemberNotLearnerError */
export class MemberNotLearnerError extends serverError('etcdserver: can only promote a learner member', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: can only promote a learner member which is in sync with leader`. @example err instanceof LearnerNotReadyError */
export class LearnerNotReadyError extends serverError('etcdserver: can only promote a learner member which is in sync with leader', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: too many learner members in cluster`. @example err instanceof TooManyLearnersError */
export class TooManyLearnersError extends serverError('etcdserver: too many learner members in cluster', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: root user does not exist`. @example err instanceof RootUserNotExistError */
export class RootUserNotExistError extends serverError('etcdserver: root user does not exist', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: root user does not have root role`. @example err instanceof RootRoleNotExistError */
export class RootRoleNotExistError extends serverError('etcdserver: root user does not have root role', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: user name already exists`. @example err instanceof UserAlreadyExistError */
export class UserAlreadyExistError extends serverError('etcdserver: user name already exists', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: user name is empty`. @example err instanceof UserEmptyError */
export class UserEmptyError extends serverError('etcdserver: user name is empty', { code: C.INVALID_ARGUMENT }) {}
/** `etcdserver: user name not found`. @example err instanceof UserNotFoundError */
export class UserNotFoundError extends serverError('etcdserver: user name not found', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: role name already exists`. @example err instanceof RoleAlreadyExistError */
export class RoleAlreadyExistError extends serverError('etcdserver: role name already exists', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: role name not found`. @example err instanceof RoleNotFoundError */
export class RoleNotFoundError extends serverError('etcdserver: role name not found', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: role name is empty`. @example err instanceof RoleEmptyError */
export class RoleEmptyError extends serverError('etcdserver: role name is empty', { code: C.INVALID_ARGUMENT }) {}
/** `etcdserver: authentication failed, invalid user ID or password`. @example err instanceof AuthFailedError */
export class AuthFailedError extends serverError('etcdserver: authentication failed, invalid user ID or password', { code: C.INVALID_ARGUMENT }) {}
/** `etcdserver: permission denied`. @example err instanceof PermissionDeniedError */
export class PermissionDeniedError extends serverError('etcdserver: permission denied', { code: C.PERMISSION_DENIED }) {}
/** `etcdserver: role is not granted to the user`. @example err instanceof RoleNotGrantedError */
export class RoleNotGrantedError extends serverError('etcdserver: role is not granted to the user', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: permission is not granted to the role`. @example err instanceof PermissionNotGrantedError */
export class PermissionNotGrantedError extends serverError('etcdserver: permission is not granted to the role', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: authentication is not enabled`. @example err instanceof AuthNotEnabledError */
export class AuthNotEnabledError extends serverError('etcdserver: authentication is not enabled', { code: C.FAILED_PRECONDITION }) {}
/** `etcdserver: invalid auth token`: the SDK refreshes its token and retries once. @example err instanceof InvalidAuthTokenError */
export class InvalidAuthTokenError extends serverError('etcdserver: invalid auth token', { code: C.UNAUTHENTICATED, notApplied: true }) {}
/** `etcdserver: invalid auth management`. @example err instanceof InvalidAuthMgmtError */
export class InvalidAuthMgmtError extends serverError('etcdserver: invalid auth management', { code: C.INVALID_ARGUMENT }) {}
/** `etcdserver: revision of auth store is old`: the SDK refreshes its token and retries once. @example err instanceof AuthOldRevisionError */
export class AuthOldRevisionError extends serverError('etcdserver: revision of auth store is old', { code: C.INVALID_ARGUMENT, notApplied: true }) {}
/** `etcdserver: no leader`. @example err instanceof NoLeaderError */
export class NoLeaderError extends serverError('etcdserver: no leader', unavailable) {}
/** `etcdserver: not leader`. @example err instanceof NotLeaderError */
export class NotLeaderError extends serverError('etcdserver: not leader', { code: C.FAILED_PRECONDITION, retryable: true }) {}
/** `etcdserver: leader changed`. @example err instanceof LeaderChangedError */
export class LeaderChangedError extends serverError('etcdserver: leader changed', unavailable) {}
/** `etcdserver: not capable`. @example err instanceof NotCapableError */
export class NotCapableError extends serverError('etcdserver: not capable', unavailable) {}
/** `etcdserver: server stopped`. @example err instanceof StoppedError */
export class StoppedError extends serverError('etcdserver: server stopped', unavailable) {}
/** `etcdserver: request timed out`. @example err instanceof TimeoutError */
export class TimeoutError extends serverError('etcdserver: request timed out', unavailable) {}
/** `etcdserver: request timed out, possibly due to previous leader failure`. @example err instanceof TimeoutDueToLeaderFailError */
export class TimeoutDueToLeaderFailError extends serverError('etcdserver: request timed out, possibly due to previous leader failure', unavailable) {}
/** `etcdserver: request timed out, possibly due to connection lost`. @example err instanceof TimeoutDueToConnectionLostError */
export class TimeoutDueToConnectionLostError extends serverError('etcdserver: request timed out, possibly due to connection lost', unavailable) {}
/** `etcdserver: request timed out, waiting for the applied index took too long`. @example err instanceof TimeoutWaitAppliedIndexError */
export class TimeoutWaitAppliedIndexError extends serverError('etcdserver: request timed out, waiting for the applied index took too long', unavailable) {}
/** `etcdserver: unhealthy cluster`. @example err instanceof UnhealthyError */
export class UnhealthyError extends serverError('etcdserver: unhealthy cluster', unavailable) {}
/** `etcdserver: corrupt cluster`. @example err instanceof CorruptError */
export class CorruptError extends serverError('etcdserver: corrupt cluster', { code: C.DATA_LOSS }) {}
/** `etcdserver: rpc not supported for learner`. @example err instanceof NotSupportedForLearnerError */
export class NotSupportedForLearnerError extends serverError('etcdserver: rpc not supported for learner', unavailable) {}
/** `etcdserver: bad leader transferee`. @example err instanceof BadLeaderTransfereeError */
export class BadLeaderTransfereeError extends serverError('etcdserver: bad leader transferee', { code: C.FAILED_PRECONDITION }) {}

/**
 * Every server error class by etcd's message text; the table {@link fromGrpcError} consults.
 * @example SERVER_ERRORS_BY_TEXT.get('etcdserver: no leader') === NoLeaderError // true
 */
export const SERVER_ERRORS_BY_TEXT: ReadonlyMap<string, ServerErrorClass> = new Map(
  [
    EmptyKeyError,
    KeyNotFoundError,
    ValueProvidedError,
    LeaseProvidedError,
    TooManyOpsError,
    DuplicateKeyError,
    InvalidSortOptionError,
    CompactedError,
    FutureRevisionError,
    NoSpaceError,
    RequestTooLargeError,
    TooManyRequestsError,
    LeaseNotFoundError,
    LeaseExistError,
    LeaseTTLTooLargeError,
    WatchCanceledError,
    MemberExistError,
    PeerURLExistError,
    MemberNotEnoughStartedError,
    MemberBadURLsError,
    MemberNotFoundError,
    MemberNotLearnerError,
    LearnerNotReadyError,
    TooManyLearnersError,
    RootUserNotExistError,
    RootRoleNotExistError,
    UserAlreadyExistError,
    UserEmptyError,
    UserNotFoundError,
    RoleAlreadyExistError,
    RoleNotFoundError,
    RoleEmptyError,
    AuthFailedError,
    PermissionDeniedError,
    RoleNotGrantedError,
    PermissionNotGrantedError,
    AuthNotEnabledError,
    InvalidAuthTokenError,
    InvalidAuthMgmtError,
    AuthOldRevisionError,
    NoLeaderError,
    NotLeaderError,
    LeaderChangedError,
    NotCapableError,
    StoppedError,
    TimeoutError,
    TimeoutDueToLeaderFailError,
    TimeoutDueToConnectionLostError,
    TimeoutWaitAppliedIndexError,
    UnhealthyError,
    CorruptError,
    NotSupportedForLearnerError,
    BadLeaderTransfereeError,
  ].map((cls): [string, ServerErrorClass] => [cls.text, cls]),
);
const byText = SERVER_ERRORS_BY_TEXT;

// grpc-js's text when a call failed before it was sent (no connection), the equivalent of clientv3's
// "there is no connection available".
const NOT_SENT = /^No connection established|^Name resolution failed|^failed to connect|^Waiting for LB pick/i;

// Node's TLS errors for a server certificate that fails verification, and the alerts a server sends
// when it refuses the client's certificate (OpenSSL's alert texts: 42 bad certificate, 43
// unsupported, 45 expired, 46 unknown, 48 unknown ca, 116 certificate required).
const SERVER_CERT = /unable to verify the first certificate|self[- ]signed certificate|unable to get (local )?issuer certificate|certificate has expired|certificate is not yet valid|Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID|certificate signature failure|unsuitable certificate purpose|CERT_UNTRUSTED|certificate not trusted/i;
const CLIENT_CERT = /alert (bad certificate|unsupported certificate|certificate expired|certificate unknown|unknown ca|certificate required)/i;
const TLS_OTHER = /SSL routines|wrong version number|TLS|handshake/i;

/** The TLS error in a grpc-js "No connection established" text, if that is what it is. */
function tlsError(details: string, cause: unknown): TlsError | undefined {
  const m = /Last error: (?:Error: )?([\s\S]*?)(?:\s*\(\d{4}-\d\d-\d\dT[^)]*\))?\.?\s*(?:Resolution note:|$)/.exec(details);
  const last = (m?.[1] ?? details).trim();
  const alert = /(?:sslv3|tlsv1[0-3]?) alert [a-z ]+/i.exec(last)?.[0];
  if (CLIENT_CERT.test(last)) return new ClientCertificateRejectedError(alert ?? last, cause);
  if (SERVER_CERT.test(last)) return new UntrustedServerCertificateError(last, cause);
  if (NOT_SENT.test(details) && TLS_OTHER.test(last)) return new TlsError(`TLS handshake failed: ${alert ?? last}`, alert ?? last, cause);
  return undefined;
}

/**
 * Turns a failed gRPC call into the SDK's typed error: etcd's text first, the status code second.
 * @param err the `ServiceError` grpc-js reported (anything else is wrapped as-is).
 * @returns an instance of one of this module's classes, with `cause` set to `err`.
 * @example call.on('error', (e) => reject(fromGrpcError(e)));
 */
export function fromGrpcError(err: unknown): EtcdError {
  if (err instanceof EtcdError) return err;
  const e = err as Partial<grpc.ServiceError> | undefined;
  if (e === undefined || e === null || typeof e.code !== 'number') {
    return new EtcdError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  const details = typeof e.details === 'string' ? e.details : (e.message ?? '');
  const cls = byText.get(details) ?? byText.get(details.replace(/^rpc error: code = \w+ desc = /, ''));
  if (cls !== undefined) return new cls(details, err);
  // grpc-go's own size check (etcd: --max-request-bytes + 512 KiB): refused before etcd saw it.
  if (e.code === C.RESOURCE_EXHAUSTED && /^grpc: (received|trying to send) message larger than max/.test(details)) return new RequestTooLargeError(details, err);
  switch (e.code) {
    case C.UNAVAILABLE:
      return tlsError(details, err) ?? new UnavailableError(details, NOT_SENT.test(details), err);
    case C.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(details, err);
    case C.CANCELLED:
      return new AbortedError(err);
    case C.UNIMPLEMENTED:
      return new UnimplementedError(details);
    default:
      return new ServerError(details, { code: e.code, cause: err });
  }
}
