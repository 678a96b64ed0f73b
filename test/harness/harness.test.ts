/**
 * The test harness itself: reference binaries present, free ports, output normalization, and the
 * member lifecycle (start, restart on the same data dir and ports, kill, cleanup) checked on etcd.
 */
import * as fs from 'node:fs';
import { ETCD_BIN, ETCDCTL_BIN, requireEtcdBinaries } from './binaries';
import { runSequence } from './compare';
import { etcdctl } from './etcdctl';
import { dataDirRoot, startMember } from './member';
import { normalizeOutput } from './normalize';
import { freePorts } from './ports';

describe('reference binaries', () => {
  test('etcd and etcdctl 3.4 are installed (Debian packages etcd-server, etcd-client)', () => {
    expect(() => requireEtcdBinaries()).not.toThrow();
    expect(fs.existsSync(ETCD_BIN)).toBe(true);
    expect(fs.existsSync(ETCDCTL_BIN)).toBe(true);
  });

  test('a missing binary fails with the Debian packages to install', () => {
    expect(() => requireEtcdBinaries(['/nonexistent/etcd'])).toThrow(/missing \/nonexistent\/etcd.*Install the Debian packages etcd-server and etcd-client/);
  });
});

describe('ports', () => {
  test('never hands out the same port twice in a process', async () => {
    const ports = await freePorts(40);
    expect(new Set(ports).size).toBe(40);
    for (const port of ports) expect(port).toBeGreaterThan(0);
  });
});

describe('data directories', () => {
  test('live on real disk, not a RAM disk', () => {
    expect(dataDirRoot()).not.toMatch(/^\/dev\/shm|^\/run/);
  });
});

describe('normalizeOutput', () => {
  const ctx = {
    endpoint: 'http://127.0.0.1:40001',
    peerUrl: 'http://127.0.0.1:40002',
    identity: { memberId: '3319814642761637952', clusterId: '324952591200643719' },
  };

  test('replaces IDs, terms, URLs and sizes; keeps revisions absolute by default', () => {
    const json =
      '{"header":{"cluster_id":324952591200643719,"member_id":3319814642761637952,"revision":8,"raft_term":2},"kvs":[{"key":"YQ==","create_revision":2,"mod_revision":5,"version":4,"value":"Mw=="}],"count":1}';
    expect(normalizeOutput(json, ctx)).toBe(
      '{"header":{"cluster_id":"<id>","member_id":"<id>","revision":8,"raft_term":"<raft-term>"},"kvs":[{"key":"YQ==","create_revision":2,"mod_revision":5,"version":4,"value":"Mw=="}],"count":1}',
    );
    expect(normalizeOutput('2e1259d415f2a040, started, m1, http://127.0.0.1:40002, http://127.0.0.1:40001, false\n', ctx)).toBe(
      '<member-id-hex>, started, m1, <peer-url>, <client-url>, false\n',
    );
    expect(normalizeOutput('http://127.0.0.1:40001, 2e1259d415f2a040, 3.4.23, 20 kB, true, false, 2, 18, 18, \n', ctx)).toBe(
      '<client-url>, <member-id-hex>, 3.4.23, <db-size>, true, false, <raft-term>, 18, 18, \n',
    );
  });

  test('rewrites revisions relative to a base when asked', () => {
    const rel = { ...ctx, revisionBase: 10 };
    expect(normalizeOutput('{"header":{"revision":12},"kvs":[{"create_revision":9,"mod_revision":0}]}', rel)).toBe(
      '{"header":{"revision":"R+2"},"kvs":[{"create_revision":"R-1","mod_revision":0}]}',
    );
    expect(normalizeOutput('"Revision" : 11\n"CreateRevision" : 10\ncompacted revision 7\n', rel)).toBe(
      '"Revision" : R+1\n"CreateRevision" : R+0\ncompacted revision R-3\n',
    );
  });

  test('optional fields: version, raft index, hash', () => {
    const opts = { version: true, raftIndex: true, hash: true };
    expect(normalizeOutput('http://127.0.0.1:40001, 2e1259d415f2a040, 3.4.23, 1.0 MB, true, false, 2, 18, 17, \n', ctx, opts)).toBe(
      '<client-url>, <member-id-hex>, <version>, <db-size>, true, false, <raft-term>, <raft-index>, <raft-applied-index>, \n',
    );
    expect(normalizeOutput('http://127.0.0.1:40001, 4234021206\n', ctx, opts)).toBe('<client-url>, <hash>\n');
    expect(normalizeOutput('"Version" : "3.4.23"\n"RaftIndex" : 18\n"Hash" : 99\n', ctx, opts)).toBe(
      '"Version" : "<version>"\n"RaftIndex" : <raft-index>\n"Hash" : <hash>\n',
    );
  });

  test('normalizes the timestamp and client id of etcdctl retry warnings', () => {
    const warn =
      '{"level":"warn","ts":"2026-11-22T23:11:27.192Z","caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed","target":"endpoint://client-3e966395-643a-427f-8ea2-132cabf117d1/127.0.0.1:40001","attempt":0,"error":"rpc error: code = NotFound desc = etcdserver: requested lease not found"}';
    expect(normalizeOutput(warn, ctx)).toBe(
      '{"level":"warn","ts":"<ts>","caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed","target":"endpoint://client-<uuid>/<client-addr>","attempt":0,"error":"rpc error: code = NotFound desc = etcdserver: requested lease not found"}',
    );
  });
});

