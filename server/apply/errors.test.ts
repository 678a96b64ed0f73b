// The error table (server/errors.ts): every domain error maps to the gRPC code and message text
// etcd 3.4 sends (api/v3rpc/rpctypes/error.go + util.go togRPCError), mvcc's typed errors map by
// class, unknown errors become UNKNOWN; a few rows are checked against a real etcd 3.4 via etcdctl.
import { CompactedError, FutureRevisionError } from '../mvcc/errors';
import { ETCD_ERRORS, EtcdError, type EtcdErrorKind, GrpcCode, isEtcdError, toGrpcStatus } from '../errors';
import { etcdInstalled, parseEtcdctlError, startEtcd, type EtcdProcess } from './etcd-probe';

const C = GrpcCode;

// An independent transcription of etcd's table: [kind, code, message].
const EXPECTED: ReadonlyArray<readonly [EtcdErrorKind, GrpcCode, string]> = [
  ['EmptyKey', C.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  ['KeyNotFound', C.INVALID_ARGUMENT, 'etcdserver: key not found'],
  ['ValueProvided', C.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  ['LeaseProvided', C.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  ['TooManyOps', C.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  ['DuplicateKey', C.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  ['InvalidSortOption', C.INVALID_ARGUMENT, 'etcdserver: invalid sort option'],
  ['Compacted', C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  ['FutureRev', C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  ['NoSpace', C.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],
  ['RequestTooLarge', C.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  ['TooManyRequests', C.UNKNOWN, 'etcdserver: too many requests'],
  ['LeaseNotFound', C.NOT_FOUND, 'etcdserver: requested lease not found'],
  ['LeaseExist', C.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
  ['LeaseTTLTooLarge', C.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],
  ['WatchCanceled', C.CANCELLED, 'etcdserver: watch canceled'],
  ['MemberExist', C.FAILED_PRECONDITION, 'etcdserver: member ID already exist'],
  ['PeerURLExist', C.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'],
  ['MemberNotEnoughStarted', C.UNKNOWN, 'etcdserver: re-configuration failed due to not enough started members'],
  ['MemberBadURLs', C.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
  ['MemberNotFound', C.NOT_FOUND, 'etcdserver: member not found'],
  ['MemberNotLearner', C.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'],
  ['LearnerNotReady', C.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader'],
  ['TooManyLearners', C.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'],
  ['RootUserNotExist', C.FAILED_PRECONDITION, 'etcdserver: root user does not exist'],
  ['RootRoleNotExist', C.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'],
  ['UserAlreadyExist', C.FAILED_PRECONDITION, 'etcdserver: user name already exists'],
  ['UserEmpty', C.INVALID_ARGUMENT, 'etcdserver: user name is empty'],
  ['UserNotFound', C.FAILED_PRECONDITION, 'etcdserver: user name not found'],
  ['RoleAlreadyExist', C.FAILED_PRECONDITION, 'etcdserver: role name already exists'],
  ['RoleNotFound', C.FAILED_PRECONDITION, 'etcdserver: role name not found'],
  ['RoleEmpty', C.INVALID_ARGUMENT, 'etcdserver: role name is empty'],
  ['AuthFailed', C.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'],
  ['PermissionDenied', C.PERMISSION_DENIED, 'etcdserver: permission denied'],
  ['RoleNotGranted', C.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'],
  ['PermissionNotGranted', C.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'],
  ['AuthNotEnabled', C.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'],
  ['InvalidAuthToken', C.UNAUTHENTICATED, 'etcdserver: invalid auth token'],
  ['InvalidAuthMgmt', C.INVALID_ARGUMENT, 'etcdserver: invalid auth management'],
  ['AuthOldRevision', C.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'],
  ['NoLeader', C.UNAVAILABLE, 'etcdserver: no leader'],
  ['NotLeader', C.FAILED_PRECONDITION, 'etcdserver: not leader'],
  ['LeaderChanged', C.UNAVAILABLE, 'etcdserver: leader changed'],
  ['NotCapable', C.UNAVAILABLE, 'etcdserver: not capable'],
  ['Stopped', C.UNAVAILABLE, 'etcdserver: server stopped'],
  ['Timeout', C.UNAVAILABLE, 'etcdserver: request timed out'],
  ['TimeoutDueToLeaderFail', C.UNAVAILABLE, 'etcdserver: request timed out, possibly due to previous leader failure'],
  ['TimeoutDueToConnectionLost', C.UNAVAILABLE, 'etcdserver: request timed out, possibly due to connection lost'],
  ['TimeoutWaitAppliedIndex', C.UNAVAILABLE, 'etcdserver: request timed out, waiting for the applied index took too long'],
  ['Unhealthy', C.UNAVAILABLE, 'etcdserver: unhealthy cluster'],
  ['Corrupt', C.DATA_LOSS, 'etcdserver: corrupt cluster'],
  ['NotSupportedForLearner', C.UNAVAILABLE, 'etcdserver: rpc not supported for learner'],
  ['BadLeaderTransferee', C.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'],
  ['TimeoutLeaderTransfer', C.UNAVAILABLE, 'etcdserver: request timed out, leader transfer took too long'],
];

describe('error table', () => {
  test.each(EXPECTED)('%s maps to code %i with etcd text %j', (kind, code, message) => {
    const err = new EtcdError(kind);
    expect(err.message).toBe(message);
    expect(err.grpcCode).toBe(code);
    expect(toGrpcStatus(err)).toEqual({ code, message, kind });
  });

  test('the table has exactly the rows etcd has (no row untested, none missing)', () => {
    expect(Object.keys(ETCD_ERRORS).sort()).toEqual(EXPECTED.map(([kind]) => kind).sort());
  });

  test('messages are unique, so a client can recognise each error by its text', () => {
    const messages = Object.values(ETCD_ERRORS).map((r) => r.message);
    expect(new Set(messages).size).toBe(messages.length);
  });

  test("mvcc's CompactedError and FutureRevisionError map to etcd's mvcc errors", () => {
    expect(toGrpcStatus(new CompactedError(3, 5))).toEqual({
      code: C.OUT_OF_RANGE,
      message: 'etcdserver: mvcc: required revision has been compacted',
      kind: 'Compacted',
    });
    expect(toGrpcStatus(new FutureRevisionError(9, 5))).toEqual({
      code: C.OUT_OF_RANGE,
      message: 'etcdserver: mvcc: required revision is a future revision',
      kind: 'FutureRev',
    });
  });

  test('an unknown error becomes UNKNOWN with its message and no kind (the caller logs it)', () => {
    expect(toGrpcStatus(new TypeError('boom'))).toEqual({ code: C.UNKNOWN, message: 'boom', kind: undefined });
    expect(toGrpcStatus('a string')).toEqual({ code: C.UNKNOWN, message: 'a string', kind: undefined });
    expect(toGrpcStatus(undefined)).toEqual({ code: C.UNKNOWN, message: 'undefined', kind: undefined });
  });

  test('EtcdError keeps its cause and is recognised by kind', () => {
    const cause = new Error('disk');
    const err = new EtcdError('Corrupt', { cause });
    expect(err.cause).toBe(cause);
    expect(err).toBeInstanceOf(Error);
    expect(isEtcdError(err)).toBe(true);
    expect(isEtcdError(err, 'Corrupt')).toBe(true);
    expect(isEtcdError(err, 'NoLeader')).toBe(false);
    expect(isEtcdError(new Error('x'))).toBe(false);
  });
});

// grpc-go's names of the codes, as etcdctl prints them.
const GO_CODE_NAMES: Record<number, string> = {
  [C.INVALID_ARGUMENT]: 'InvalidArgument',
  [C.OUT_OF_RANGE]: 'OutOfRange',
  [C.NOT_FOUND]: 'NotFound',
};

const describeWithEtcd = etcdInstalled() ? describe : describe.skip;

describeWithEtcd('error table against a real etcd 3.4 (etcdctl)', () => {
  let etcd: EtcdProcess;
  beforeAll(async () => {
    etcd = await startEtcd();
    expect(etcd.etcdctl(['put', 'k', 'v']).status).toBe(0); // revision 2
    expect(etcd.etcdctl(['put', 'k', 'v2']).status).toBe(0); // revision 3
    expect(etcd.etcdctl(['compact', '3']).status).toBe(0);
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  const cases: ReadonlyArray<readonly [string, readonly string[], EtcdErrorKind]> = [
    ['put of an empty key', ['put', '', 'v'], 'EmptyKey'],
    ['put --ignore-value of a missing key', ['put', '--ignore-value', 'missing'], 'KeyNotFound'],
    ['put --ignore-lease with a lease', ['put', '--ignore-lease', '--lease=5', 'k', 'v'], 'LeaseProvided'],
    ['put with a lease that does not exist', ['put', '--lease=123', 'k', 'v'], 'LeaseNotFound'],
    ['get at a compacted revision', ['get', 'k', '--rev=2'], 'Compacted'],
    ['get at a future revision', ['get', 'k', '--rev=100'], 'FutureRev'],
    ['compact to a future revision', ['compact', '100'], 'FutureRev'],
    ['compact to the compacted revision again', ['compact', '3'], 'Compacted'],
  ];
  test.each(cases)('%s: same code and text as etcd', (_name, args, kind) => {
    const r = etcd.etcdctl(args);
    expect(r.status).not.toBe(0);
    const observed = parseEtcdctlError(r.stderr);
    const ours = toGrpcStatus(new EtcdError(kind));
    expect(observed).toEqual({ code: GO_CODE_NAMES[ours.code], message: ours.message });
  });
});
