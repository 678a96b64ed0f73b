/**
 * Which servers each part of the SDK suite runs against, and a per-file member + client fixture.
 *
 * Cairn serves KV, Maintenance, Cluster MemberList, Watch and Lease today (mutex, election and STM
 * are client-side recipes on those); auth is not built yet. Add 'cairn' to a list below when it
 * serves that part: that is the whole change needed to run the part's tests against Cairn.
 */
import { Member, MemberKind, startMember } from '../../test/harness/member';
import { Client, ClientOptions } from '../index';

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
}

/** Starts a member of `kind` in beforeAll and cleans it (and every client made) up in afterAll. */
export function useMember(kind: MemberKind, flags: string[] = []): Fixture {
  let member: Member | undefined;
  const clients: Client[] = [];
  beforeAll(async () => {
    member = await startMember({ kind, flags });
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await member?.cleanup();
  });
  return {
    member: () => {
      if (member === undefined) throw new Error('member not started');
      return member;
    },
    client: (options = {}) => {
      if (member === undefined) throw new Error('member not started');
      const c = new Client({ endpoints: [member.endpoint], callTimeoutMs: 10_000, ...options });
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
