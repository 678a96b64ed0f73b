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

/** One GET of `url`'s member list, bounded by `timeoutMs`. */
export function fetchMembers(url: string, timeoutMs: number): Promise<RemoteMembers> {
  return new Promise((resolve, reject) => {
    let session: http2.ClientHttp2Session | undefined;
    const timer = setTimeout(() => done(new Error(`no answer from ${url} within ${timeoutMs} ms`)), timeoutMs);
    let settled = false;
    const done = (err: Error | undefined, value?: RemoteMembers): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session?.destroy();
      if (err !== undefined) reject(err);
      else resolve(value!);
    };
    try {
      session = http2.connect(url);
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    session.on('error', (err) => done(err));
    const req = session.request({ ':method': 'GET', ':path': PATH_MEMBERS });
    req.on('error', (err) => done(err));
    let status = 0;
    let clusterId: bigint | undefined;
    req.on('response', (headers) => {
      status = Number(headers[':status']);
      clusterId = parseId(headers[HEADER_CLUSTER_ID]);
    });
    const parts: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > 4 * 1024 * 1024) done(new Error(`member list from ${url} is over 4 MiB`));
      else parts.push(chunk);
    });
    req.on('end', () => {
      if (status !== 200 || clusterId === undefined) {
        done(new Error(`${url}${PATH_MEMBERS} answered ${status}${clusterId === undefined ? ' without a cluster ID' : ''}`));
        return;
      }
      try {
        const members = JSON.parse(Buffer.concat(parts).toString('utf8')) as RemoteMember[];
        if (!Array.isArray(members)) throw new Error('not a list');
        done(undefined, { clusterId, members });
      } catch (err) {
        done(new Error(`bad member list from ${url}: ${err instanceof Error ? err.message : String(err)}`));
      }
    });
  });
}

/** What the leader answered a forwarded promotion: the member list, or the etcd error kind. */
export type PromoteAnswer = { ok: true; members: RemoteMember[] } | { ok: false; error: string };

/**
 * Forwards MemberPromote of `id` to the leader at `url` (etcd's followers do the same), bounded by
 * `timeoutMs`.
 */
export function forwardPromote(url: string, clusterId: bigint, id: bigint, timeoutMs: number): Promise<PromoteAnswer> {
  return new Promise((resolve, reject) => {
    let session: http2.ClientHttp2Session | undefined;
    let settled = false;
    const done = (err: Error | undefined, value?: PromoteAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session?.destroy();
      if (err !== undefined) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => done(new Error(`no answer from the leader at ${url} within ${timeoutMs} ms`)), timeoutMs);
    try {
      session = http2.connect(url);
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    session.on('error', (err) => done(err));
    const req = session.request({ ':method': 'POST', ':path': PATH_PROMOTE_PREFIX + formatId(id), [HEADER_CLUSTER_ID]: formatId(clusterId) });
    req.end();
    req.on('error', (err) => done(err));
    let status = 0;
    req.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    const parts: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > 4 * 1024 * 1024) done(new Error('promotion answer over 4 MiB'));
      else parts.push(chunk);
    });
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown;
        if (status === 200) done(undefined, { ok: true, members: body as RemoteMember[] });
        else if (status === 409) done(undefined, { ok: false, error: String((body as { error?: unknown }).error) });
        else done(new Error(`the leader answered ${status}`));
      } catch (err) {
        done(new Error(`bad answer from the leader (${status}): ${err instanceof Error ? err.message : String(err)}`));
      }
    });
  });
}
