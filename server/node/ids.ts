/**
 * Member and cluster IDs, derived as etcd derives them so that the same flags name the same
 * member: a member's ID is the first 8 bytes (big-endian) of SHA-1 over its sorted peer URLs joined
 * together, then the cluster token (and, for members added at runtime, the time); a cluster's ID
 * is the first 8 bytes of SHA-1 over its members' IDs in ascending order, each 8 bytes big-endian.
 */
import { createHash } from 'node:crypto';

export function computeMemberId(peerUrls: readonly string[], clusterToken: string, addedAtMs?: number): bigint {
  const h = createHash('sha1');
  h.update([...peerUrls].sort().join(''));
  h.update(clusterToken);
  if (addedAtMs !== undefined) {
    const t = Buffer.alloc(8);
    t.writeBigInt64BE(BigInt(addedAtMs));
    h.update(t);
  }
  return h.digest().readBigUInt64BE(0);
}

export function computeClusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const b = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => b.writeBigUInt64BE(id, 8 * i));
  return createHash('sha1').update(b).digest().readBigUInt64BE(0);
}

/** etcd prints IDs as lowercase hex without leading zeros. */
export function idHex(id: bigint): string {
  return id.toString(16);
}
