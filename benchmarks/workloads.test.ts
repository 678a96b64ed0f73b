/**
 * Smoke test of the etcd-vocabulary workloads against real etcd 3.4 (/usr/bin/etcd): txn-put,
 * txn-mixed, range over a prefix of N keys, lease-keepalive (bidi stream), watch fan-out, the
 * Kubernetes-shaped mix, and the open-loop fixed-rate mode — exact counts and zero errors. Also the
 * Txn/Lease/Watch encodings (field numbers of etcd's rpc.proto) and the compare command's refusal
 * of bad input.
 */
import { expectAllOk, useEtcd } from './testing';
import { runLoad } from './lib/load';
import {
  CompareResult,
  decodeRangePage,
  decodeTxnSummary,
  decodeWatchResponse,
  encodeLeaseKeepAliveRequest,
  encodeModRevisionCompare,
  encodeRequestOp,
  encodeTxnRequest,
  encodeWatchCreateRequest,
  rawVarintField,
} from './lib/messages';
import { loadScenarios } from './lib/scenarios';
import { k8sKey, prefixEnd } from './lib/workloads';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main as compareMain } from './compare';
import { rotateEndpoints } from './lib/grpc-client';
import { freePort } from './lib/server-process';


describe('Txn, Lease and Watch messages', () => {
  test('connections spread over several endpoints: a thread whose share starts at connection k starts at endpoint k mod N', () => {
    expect(rotateEndpoints(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(rotateEndpoints(['a', 'b', 'c'], 4)).toEqual(['b', 'c', 'a']);
    expect(rotateEndpoints('a', 7)).toEqual(['a']);
  });

  test('TxnRequest: 1 compare { 2 target MOD, 3 key, 6 mod_revision (written when 0) }, 2 success { 2 request_put }', () => {
    const cmp = encodeModRevisionCompare(Buffer.from('k'), CompareResult.EQUAL, 0);
    expect(cmp).toEqual(Buffer.from([0x10, 2, 0x1a, 1, 0x6b, 0x30, 0]));
    const txn = encodeTxnRequest([cmp], [encodeRequestOp('put', Buffer.from([0x0a, 1, 0x6b]))]);
    expect(txn).toEqual(Buffer.from([0x0a, 7, 0x10, 2, 0x1a, 1, 0x6b, 0x30, 0, 0x12, 5, 0x12, 3, 0x0a, 1, 0x6b]));
  });

  test('TxnResponse succeeded/responses, RangeResponse more/last key, WatchResponse events', () => {
    // header { revision: 5 } succeeded: true responses { }
    expect(decodeTxnSummary(Buffer.from([0x0a, 2, 0x18, 5, 0x10, 1, 0x1a, 0]))).toEqual({ revision: 5, succeeded: true, responses: 1 });
    // kvs { key: "a" mod_revision: 7 } more: true
    expect(decodeRangePage(Buffer.from([0x12, 5, 0x0a, 1, 0x61, 0x18, 7, 0x18, 1]))).toEqual({ kvsLength: 1, more: true, lastKey: Buffer.from('a'), lastModRevision: 7 });
    // created: true events { kv { value: "v" } }
    const w = decodeWatchResponse(Buffer.from([0x18, 1, 0x5a, 5, 0x12, 3, 0x2a, 1, 0x76]));
    expect(w.created).toBe(true);
    expect(w.values).toEqual([Buffer.from('v')]);
    expect(encodeWatchCreateRequest(Buffer.from('k'))).toEqual(Buffer.from([0x0a, 3, 0x0a, 1, 0x6b]));
  });

  test('a lease ID beyond 2^53 is sent back byte for byte', () => {
    const id = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]); // 2^63 - 1
    const grant = Buffer.concat([Buffer.from([0x10]), id, Buffer.from([0x18, 10])]);
    const raw = rawVarintField(grant, 2)!;
    expect(raw).toEqual(id);
    expect(encodeLeaseKeepAliveRequest(raw)).toEqual(Buffer.concat([Buffer.from([0x08]), id]));
  });

  test('prefix range end and k8s keys', () => {
    expect(prefixEnd(Buffer.from('/registry/pods/'))).toEqual(Buffer.from('/registry/pods0'));
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(k8sKey(12, 10).toString()).toBe('/registry/pods/ns-002/pod-0000012');
  });
});

