/**
 * etcdctl compaction, endpoint status / health / hashkv and member list against real etcd 3.4 and
 * against Cairn. Compaction semantics: etcdserverpb.KV/Compact (rpc.proto CompactionRequest); reads
 * below the compacted revision fail with ErrCompacted, compacting ahead of the store with
 * ErrFutureRev. Status, hash and membership: etcdserverpb.Maintenance and Cluster.
 */
import { errorLine, parseJson, prefixSequence, Transcripts, usePair } from '../harness/compare';
import { etcdctl } from '../harness/etcdctl';
import { Member } from '../harness/member';

const pair = usePair();
const nextPrefix = prefixSequence('mt');

function expectSame(t: Transcripts): void {
  expect(t.cairn).toEqual(t.etcd);
}

const COMPACTED = 'Error: etcdserver: mvcc: required revision has been compacted';
const FUTURE = 'Error: etcdserver: mvcc: required revision is a future revision';

describe('compaction', () => {
  test('reads below the compacted revision fail; at and above it they succeed', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, 'v1'],
      ['put', `${p}k`, 'v2'],
      ['put', `${p}k`, 'v3'],
      ['compaction', '{rev+2}'],
      ['get', `${p}k`, '--rev={rev+1}'],
      ['get', `${p}k`, '--rev={rev+2}'],
      ['get', `${p}k`, '--rev={rev+3}', '-w', 'json'],
      ['get', `${p}k`],
      ['endpoint', 'hashkv', '-w', 'json'],
    ], { hash: true });
    expectSame(t);
    expect(t.etcd[3]!.stdout).toBe('compacted revision R+2\n');
    expect([t.etcd[4]!.code, errorLine(t.etcd[4])]).toEqual([1, COMPACTED]);
    expect(t.etcd[4]!.stderr).toContain('code = OutOfRange');
    expect(t.etcd[5]!.stdout).toBe(`${p}k\nv2\n`);
    expect(parseJson(t.etcd[6]).kvs[0].version).toBe(3);
    expect(t.etcd[7]!.stdout).toBe(`${p}k\nv3\n`);
    expect(parseJson(t.etcd[8])[0].HashKV.compact_revision).toBe('R+2');
  });

  test('compacting an already compacted or a future revision fails', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, 'v1'],
      ['put', `${p}k`, 'v2'],
      ['compaction', '{rev+1}'],
      ['compaction', '{rev+1}'],
      ['compaction', '{rev}'],
      ['compaction', '0'],
      ['compaction', '{rev+3}'],
      ['compaction', '{rev+1000}'],
      ['compaction', 'abc'],
      ['get', `${p}k`],
    ]);
    expectSame(t);
    expect(t.etcd[2]!.stdout).toBe('compacted revision R+1\n');
    for (const i of [3, 4, 5]) expect([t.etcd[i]!.code, errorLine(t.etcd[i])]).toEqual([1, COMPACTED]);
    for (const i of [6, 7]) {
      expect([t.etcd[i]!.code, errorLine(t.etcd[i])]).toEqual([1, FUTURE]);
      expect(t.etcd[i]!.stderr).toContain('code = OutOfRange');
    }
    expect([t.etcd[8]!.code, errorLine(t.etcd[8])]).toEqual([1, 'Error: strconv.ParseInt: parsing "abc": invalid syntax']);
    expect(t.etcd[9]!.stdout).toBe(`${p}k\nv2\n`);
  });

  test('compaction --physical waits for the compaction and then behaves the same', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, 'v1'],
      ['del', `${p}k`],
      ['put', `${p}k`, 'v2'],
      ['compaction', '--physical', '{rev+2}'],
      ['get', `${p}k`, '--rev={rev+1}'],
      ['get', `${p}k`, '--rev={rev+2}', '-w', 'json'],
      ['get', `${p}k`, '-w', 'json'],
      ['compaction', '--physical', '{rev+3}'],
      ['get', `${p}k`, '--rev={rev+3}'],
    ]);
    expectSame(t);
    expect(t.etcd[3]!.stdout).toBe('compacted revision R+2\n');
    expect(errorLine(t.etcd[4])).toBe(COMPACTED);
    expect(parseJson(t.etcd[5]).kvs).toBeUndefined();
    expect(parseJson(t.etcd[6]).kvs[0]).toEqual(expect.objectContaining({ create_revision: 'R+3', version: 1 }));
    expect(t.etcd[7]!.stdout).toBe('compacted revision R+3\n');
    expect(t.etcd[8]!.stdout).toBe(`${p}k\nv2\n`);
  });
});

