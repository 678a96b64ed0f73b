/**
 * Smoke test of the benchmark's load generator against real etcd 3.4 (/usr/bin/etcd): exact counts,
 * zero errors and sane latency histograms for small put and range loads, in this thread and from
 * worker threads; a clear error for an unreachable endpoint. Also the pieces that must be exact:
 * the hand-written protobuf encodings (field numbers of etcd's rpc.proto) and histogram percentiles.
 */
import { Histogram } from './lib/histogram';
import { expectAllOk, useEtcd } from './testing';
import { runLoad, splitEvenly } from './lib/load';
import { decodeHeaderRevision, decodeRangeSummary, encodePutRequest, encodeRangeRequest } from './lib/messages';
import { putOnce } from './lib/probe';
import { freePort } from './lib/server-process';
import { createWorkload, makeValue } from './lib/workloads';


describe('protobuf messages', () => {
  test('PutRequest is field 1 key, field 2 value (rpc.proto)', () => {
    expect(encodePutRequest({ key: Buffer.from('k'), value: Buffer.from('vv') })).toEqual(Buffer.from([0x0a, 1, 0x6b, 0x12, 2, 0x76, 0x76]));
  });

  test('RangeRequest: 1 key, 2 range_end, 3 limit, 7 serializable', () => {
    const bytes = encodeRangeRequest({ key: Buffer.from('a'), rangeEnd: Buffer.from('b'), limit: 300, serializable: true });
    expect(bytes).toEqual(Buffer.from([0x0a, 1, 0x61, 0x12, 1, 0x62, 0x18, 0xac, 0x02, 0x38, 1]));
  });

  test('header.revision and RangeResponse kvs/count are read from the wire', () => {
    // header { revision: 2^40 } kvs { key: "k" } count: 1
    const response = Buffer.from([0x0a, 0x07, 0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x12, 0x03, 0x0a, 0x01, 0x6b, 0x20, 0x01]);
    expect(decodeHeaderRevision(response)).toBe(2 ** 40);
    expect(decodeRangeSummary(response)).toEqual({ kvsLength: 1, count: 1 });
  });
});

describe('histogram and workloads', () => {
  test('percentiles are within 1% of the recorded values', () => {
    const h = new Histogram();
    for (let v = 1; v <= 100_000; v++) h.record(v);
    expect(h.count).toBe(100_000);
    expect(h.percentile(50) / 50_000).toBeCloseTo(1, 2);
    expect(h.percentile(99) / 99_000).toBeCloseTo(1, 2);
    expect(h.percentile(100)).toBe(100_000);
    expect(h.min).toBe(1);
  });

  test('merging adds counts', () => {
    const a = new Histogram();
    const b = new Histogram();
    a.record(10);
    b.record(1000);
    a.add(b.snapshot());
    expect(a.count).toBe(2);
    expect(a.max).toBe(1000);
    expect(a.percentile(50)).toBe(10);
  });

  test('put values differ from one request to the next (a compressing backend cannot shrink them)', () => {
    const workload = createWorkload({ kind: 'put', keySize: 4, valueSize: 32, keySpace: 10, sequential: true });
    const first = workload.next();
    const second = workload.next();
    expect(first.length).toBe(second.length);
    expect(first.subarray(-32).equals(second.subarray(-32))).toBe(false);
    expect(first.subarray(2, 6).toString()).toBe('0000');
    expect(second.subarray(2, 6).toString()).toBe('0001');
  });

  test('splitEvenly covers the total', () => {
    expect(splitEvenly(10, 3)).toEqual([4, 3, 3]);
  });
});

describe('load generator against real etcd', () => {
  const etcdInstance = useEtcd();

  function expectSane(result: Awaited<ReturnType<typeof runLoad>>, total: number): void {
    const h = expectAllOk(result, total);
    expect(h.min).toBeGreaterThan(0);
    expect(h.percentile(50)).toBeGreaterThanOrEqual(h.min);
    expect(h.percentile(99)).toBeGreaterThanOrEqual(h.percentile(50));
    expect(result.elapsedMs).toBeGreaterThan(0);
  }

  test('200 puts over 2 connections: 200 successes, no errors', async () => {
    const result = await runLoad({
      url: etcdInstance().url,
      connections: 2,
      clients: 8,
      workers: 0,
      workload: { kind: 'put', keySize: 8, valueSize: 64, keySpace: 1000, sequential: true },
      stop: { totalRequests: 200 },
    });
    expectSane(result, 200);
  });

  test('200 linearizable and 200 serializable ranges of one key', async () => {
    await putOnce(etcdInstance().url, Buffer.from('smoke-key'), makeValue(16));
    for (const serializable of [false, true]) {
      const result = await runLoad({
        url: etcdInstance().url,
        connections: 2,
        clients: 8,
        workers: 0,
        workload: { kind: 'range', key: 'smoke-key', serializable },
        stop: { totalRequests: 200 },
      });
      expectSane(result, 200);
    }
  });

  test('a range of a missing key is counted as an error, not dropped', async () => {
    const result = await runLoad({
      url: etcdInstance().url,
      connections: 1,
      clients: 2,
      workers: 0,
      workload: { kind: 'range', key: 'no-such-key', serializable: true },
      stop: { totalRequests: 10 },
    });
    expect(result.okCount).toBe(0);
    expect(result.errors).toEqual({ 'BAD_RESPONSE: RangeResponse with 0 kvs, expected 1': 10 });
  });

  test('200 puts from 2 worker threads: counts and histograms merge', async () => {
    const result = await runLoad({
      url: etcdInstance().url,
      connections: 4,
      clients: 16,
      workers: 2,
      workload: { kind: 'put', keySize: 8, valueSize: 64, keySpace: 1000, sequential: false },
      stop: { totalRequests: 200 },
    });
    expect(result.workers).toBe(2);
    expectSane(result, 200);
  });

  test('an unreachable endpoint fails with a clear error', async () => {
    const port = await freePort(); // nothing listens there any more
    const plan = { url: `http://127.0.0.1:${port}`, connections: 1, clients: 1, workload: { kind: 'put', keySize: 8, valueSize: 8, keySpace: 10, sequential: true }, stop: { totalRequests: 1 } } as const;
    const expected = new RegExp(`cannot connect to http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`);
    await expect(runLoad({ ...plan, workers: 0 })).rejects.toThrow(expected);
    await expect(runLoad({ ...plan, workers: 1 })).rejects.toThrow(expected);
  });
});
