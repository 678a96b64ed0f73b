/**
 * Which servers each part of the SDK suite runs against, and a per-file member + client fixture.
 *
 * Cairn serves KV, Maintenance, Cluster MemberList, Watch and Lease today (mutex, election and STM
 * are client-side recipes on those); auth is not built yet. Add 'cairn' to a list below when it
 * serves that part: that is the whole change needed to run the part's tests against Cairn.
 */
import { Member, MemberKind, startMember } from '../../test/harness/member';
import { Client, ClientOptions } from '../index';
import { TestCluster, startCluster } from './cluster';

export const TARGETS = {
  kv: ['etcd', 'cairn'],
  maintenance: ['etcd', 'cairn'],
  watch: ['etcd', 'cairn'],
  lease: ['etcd', 'cairn'],
  concurrency: ['etcd', 'cairn'],
  auth: ['etcd'],
} as const satisfies Record<string, readonly MemberKind[]>;

/** A member started once per `describe` block, and clients on it closed after the block. */
export interface Fixture {
  member(): Member;
  /** A new client on the member (closed by the fixture). */
  client(options?: Partial<ClientOptions>): Client;
  /** How many members the fixture runs (1, or the cluster size of `CAIRN_SDK_CLUSTER`). */
  readonly size: number;
}

/**
 * With `CAIRN_SDK_CLUSTER=3` in the environment, {@link useMember} starts a 3-member cluster instead
 * of one member: `member()` is its first member and clients get every member's endpoint, so the
 * whole single-member suite runs against clusters (`CAIRN_SDK_CLUSTER=3 npx jest client/`).
 */
const clusterSize = Number(process.env.CAIRN_SDK_CLUSTER ?? '1');
let clusterSeq = 0;

/** Starts a member of `kind` in beforeAll and cleans it (and every client made) up in afterAll. */
export function useMember(kind: MemberKind, flags: string[] = []): Fixture {
  let member: Member | undefined;
  let cluster: TestCluster | undefined;
  const clients: Client[] = [];
  beforeAll(async () => {
    if (clusterSize > 1) {
      cluster = await startCluster(kind, `fx${process.pid}-${++clusterSeq}`, clusterSize, flags);
      member = cluster.members[0];
    } else {
      member = await startMember({ kind, flags });
    }
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    if (cluster !== undefined) await cluster.cleanup();
    else await member?.cleanup();
  });
  return {
    size: clusterSize > 1 ? clusterSize : 1,
    member: () => {
      if (member === undefined) throw new Error('member not started');
      return member;
    },
    client: (options = {}) => {
      if (member === undefined) throw new Error('member not started');
      const endpoints = cluster === undefined ? [member.endpoint] : cluster.endpoints();
      const c = new Client({ endpoints, callTimeoutMs: 10_000, ...options });
      clients.push(c);
      return c;
    },
  };
}

/** A fresh key prefix per test, so tests in one file do not see each other's keys. */
let seq = 0;
export function freshPrefix(name: string): string {
  return `t${process.pid}-${++seq}-${name}/`;
}

/** Waits until `cond()` holds, polling every `intervalMs`, failing after `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
