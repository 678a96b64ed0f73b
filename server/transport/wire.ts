/**
 * The peer protocol's HTTP/2 surface: request paths, the headers every stream carries, and member
 * ID formatting (16 hex digits, as etcd prints IDs).
 *
 * - `POST /raft/stream/msg`, `POST /raft/stream/app`: a long-lived request body of framed messages
 *   (framing.ts + codec.ts) from `cairn-from` to `cairn-to`; the receiver answers 200 at once and
 *   keeps reading. `app` carries MsgApp, `msg` every other type but MsgSnap.
 * - `POST /raft/snapshot`: one MsgSnap in chunks (snapshot-stream.ts); the receiver answers 200
 *   after it has verified and delivered it, 4xx with `cairn-error` otherwise.
 * - `GET /members`: the cluster's member list as JSON, with `cairn-cluster-id` (a member joining
 *   with --initial-cluster-state existing learns its ID and the cluster's from it).
 * - `POST /members/promote/<id>` (with the cluster ID header): promote a learner on the leader;
 *   200 with the member list as JSON, or 409 with `{"error": <etcd error kind>}`.
 * Refusals: 412 cluster ID or recipient mismatch, 410 a sender removed from the cluster, 403 unknown sender, 400 bad protocol or body,
 * 413 over a size limit, 404 unknown path.
 */
export const PROTOCOL_VERSION = '1';

export const PATH_STREAM_MSG = '/raft/stream/msg';
export const PATH_STREAM_APP = '/raft/stream/app';
export const PATH_SNAPSHOT = '/raft/snapshot';
export const PATH_MEMBERS = '/members';
/** `POST /members/promote/<16 hex digits>`: a follower forwards MemberPromote to the leader, as etcd's do. */
export const PATH_PROMOTE_PREFIX = '/members/promote/';

export const HEADER_PROTOCOL = 'cairn-peer-protocol';
export const HEADER_CLUSTER_ID = 'cairn-cluster-id';
export const HEADER_FROM = 'cairn-from';
export const HEADER_TO = 'cairn-to';
export const HEADER_SNAPSHOT_BYTES = 'cairn-snapshot-bytes';
/** On a refusal: why, in words. */
export const HEADER_ERROR = 'cairn-error';

/** The two long-lived message lanes from one member to another. */
export type LaneKind = 'msg' | 'app';

export function lanePath(kind: LaneKind): string {
  return kind === 'app' ? PATH_STREAM_APP : PATH_STREAM_MSG;
}

/** An ID as 16 lower-case hex digits. */
export function formatId(id: bigint): string {
  return id.toString(16).padStart(16, '0');
}

/** The ID in a header, or undefined when the header is missing or not 1–16 hex digits. */
export function parseId(value: string | string[] | undefined): bigint | undefined {
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{1,16}$/.test(value)) return undefined;
  return BigInt(`0x${value}`);
}

/** The headers that open every stream from `from` to `to` in cluster `clusterId`. */
export function streamHeaders(opts: { clusterId: bigint; from: bigint; to: bigint }): Record<string, string> {
  return {
    [HEADER_PROTOCOL]: PROTOCOL_VERSION,
    [HEADER_CLUSTER_ID]: formatId(opts.clusterId),
    [HEADER_FROM]: formatId(opts.from),
    [HEADER_TO]: formatId(opts.to),
  };
}
