// Member and cluster IDs are derived as etcd derives them: the same flags name the same member.
import { computeClusterId, computeMemberId, idHex } from './ids';

describe('member and cluster IDs', () => {
  it('match the IDs etcd 3.4.23 gave a member started with the same peer URL and token', () => {
    // etcd --name n1 --initial-cluster n1=http://127.0.0.1:24102 --initial-cluster-token tok
    // printed member_id 7483329911274472500 and cluster_id 2656745324099041709.
    const member = computeMemberId(['http://127.0.0.1:24102'], 'tok');
    expect(member).toBe(7483329911274472500n);
    expect(computeClusterId([member])).toBe(2656745324099041709n);
  });

  it('do not depend on the order peer URLs are given in', () => {
    const a = computeMemberId(['http://10.0.0.1:2380', 'http://10.0.0.2:2380'], 't');
    const b = computeMemberId(['http://10.0.0.2:2380', 'http://10.0.0.1:2380'], 't');
    expect(a).toBe(b);
    expect(computeMemberId(['http://10.0.0.1:2380'], 'other')).not.toBe(computeMemberId(['http://10.0.0.1:2380'], 't'));
  });

  it('print as lowercase hex without leading zeros', () => {
    expect(idHex(0x0abcn)).toBe('abc');
  });
});
