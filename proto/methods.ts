/**
 * The table of every gRPC method Cairn serves: the etcd v3 API's six services plus Lock and
 * Election. The server's dispatcher routes by {@link MethodDescriptor.path} (the HTTP/2 `:path` of a
 * gRPC call) and the JSON gateway by {@link MethodDescriptor.gatewayPaths}. Service and method names
 * are facts of the wire format, shared with etcd and its clients.
 */
import type * as protobuf from 'protobufjs/minimal';
import { etcdserverpb as pb, v3electionpb, v3lockpb } from './index';

/** How many messages each side sends: gRPC's four call shapes. */
export type StreamingKind = 'unary' | 'client-stream' | 'server-stream' | 'bidi';

/** A generated message class seen as a codec. */
export interface MessageCodec<T extends object = object> {
  /** Encodes `message` (a plain object with the message's properties will do). */
  encode(message: T, writer?: protobuf.Writer): protobuf.Writer;
  /** Decodes one message from `reader`; `length` bytes if given, else to the end. */
  decode(reader: protobuf.Reader | Uint8Array, length?: number): T;
  /** Builds a message from a plain (JSON) object, converting strings to bytes and Longs. */
  fromObject(object: { [k: string]: any }): T;
  /** Turns a message into a plain object (options say how to render bytes, Longs, enums, defaults). */
  toObject(message: T, options?: protobuf.IConversionOptions): { [k: string]: any };
}

/** One gRPC method. */
export interface MethodDescriptor {
  /** gRPC path, `/<package>.<Service>/<Method>`, e.g. `/etcdserverpb.KV/Range`. */
  readonly path: string;
  /** Fully qualified service name, e.g. `etcdserverpb.KV`. */
  readonly service: string;
  /** Method name, e.g. `Range`. */
  readonly method: string;
  readonly requestType: MessageCodec;
  readonly responseType: MessageCodec;
  readonly kind: StreamingKind;
  /** The client sends a stream (client-stream, bidi). */
  readonly requestStream: boolean;
  /** The server sends a stream (server-stream, bidi). */
  readonly responseStream: boolean;
  /**
   * HTTP POST paths of etcd's JSON gateway for this method (the first is the main one, the rest
   * are etcd's additional bindings). Paths are under `/v3`; etcd 3.4 also serves them under `/v3beta`.
   */
  readonly gatewayPaths: readonly string[];
}

function describe(
  service: string,
  method: string,
  requestType: MessageCodec<any>,
  responseType: MessageCodec<any>,
  kind: StreamingKind,
  ...gatewayPaths: string[]
): MethodDescriptor {
  return Object.freeze({
    path: `/${service}/${method}`,
    service,
    method,
    requestType,
    responseType,
    kind,
    requestStream: kind === 'client-stream' || kind === 'bidi',
    responseStream: kind === 'server-stream' || kind === 'bidi',
    gatewayPaths: Object.freeze(gatewayPaths),
  });
}

const KV = 'etcdserverpb.KV';
const WATCH = 'etcdserverpb.Watch';
const LEASE = 'etcdserverpb.Lease';
const CLUSTER = 'etcdserverpb.Cluster';
const MAINTENANCE = 'etcdserverpb.Maintenance';
const AUTH = 'etcdserverpb.Auth';
const LOCK = 'v3lockpb.Lock';
const ELECTION = 'v3electionpb.Election';

