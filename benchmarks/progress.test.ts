/**
 * Progress output and the pieces of the report that need no server: live bars on a terminal, plain
 * lines otherwise; bounded throughput timelines; sparse histograms that survive JSON.
 */
import { PassThrough } from 'node:stream';
import { countInTimeline, TIMELINE_INTERVAL_MS, TIMELINE_MAX_INTERVALS } from './lib/closed-loop';
import { Histogram } from './lib/histogram';
import { escapeHtml } from './lib/html';
import { Progress } from './lib/progress';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new PassThrough() as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY, columns: 120, rows: 40 });
  (stream as unknown as PassThrough).on('data', (c: Buffer) => chunks.push(c.toString()));
  return { stream, text: () => chunks.join('') };
}

describe('progress', () => {
  test('not a terminal: one plain line per finished run, no bar', async () => {
    const out = fakeStream(false);
    const p = new Progress({ totalRuns: 2, stream: out.stream });
    expect(p.live).toBe(false);
    const onProgress = p.startRun('put-1 etcd 1/1', { seconds: 2 });
    onProgress(100);
    p.endRun('[put-1] round 1/1 etcd: 100 ops/s');
    p.stop();
    await new Promise((r) => setImmediate(r));
    expect(out.text()).toBe('[put-1] round 1/1 etcd: 100 ops/s\n');
  });

  test('a terminal: live bars for the suite and the run, with the finished run line above them', async () => {
    const out = fakeStream(true);
    const p = new Progress({ totalRuns: 2, stream: out.stream });
    expect(p.live).toBe(true);
    const onProgress = p.startRun('put-1 etcd 1/1', { total: 50 });
    onProgress(25);
    await new Promise((r) => setTimeout(r, 300));
    p.endRun('[put-1] round 1/1 etcd: 100 ops/s');
    p.stop();
    await new Promise((r) => setImmediate(r));
    const text = out.text();
    expect(text).toMatch(/suite\s+\|[█░]+\| [01]\/2 runs/);
    expect(text).toMatch(/put-1 etcd 1\/1\s+\|[█░]+\| 25\/50 calls 25 calls measured/);
    expect(text).toContain('[put-1] round 1/1 etcd: 100 ops/s');
  });
});

describe('report data', () => {
  test('a throughput timeline counts per 250 ms interval and stops growing at its bound', () => {
    const t: number[] = [];
    countInTimeline(t, 0);
    countInTimeline(t, TIMELINE_INTERVAL_MS - 0.1);
    countInTimeline(t, 2.5 * TIMELINE_INTERVAL_MS, 3);
    expect(t).toEqual([2, 0, 3]);
    countInTimeline(t, TIMELINE_MAX_INTERVALS * TIMELINE_INTERVAL_MS + 1);
    expect(t).toHaveLength(3);
    countInTimeline(t, (TIMELINE_MAX_INTERVALS - 1) * TIMELINE_INTERVAL_MS);
    expect(t).toHaveLength(TIMELINE_MAX_INTERVALS);
  });

  test('a sparse histogram round-trips through JSON with the same percentiles', () => {
    const h = new Histogram();
    for (let v = 1; v <= 50_000; v += 7) h.record(v);
    const back = Histogram.fromSparse(JSON.parse(JSON.stringify(h.sparse())));
    expect(back.count).toBe(h.count);
    for (const p of [0, 50, 90, 99, 99.9, 100]) expect(back.percentile(p)).toBe(h.percentile(p));
    expect(back.mean).toBeCloseTo(h.mean, 6);
    expect(() => Histogram.fromSparse({ buckets: [[1e9, 1]], totalCount: 1, minUs: 1, maxUs: 1, sumUs: 1 })).toThrow(/outside/);
  });

  test('HTML escaping', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
