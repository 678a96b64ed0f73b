/**
 * Asks a running member for the cluster's member list (`GET /members` on its peer URL): how a member
 * started with --initial-cluster-state existing learns its own ID and the cluster's, as etcd's
 * joining member asks its peers.
 */
import * as http2 from 'node:http2';
import { formatId, HEADER_CLUSTER_ID, PATH_MEMBERS, PATH_PROMOTE_PREFIX, parseId } from './wire';

export interface RemoteMember {
  readonly id: string;
  readonly name: string;
  readonly peerUrls: string[];
  readonly clientUrls: string[];
  readonly isLearner: boolean;
}

export interface RemoteMembers {
  readonly clusterId: bigint;
  readonly members: RemoteMember[];
}

/** What a member answered a peer request: status, the cluster ID header, the body (≤ 4 MiB). */
interface PeerAnswer {
  readonly status: number;
  readonly clusterId: bigint | undefined;
  readonly body: Buffer;
}

const PEER_ANSWER_BYTES_MAX = 4 * 1024 * 1024;

/** One request to a member's peer URL on a connection of its own, bounded by `timeoutMs`. */
function peerRequest(url: string, headers: http2.OutgoingHttpHeaders, timeoutMs: number): Promise<PeerAnswer> {
  return new Promise((resolve, reject) => {
    let session: http2.ClientHttp2Session | undefined;
    let settled = false;
    const done = (err: Error | undefined, value?: PeerAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session?.destroy();
      if (err !== undefined) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${url} within ${timeoutMs} ms`)), timeoutMs);
    try {
      session = http2.connect(url);
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    session.on('error', (err) => done(err));
    const req = session.request(headers);
    req.end();
    req.on('error', (err) => done(err));
    let status = 0;
    let clusterId: bigint | undefined;
    req.on('response', (h) => {
      status = Number(h[':status']);
      clusterId = parseId(h[HEADER_CLUSTER_ID]);
    });
    const parts: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > PEER_ANSWER_BYTES_MAX) done(new Error(`answer from ${url} is over 4 MiB`));
      else parts.push(chunk);
    });
    req.on('end', () => done(undefined, { status, clusterId, body: Buffer.concat(parts) }));
  });
}

/** One GET of `url`'s member list, bounded by `timeoutMs`. */
export async function fetchMembers(url: string, timeoutMs: number): Promise<RemoteMembers> {
  const answer = await peerRequest(url, { ':method': 'GET', ':path': PATH_MEMBERS }, timeoutMs);
  if (answer.status !== 200 || answer.clusterId === undefined) {
    throw new Error(`${url}${PATH_MEMBERS} answered ${answer.status}${answer.clusterId === undefined ? ' without a cluster ID' : ''}`);
  }
  let members: RemoteMember[];
  try {
    members = JSON.parse(answer.body.toString('utf8')) as RemoteMember[];
    if (!Array.isArray(members)) throw new Error('not a list');
  } catch (err) {
    throw new Error(`bad member list from ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { clusterId: answer.clusterId, members };
}

/** What the leader answered a forwarded promotion: the member list, or the etcd error kind. */
export type PromoteAnswer = { ok: true; members: RemoteMember[] } | { ok: false; error: string };

/**
 * Forwards MemberPromote of `id` to the leader at `url` (etcd's followers do the same), bounded by
 * `timeoutMs`.
 */
export async function forwardPromote(url: string, clusterId: bigint, id: bigint, timeoutMs: number): Promise<PromoteAnswer> {
  const answer = await peerRequest(url, { ':method': 'POST', ':path': PATH_PROMOTE_PREFIX + formatId(id), [HEADER_CLUSTER_ID]: formatId(clusterId) }, timeoutMs);
  let body: unknown;
  try {
    body = JSON.parse(answer.body.toString('utf8'));
  } catch (err) {
    throw new Error(`bad answer from the leader (${answer.status}): ${err instanceof Error ? err.message : String(err)}`);
  }
  if (answer.status === 200) return { ok: true, members: body as RemoteMember[] };
  if (answer.status === 409) return { ok: false, error: String((body as { error?: unknown }).error) };
  throw new Error(`the leader answered ${answer.status}`);
}