describe('endpoint', () => {
  test('endpoint status (simple, json, fields; version and raft index normalized)', async () => {
    const t = await pair.compare(
      [
        ['endpoint', 'status'],
        ['endpoint', 'status', '-w', 'json'],
        ['endpoint', 'status', '-w', 'fields'],
        ['endpoint', 'status', '--cluster', '-w', 'json'],
      ],
      { version: true, raftIndex: true },
    );
    expectSame(t);
    expect(t.etcd[0]!.stdout).toBe('<client-url>, <member-id-hex>, <version>, <db-size>, true, false, <raft-term>, <raft-index>, <raft-applied-index>, \n');
    const [status] = parseJson(t.etcd[1]);
    expect(status.Endpoint).toBe('<client-url>');
    expect(Object.keys(status.Status)).toEqual(['header', 'version', 'dbSize', 'leader', 'raftIndex', 'raftTerm', 'raftAppliedIndex', 'dbSizeInUse']);
    expect(t.etcd[2]!.stdout).toContain('"IsLearner" : false\n');
    expect(parseJson(t.etcd[3])[0].Endpoint).toBe('<client-url>');
  });

  test.each([['etcd'], ['cairn']] as const)('endpoint status of %s: a single member leads, and its indexes are sane', async (side) => {
    const member: Member = pair[side];
    const res = await etcdctl(member.endpoint, ['endpoint', 'status', '-w', 'json']);
    expect(res.code).toBe(0);
    const leader = /"leader":(\d+)/.exec(res.stdout)?.[1];
    const memberId = /"member_id":(\d+)/.exec(res.stdout)?.[1];
    expect(leader).toBeDefined();
    expect(leader).toBe(memberId);
    expect(leader).not.toBe('0');
    const raftIndex = Number(/"raftIndex":(\d+)/.exec(res.stdout)?.[1]);
    const applied = Number(/"raftAppliedIndex":(\d+)/.exec(res.stdout)?.[1]);
    expect(raftIndex).toBeGreaterThan(0);
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThanOrEqual(raftIndex);
    expect(/"version":"(\d+\.\d+\.\d+)/.exec(res.stdout)?.[1]).toBeDefined();
    expect(Number(/"dbSize":(\d+)/.exec(res.stdout)?.[1])).toBeGreaterThan(0);
  });

  test('endpoint health (simple on stderr, json, fields)', async () => {
    const t = await pair.compare([
      ['endpoint', 'health'],
      ['endpoint', 'health', '-w', 'json'],
      ['endpoint', 'health', '-w', 'fields'],
      ['endpoint', 'health', '--cluster'],
    ]);
    expectSame(t);
    expect(t.etcd[0]).toEqual(expect.objectContaining({ code: 0, stdout: '', stderr: '<client-url> is healthy: successfully committed proposal: took = <took>\n' }));
    expect(parseJson(t.etcd[1])).toEqual([{ endpoint: '<client-url>', health: true, took: '<took>' }]);
    expect(t.etcd[2]!.stdout).toBe('"Endpoint" : "<client-url>"\n"Health" : true\n"Took" : <took>\n"Error" : \n\n');
    expect(t.etcd[3]!.stderr).toBe('<client-url> is healthy: successfully committed proposal: took = <took>\n');
  });

  test('endpoint hashkv (hash normalized; compact revision compared)', async () => {
    const p = nextPrefix();
    const t = await pair.compare(
      [['put', `${p}k`, 'v'], ['endpoint', 'hashkv'], ['endpoint', 'hashkv', '-w', 'json'], ['endpoint', 'hashkv', '-w', 'fields'], ['endpoint', 'hashkv', '--rev={rev+1}', '-w', 'json']],
      { hash: true },
    );
    expectSame(t);
    expect(t.etcd[1]!.stdout).toBe('<client-url>, <hash>\n');
    const [hashkv] = parseJson(t.etcd[2]);
    expect(hashkv.HashKV.header.revision).toBe('R+1');
    expect(hashkv.HashKV.hash).toBe('<hash>');
    expect(t.etcd[3]!.stdout).toContain('"Hash" : <hash>\n');
  });

  test.each([['etcd'], ['cairn']] as const)('hashkv of %s is stable without writes, changes with a write, and is repeatable at a past revision', async (side) => {
    const member: Member = pair[side];
    const p = nextPrefix();
    const hash = async (rev?: number): Promise<{ hash: string; revision: number }> => {
      const res = await etcdctl(member.endpoint, ['endpoint', 'hashkv', '-w', 'json', ...(rev === undefined ? [] : [`--rev=${rev}`])]);
      expect(res.code).toBe(0);
      return { hash: /"hash":(\d+)/.exec(res.stdout)?.[1] ?? 'none', revision: Number(/"revision":(\d+)/.exec(res.stdout)?.[1]) };
    };
    const before = await hash();
    expect(before.hash).toMatch(/^\d+$/);
    expect((await hash()).hash).toBe(before.hash);
    expect((await etcdctl(member.endpoint, ['put', `${p}k`, 'v'])).code).toBe(0);
    const after = await hash();
    expect(after.revision).toBe(before.revision + 1);
    expect(after.hash).not.toBe(before.hash);
    expect((await hash(before.revision)).hash).toBe(before.hash);
  });

  // Compacts at the current revision: runs last in this block, as later cases read past revisions.
  test('endpoint hashkv right after compacting at the current revision answers; an explicit compacted revision fails', async () => {
    const p = nextPrefix();
    const t = await pair.compare(
      [['put', `${p}k`, 'v'], ['compaction', '{rev+1}'], ['endpoint', 'hashkv', '-w', 'json'], ['endpoint', 'hashkv', '--rev={rev+1}', '-w', 'json']],
      { hash: true },
    );
    expectSame(t);
    expect(t.etcd[1]!.stdout).toBe('compacted revision R+1\n');
    const [hashkv] = parseJson(t.etcd[2]);
    expect(hashkv.HashKV.hash).toBe('<hash>');
    expect(hashkv.HashKV.compact_revision).toBe('R+1');
  });
});

describe('member list', () => {
  test('one started member with its name and URLs (simple, json, fields)', async () => {
    const t = await pair.compare([
      ['member', 'list'],
      ['member', 'list', '-w', 'json'],
      ['member', 'list', '-w', 'fields'],
    ]);
    expectSame(t);
    expect(t.etcd[0]!.stdout).toBe('<member-id-hex>, started, m1, <peer-url>, <client-url>, false\n');
    expect(parseJson(t.etcd[1])).toEqual({
      header: { cluster_id: '<id>', member_id: '<id>', raft_term: '<raft-term>' },
      members: [{ ID: '<id>', name: 'm1', peerURLs: ['<peer-url>'], clientURLs: ['<client-url>'] }],
    });
    expect(t.etcd[2]!.stdout).toContain('"Name" : "m1"\n"PeerURL" : "<peer-url>"\n"ClientURL" : "<client-url>"\n"IsLearner" : false\n');
  });

  test.each([['etcd'], ['cairn']] as const)('member list of %s: the member ID is the one in response headers', async (side) => {
    const member: Member = pair[side];
    const res = await etcdctl(member.endpoint, ['member', 'list', '-w', 'json']);
    expect(res.code).toBe(0);
    const headerId = /"member_id":(\d+)/.exec(res.stdout)?.[1];
    const listedId = /"ID":(\d+)/.exec(res.stdout)?.[1];
    expect(listedId).toBeDefined();
    expect(listedId).toBe(headerId);
    const simple = await etcdctl(member.endpoint, ['member', 'list']);
    expect(simple.stdout.split(',')[0]).toBe(BigInt(listedId!).toString(16));
  });
});