/** Every method, grouped by service in the order of the .proto files. */
export const METHODS: readonly MethodDescriptor[] = Object.freeze([
  describe(KV, 'Range', pb.RangeRequest, pb.RangeResponse, 'unary', '/v3/kv/range'),
  describe(KV, 'Put', pb.PutRequest, pb.PutResponse, 'unary', '/v3/kv/put'),
  describe(KV, 'DeleteRange', pb.DeleteRangeRequest, pb.DeleteRangeResponse, 'unary', '/v3/kv/deleterange'),
  describe(KV, 'Txn', pb.TxnRequest, pb.TxnResponse, 'unary', '/v3/kv/txn'),
  describe(KV, 'Compact', pb.CompactionRequest, pb.CompactionResponse, 'unary', '/v3/kv/compaction'),

  describe(WATCH, 'Watch', pb.WatchRequest, pb.WatchResponse, 'bidi', '/v3/watch'),

  describe(LEASE, 'LeaseGrant', pb.LeaseGrantRequest, pb.LeaseGrantResponse, 'unary', '/v3/lease/grant'),
  describe(LEASE, 'LeaseRevoke', pb.LeaseRevokeRequest, pb.LeaseRevokeResponse, 'unary', '/v3/lease/revoke', '/v3/kv/lease/revoke'),
  describe(LEASE, 'LeaseKeepAlive', pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse, 'bidi', '/v3/lease/keepalive'),
  describe(LEASE, 'LeaseTimeToLive', pb.LeaseTimeToLiveRequest, pb.LeaseTimeToLiveResponse, 'unary', '/v3/lease/timetolive', '/v3/kv/lease/timetolive'),
  describe(LEASE, 'LeaseLeases', pb.LeaseLeasesRequest, pb.LeaseLeasesResponse, 'unary', '/v3/lease/leases', '/v3/kv/lease/leases'),

  describe(CLUSTER, 'MemberAdd', pb.MemberAddRequest, pb.MemberAddResponse, 'unary', '/v3/cluster/member/add'),
  describe(CLUSTER, 'MemberRemove', pb.MemberRemoveRequest, pb.MemberRemoveResponse, 'unary', '/v3/cluster/member/remove'),
  describe(CLUSTER, 'MemberUpdate', pb.MemberUpdateRequest, pb.MemberUpdateResponse, 'unary', '/v3/cluster/member/update'),
  describe(CLUSTER, 'MemberList', pb.MemberListRequest, pb.MemberListResponse, 'unary', '/v3/cluster/member/list'),
  describe(CLUSTER, 'MemberPromote', pb.MemberPromoteRequest, pb.MemberPromoteResponse, 'unary', '/v3/cluster/member/promote'),

  describe(MAINTENANCE, 'Alarm', pb.AlarmRequest, pb.AlarmResponse, 'unary', '/v3/maintenance/alarm'),
  describe(MAINTENANCE, 'Status', pb.StatusRequest, pb.StatusResponse, 'unary', '/v3/maintenance/status'),
  describe(MAINTENANCE, 'Defragment', pb.DefragmentRequest, pb.DefragmentResponse, 'unary', '/v3/maintenance/defragment'),
  describe(MAINTENANCE, 'Hash', pb.HashRequest, pb.HashResponse, 'unary', '/v3/maintenance/hash'),
  describe(MAINTENANCE, 'HashKV', pb.HashKVRequest, pb.HashKVResponse, 'unary', '/v3/maintenance/hashkv'),
  describe(MAINTENANCE, 'Snapshot', pb.SnapshotRequest, pb.SnapshotResponse, 'server-stream', '/v3/maintenance/snapshot'),
  describe(MAINTENANCE, 'MoveLeader', pb.MoveLeaderRequest, pb.MoveLeaderResponse, 'unary', '/v3/maintenance/transfer-leadership'),
  describe(MAINTENANCE, 'Downgrade', pb.DowngradeRequest, pb.DowngradeResponse, 'unary', '/v3/maintenance/downgrade'),

  describe(AUTH, 'AuthEnable', pb.AuthEnableRequest, pb.AuthEnableResponse, 'unary', '/v3/auth/enable'),
  describe(AUTH, 'AuthDisable', pb.AuthDisableRequest, pb.AuthDisableResponse, 'unary', '/v3/auth/disable'),
  describe(AUTH, 'AuthStatus', pb.AuthStatusRequest, pb.AuthStatusResponse, 'unary', '/v3/auth/status'),
  describe(AUTH, 'Authenticate', pb.AuthenticateRequest, pb.AuthenticateResponse, 'unary', '/v3/auth/authenticate'),
  describe(AUTH, 'UserAdd', pb.AuthUserAddRequest, pb.AuthUserAddResponse, 'unary', '/v3/auth/user/add'),
  describe(AUTH, 'UserGet', pb.AuthUserGetRequest, pb.AuthUserGetResponse, 'unary', '/v3/auth/user/get'),
  describe(AUTH, 'UserList', pb.AuthUserListRequest, pb.AuthUserListResponse, 'unary', '/v3/auth/user/list'),
  describe(AUTH, 'UserDelete', pb.AuthUserDeleteRequest, pb.AuthUserDeleteResponse, 'unary', '/v3/auth/user/delete'),
  describe(AUTH, 'UserChangePassword', pb.AuthUserChangePasswordRequest, pb.AuthUserChangePasswordResponse, 'unary', '/v3/auth/user/changepw'),
  describe(AUTH, 'UserGrantRole', pb.AuthUserGrantRoleRequest, pb.AuthUserGrantRoleResponse, 'unary', '/v3/auth/user/grant'),
  describe(AUTH, 'UserRevokeRole', pb.AuthUserRevokeRoleRequest, pb.AuthUserRevokeRoleResponse, 'unary', '/v3/auth/user/revoke'),
  describe(AUTH, 'RoleAdd', pb.AuthRoleAddRequest, pb.AuthRoleAddResponse, 'unary', '/v3/auth/role/add'),
  describe(AUTH, 'RoleGet', pb.AuthRoleGetRequest, pb.AuthRoleGetResponse, 'unary', '/v3/auth/role/get'),
  describe(AUTH, 'RoleList', pb.AuthRoleListRequest, pb.AuthRoleListResponse, 'unary', '/v3/auth/role/list'),
  describe(AUTH, 'RoleDelete', pb.AuthRoleDeleteRequest, pb.AuthRoleDeleteResponse, 'unary', '/v3/auth/role/delete'),
  describe(AUTH, 'RoleGrantPermission', pb.AuthRoleGrantPermissionRequest, pb.AuthRoleGrantPermissionResponse, 'unary', '/v3/auth/role/grant'),
  describe(AUTH, 'RoleRevokePermission', pb.AuthRoleRevokePermissionRequest, pb.AuthRoleRevokePermissionResponse, 'unary', '/v3/auth/role/revoke'),

  describe(LOCK, 'Lock', v3lockpb.LockRequest, v3lockpb.LockResponse, 'unary', '/v3/lock/lock'),
  describe(LOCK, 'Unlock', v3lockpb.UnlockRequest, v3lockpb.UnlockResponse, 'unary', '/v3/lock/unlock'),

  describe(ELECTION, 'Campaign', v3electionpb.CampaignRequest, v3electionpb.CampaignResponse, 'unary', '/v3/election/campaign'),
  describe(ELECTION, 'Proclaim', v3electionpb.ProclaimRequest, v3electionpb.ProclaimResponse, 'unary', '/v3/election/proclaim'),
  describe(ELECTION, 'Leader', v3electionpb.LeaderRequest, v3electionpb.LeaderResponse, 'unary', '/v3/election/leader'),
  describe(ELECTION, 'Observe', v3electionpb.LeaderRequest, v3electionpb.LeaderResponse, 'server-stream', '/v3/election/observe'),
  describe(ELECTION, 'Resign', v3electionpb.ResignRequest, v3electionpb.ResignResponse, 'unary', '/v3/election/resign'),
]);

const byPath: ReadonlyMap<string, MethodDescriptor> = new Map(METHODS.map((m) => [m.path, m]));
const byGatewayPath: ReadonlyMap<string, MethodDescriptor> = new Map(
  METHODS.flatMap((m) => m.gatewayPaths.map((p): [string, MethodDescriptor] => [p, m])),
);

/**
 * Finds a method by its gRPC path.
 * @param path the HTTP/2 `:path` of a gRPC call, e.g. `/etcdserverpb.KV/Range`.
 * @returns the method, or `undefined` for an unknown path (answer gRPC `UNIMPLEMENTED`).
 */
export function methodByPath(path: string): MethodDescriptor | undefined {
  return byPath.get(path);
}

/**
 * Finds a method by a JSON gateway path.
 * @param path an HTTP path such as `/v3/kv/range`; `/v3beta/...` (etcd 3.4's older prefix) is
 *   accepted as the same.
 * @returns the method, or `undefined` if no gateway route has that path.
 */
export function methodByGatewayPath(path: string): MethodDescriptor | undefined {
  const normalized = path.startsWith('/v3beta/') ? `/v3/${path.slice('/v3beta/'.length)}` : path;
  return byGatewayPath.get(normalized);
}