describe('member lifecycle (etcd)', () => {
  test('start, write, restart on the same data dir and ports, kill, cleanup', async () => {
    const member = await startMember({ kind: 'etcd' });
    try {
      expect(member.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await etcdctl(member.endpoint, ['put', 'k', 'v1'])).stdout).toBe('OK\n');
      const { endpoint, dataDir } = member;
      const firstPid = member.pid();
      await member.restart();
      expect(member.pid()).not.toBe(firstPid);
      expect(member.endpoint).toBe(endpoint);
      expect(member.dataDir).toBe(dataDir);
      expect((await etcdctl(member.endpoint, ['get', 'k', '--print-value-only'])).stdout).toBe('v1\n');
      await member.kill('SIGKILL');
      expect(member.running()).toBe(false);
      await member.restart();
      expect((await etcdctl(member.endpoint, ['get', 'k', '--print-value-only'])).stdout).toBe('v1\n');
      expect(member.output()).toContain('ready to serve client requests');
    } finally {
      await member.cleanup();
    }
    expect(member.running()).toBe(false);
    expect(fs.existsSync(member.dataDir)).toBe(false);
  });

  test('etcdctl is bounded in time', async () => {
    const res = await etcdctl('http://127.0.0.1:9', ['get', 'k', '--dial-timeout=5s', '--command-timeout=5s'], { timeoutMs: 300 });
    expect(res.timedOut).toBe(true);
    expect(res.code).toBe(-1);
  });

  test('a sequence run normalizes IDs and relative revisions', async () => {
    const member = await startMember({ kind: 'etcd' });
    try {
      const transcript = await runSequence(member, [['put', 'a', '1'], ['get', 'a', '-w', 'json'], ['get', 'a', '--rev={rev+1}', '--print-value-only']]);
      expect(transcript).toEqual([
        { cmd: 'etcdctl put a 1', code: 0, stdout: 'OK\n', stderr: '' },
        {
          cmd: 'etcdctl get a -w json',
          code: 0,
          stdout:
            '{"header":{"cluster_id":"<id>","member_id":"<id>","revision":"R+1","raft_term":"<raft-term>"},"kvs":[{"key":"YQ==","create_revision":"R+1","mod_revision":"R+1","version":1,"value":"MQ=="}],"count":1}\n',
          stderr: '',
        },
        { cmd: 'etcdctl get a --rev={rev+1} --print-value-only', code: 0, stdout: '1\n', stderr: '' },
      ]);
    } finally {
      await member.cleanup();
    }
  });
});
