/**
 * A cluster of real member processes on loopback, bootstrapped together with etcd's flags
 * (--initial-cluster, --initial-advertise-peer-urls, --listen-peer-urls, --initial-cluster-token):
 * the same for Cairn and for etcd.
 */
import { freePorts } from './ports';
import { startMember, type Member, type MemberKind } from './member';

export interface Cluster {
  readonly members: Member[];
  /** The peer URL of member `i` (as --initial-cluster names it). */
  peer(i: number): string;
  /** The --initial-cluster value the members were started with. */
  readonly initialCluster: string;
}

/** Starts `names.length` members (default 3) with `flags` after the cluster flags; resolves once all are ready. */
export async function startCluster(opts: { kind: MemberKind; token: string; names?: readonly string[]; flags?: readonly string[] }): Promise<Cluster> {
  const names = opts.names ?? ['m1', 'm2', 'm3'];
  const ports = await freePorts(names.length);
  const peer = (i: number): string => `http://127.0.0.1:${ports[i]}`;
  const initialCluster = names.map((n, i) => `${n}=${peer(i)}`).join(',');
  const members = await Promise.all(
    names.map((name, i) =>
      startMember({
        kind: opts.kind,
        name,
        flags: [`--listen-peer-urls=${peer(i)}`, `--initial-advertise-peer-urls=${peer(i)}`, `--initial-cluster=${initialCluster}`, `--initial-cluster-token=${opts.token}`, ...(opts.flags ?? [])],
        readyTimeoutMs: 30_000,
      }),
    ),
  );
  return { members, peer, initialCluster };
}