describe('compare refuses bad input', () => {
  // Commander prints its own message to stderr before throwing: keep the test output clean, but check it.
  let stderr: jest.SpyInstance;
  beforeEach(() => {
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => stderr.mockRestore());
  const printed = (): string => stderr.mock.calls.map((c) => String(c[0])).join('');

  test('an unknown scenario', async () => {
    await expect(compareMain(['--scenarios', 'txn-put,nope', '--targets', 'etcd'])).rejects.toThrow(/unknown scenario\(s\) nope \(known: .*txn-put/);
  });

  test('an unknown target', async () => {
    await expect(compareMain(['--targets', 'etcd,zookeeper'])).rejects.toThrow(/unknown target zookeeper \(known: etcd, cairn; or use --endpoint\)/);
  });

  test.each([
    [['--clients', '-4'], /--clients.*'-4' is invalid. expected a positive integer/],
    [['--clients', '0'], /--clients.*'0' is invalid. expected a positive integer/],
    [['--rate', '0'], /--rate.*'0' is invalid. expected a positive number/],
    [['--duration', '0'], /--duration.*'0' is invalid. expected a positive number/],
    [['--rounds', '1.5'], /--rounds.*'1.5' is invalid. expected a positive integer/],
    [['--connections', 'many'], /--connections.*'many' is invalid. expected a positive integer/],
    [['--stm-keys-per-txn', '-1'], /--stm-keys-per-txn.*'-1' is invalid/],
  ])('%j is refused with a message and exit code 2', async (args, message) => {
    const err: unknown = await compareMain(args).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: 1 }); // CommanderError; the command line maps it to exit code 2
    expect(printed()).toMatch(message);
  });

  test('combinations that make no sense', async () => {
    await expect(compareMain(['--clients', '2', '--connections', '8'])).rejects.toThrow(/--clients \(2\) must be at least --connections \(8\)/);
    await expect(compareMain(['--members', '2'])).rejects.toThrow(/--members must be 1, 3 or 5, got 2/);
    await expect(compareMain(['--scenarios', 'failover'])).rejects.toThrow(/failover scenario needs clusters: add --members 3/);
    await expect(compareMain(['--scenarios', 'stm', '--stm-keys', '2', '--stm-keys-per-txn', '3'])).rejects.toThrow(/stm keys per txn \(3\) must be at most stm keys \(2\)/);
    await expect(compareMain(['--scenarios', 'watch-memory', '--wm-watchers', '10', '--wm-streams', '20'])).rejects.toThrow(/watch-memory streams \(20\) must be at most watchers \(10\)/);
    await expect(compareMain(['--election-timeout', '300', '--heartbeat-interval', '100'])).rejects.toThrow(/--election-timeout \(300\) must be at least 5 × --heartbeat-interval \(100\)/);
  });

  test('an unreachable endpoint: a clear error before anything runs', async () => {
    const port = await freePort();
    await expect(compareMain(['--endpoint', `http://127.0.0.1:${port}`, '--scenarios', 'put-1'])).rejects.toThrow(new RegExp(`cannot connect to http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
    await expect(compareMain(['--endpoint', 'not a url', '--scenarios', 'put-1'])).rejects.toThrow(/--endpoint not a url is not a URL/);
  });

  test('the command line exits 2 with the message on stderr', async () => {
    const { execFile } = await import('node:child_process');
    const script = path.join(__dirname, 'bin', 'cairn-bench.js');
    if (!fs.existsSync(path.join(__dirname, '..', 'dist', 'benchmarks', 'compare.js'))) throw new Error('build first (node scripts/build.js)');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [script, '--scenarios', 'nope'], (_err, _out, err) => resolve({ code: child.exitCode, stderr: err }));
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown scenario\(s\) nope/);
  });

  test('nonsensical workload options', async () => {
    await expect(compareMain(['--scenarios', 'watch', '--watchers', '2', '--watch-streams', '4'])).rejects.toThrow(/watch streams \(4\) must be at most watchers \(2\)/);
    await expect(compareMain(['--scenarios', 'k8s', '--k8s-churn', '1.5'])).rejects.toThrow(/--k8s-churn .*'1.5' is invalid. expected a number between 0 and 1/);
  });
});

describe('workloads against real etcd', () => {
  const settings = {
    keySize: 8,
    valueSize: 64,
    keySpace: 1000,
    sequentialKeys: false,
    prefixKeys: 50,
    readRatio: 4,
    leaseTtlSeconds: 60,
    watchers: 20,
    watchStreams: 4,
    watchPutRate: 200,
    k8sObjects: 300,
    k8sNamespaces: 10,
    k8sPageSize: 100,
    k8sListRatio: 0.05,
    k8sChurn: 0.1,
    k8sValueSize: 256,
    stmKeys: 3,
    stmKeysPerTxn: 2,
    latencyWatchers: 10,
    latencyStreams: 2,
    latencyPutRate: 500,
  };
  const scenario = (name: string) => loadScenarios(settings).find((s) => s.name === name)!;

  const etcdInstance = useEtcd();
  const expectClean = (result: Awaited<ReturnType<typeof runLoad>>, total: number): void => void expectAllOk(result, total);

  async function run(name: string, total: number, extra: { workers?: number; ratePerSec?: number } = {}) {
    const s = scenario(name);
    await s.setup?.(etcdInstance().url);
    return runLoad({ url: etcdInstance().url, connections: 2, clients: 8, workers: extra.workers ?? 0, workload: s.workload, stop: { totalRequests: total }, ratePerSec: extra.ratePerSec });
  }

  test('txn-put: 300 txns, each succeeded with one response', async () => {
    expectClean(await run('txn-put', 300), 300);
  });

  test('txn-mixed: 300 ranges and txn-puts, from 2 worker threads', async () => {
    expectClean(await run('txn-mixed', 300, { workers: 2 }), 300);
  });

  test('range over a prefix of 50 keys: every answer has 50 kvs', async () => {
    expectClean(await run('range-prefix', 200), 200);
  });

  test('lease-keepalive: LeaseGrant per client, then 300 keep-alives on bidi streams', async () => {
    expectClean(await run('lease-keepalive', 300), 300);
  });

  test('stm: 200 read-modify-write commits over 3 keys; conflicts are retried and counted, not errors', async () => {
    const result = await run('stm', 200);
    expectClean(result, 200);
    expect(result.conflicts).toBeGreaterThan(0); // 8 clients on 3 keys, 2 per txn: they collide
    expect(result.timeline.reduce((a, b) => a + b, 0)).toBe(200);
  });

  test('watch-latency: 10 watchers over 2 streams, 100 puts at 500/s → 1,000 events', async () => {
    const s = scenario('watch-latency');
    const result = await runLoad({ url: etcdInstance().url, connections: 2, clients: 2, workers: 0, workload: s.workload, stop: { totalRequests: 100 } });
    expectClean(result, 100 * 10);
  });

  test('k8s: creates, guarded updates and deletes, paged lists over 300 pods', async () => {
    expectClean(await run('k8s', 1000), 1000);
  });

  test('open loop at 500/s: 250 requests take ~0.5 s, latency from the scheduled time', async () => {
    const started = Date.now();
    const result = await run('txn-put', 250, { ratePerSec: 500 });
    expectClean(result, 250);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  test('watch fan-out: 20 watchers over 4 streams, 200 puts at 400/s → 4,000 events', async () => {
    const s = scenario('watch');
    const result = await runLoad({ url: etcdInstance().url, connections: 2, clients: 2, workers: 1, workload: { ...s.workload, putRate: 400 } as typeof s.workload, stop: { totalRequests: 200 } });
    expectClean(result, 200 * 20);
  });
});
