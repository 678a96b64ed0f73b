/**
 * The HTML report, looked at in a real browser: a small report with real data (tiny runs against
 * real etcd 3.4, two "targets" so that ratios and both series appear, plus a small watch-memory
 * measurement) is rendered, opened in headless Chromium (/usr/bin/chromium, Debian package
 * `chromium`), screenshotted and dumped as DOM. The screenshot must have the window's dimensions and
 * not be blank (compared with a screenshot of an empty page); the rendered DOM must carry the SVG
 * charts and a summary row for every scenario. Also the compare command end to end: every output
 * written, and a run with errors says so in each of them.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { main as compareMain } from './compare';
import { renderHtml } from './lib/html';
import { Instance } from './lib/lab';
import { ComparisonReport, LoadScenarioResult, RunSample } from './lib/results';
import { loadScenarios, measureRun } from './lib/scenarios';
import { measureWatchMemory } from './lib/watch-memory';
import { useEtcd } from './testing';

const CHROMIUM = '/usr/bin/chromium';

function run(command: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1, stdout, stderr });
    });
  });
}

interface Png {
  width: number;
  height: number;
  /** Distinct byte values in the inflated image data (a one-colour image has only a handful). */
  distinctBytes: number;
}

/** Reads a PNG's IHDR (dimensions) and inflates its IDAT chunks. @throws Error when it is not a PNG. */
function readPng(file: string): Png {
  const data = fs.readFileSync(file);
  if (!data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) throw new Error(`${file} is not a PNG`);
  if (data.toString('latin1', 12, 16) !== 'IHDR') throw new Error(`${file}: first chunk is not IHDR`);
  const width = data.readUInt32BE(16);
  const height = data.readUInt32BE(20);
  const idat: Buffer[] = [];
  for (let o = 8; o + 8 <= data.length; ) {
    const length = data.readUInt32BE(o);
    const type = data.toString('latin1', o + 4, o + 8);
    if (type === 'IDAT') idat.push(data.subarray(o + 8, o + 8 + length));
    o += 12 + length;
  }
  const pixels = zlib.inflateSync(Buffer.concat(idat));
  const seen = new Uint8Array(256);
  for (const b of pixels) seen[b] = 1;
  return { width, height, distinctBytes: seen.reduce((a, b) => a + b, 0) };
}

async function screenshot(url: string, dir: string, name: string): Promise<{ png: string; dom: string }> {
  const png = path.join(dir, `${name}.png`);
  const common = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${path.join(dir, `profile-${name}`)}`, '--window-size=1280,2000'];
  const shot = await run(CHROMIUM, [...common, `--screenshot=${png}`, url]);
  if (!fs.existsSync(png)) throw new Error(`chromium wrote no screenshot (exit ${shot.code}): ${shot.stderr.slice(-2000)}`);
  const dom = await run(CHROMIUM, [...common, '--dump-dom', url]);
  if (dom.code !== 0) throw new Error(`chromium --dump-dom failed (exit ${dom.code}): ${dom.stderr.slice(-2000)}`);
  return { png, dom: dom.stdout };
}

describe('HTML report in headless Chromium', () => {
  const etcd = useEtcd();
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-report-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('chromium is installed (apt-get install chromium)', () => {
    expect(fs.existsSync(CHROMIUM)).toBe(true);
  });

  test('a report of real runs renders: screenshot of the right size, not blank; SVG charts and summary rows in the DOM', async () => {
    const settings = {
      keySize: 8, valueSize: 64, keySpace: 1000, sequentialKeys: false, prefixKeys: 10, readRatio: 1, leaseTtlSeconds: 60, watchers: 10, watchStreams: 2, watchPutRate: 100,
      k8sObjects: 100, k8sNamespaces: 10, k8sPageSize: 50, k8sListRatio: 0.05, k8sChurn: 0.1, k8sValueSize: 128, stmKeys: 20, stmKeysPerTxn: 2, latencyWatchers: 10, latencyStreams: 2, latencyPutRate: 200,
    }; // prettier-ignore
    const catalogue = loadScenarios(settings);
    const instance = etcd();
    const scenarios: LoadScenarioResult[] = [];
    // Two "targets" (both this etcd), two rounds each, alternating: real histograms and timelines.
    for (const name of ['put-16', 'stm']) {
      const s = catalogue.find((x) => x.name === name)!;
      await s.setup?.(instance.url);
      const runs: { target: string; samples: RunSample[] }[] = [{ target: 'etcd', samples: [] }, { target: 'etcd-again', samples: [] }];
      for (let round = 1; round <= 2; round++) {
        for (const r of runs) r.samples.push(await measureRun(instance, { ...s, clients: 8, connections: 2 }, { stop: { durationMs: 600 }, warmupMs: 0, workers: 0, round }));
      }
      scenarios.push({ kind: 'load', name, title: s.title, targets: runs });
    }
    for (const r of scenarios.flatMap((s) => s.targets.flatMap((t) => t.samples))) {
      expect(r.errorCount).toBe(0);
      expect(r.okCount).toBeGreaterThan(0);
      expect(r.timeline.ok.reduce((a, b) => a + b, 0)).toBe(r.okCount);
      expect(r.histogram.totalCount).toBe(r.okCount);
    }
    const wm = await measureWatchMemory(instance as Instance, { watchers: 2000, streams: 20, connections: 4, settleMs: 200, createTimeoutMs: 20_000, log: () => undefined });
    expect(wm.watchers).toBe(2000);
    expect(wm.errors).toEqual({});
    const report: ComparisonReport = {
      startedAt: new Date().toISOString(),
      command: 'report.test.ts',
      machine: { cpuModel: os.cpus()[0]?.model ?? '?', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version },
      members: 1,
      errorCount: 0,
      versions: { etcd: '3.4.23', 'etcd-again': '3.4.23' },
      settings: {},
      ceiling: null,
      scenarios: [...scenarios, { kind: 'watch-memory', name: 'watch-memory', title: 'watch-memory: 2,000 watchers', targets: [wm, { ...wm, target: 'etcd-again' }] }],
      notes: ['a note'],
    };
    const html = renderHtml(report);
    // Self-contained: no script, no stylesheet link, nothing fetched.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\ssrc=|url\(\s*['"]?https?:/i);
    const file = path.join(dir, 'report.html');
    fs.writeFileSync(file, html);
    fs.writeFileSync(path.join(dir, 'empty.html'), '<!DOCTYPE html><html><body></body></html>');

    const shot = await screenshot(`file://${file}`, dir, 'report');
    const empty = await screenshot(`file://${path.join(dir, 'empty.html')}`, dir, 'empty');
    const png = readPng(shot.png);
    const blank = readPng(empty.png);
    expect({ width: png.width, height: png.height }).toEqual({ width: 1280, height: 2000 });
    expect({ width: blank.width, height: blank.height }).toEqual({ width: 1280, height: 2000 });
    expect(blank.distinctBytes).toBeLessThan(10); // one colour: the check below can tell
    expect(png.distinctBytes).toBeGreaterThan(100);
    expect(fs.statSync(shot.png).size).toBeGreaterThan(10 * fs.statSync(empty.png).size);

    const dom = shot.dom;
    for (const name of ['put-16', 'stm']) {
      expect(dom).toContain(`<tr class="scenario-row" id="row-${name}"`);
      const section = dom.slice(dom.indexOf(`<section class="scenario" id="scenario-${name}"`));
      const body = section.slice(0, section.indexOf('</section>'));
      expect(body).toMatch(/<svg class="chart latency-chart"[^]*<path class="series" data-series="etcd"[^]*<path class="series" data-series="etcd-again"/);
      expect(body).toMatch(/<svg class="chart throughput-chart"[^]*<path class="series" data-series="etcd round 1"[^]*data-series="etcd-again round 2"/);
    }
    expect(dom).toContain('<tr class="scenario-row" id="row-watch-memory"');
    expect(dom).toContain('<svg class="chart watch-memory-chart"');
    expect(dom).toContain('No errors');
    expect(dom).toContain(os.cpus()[0]?.model.trim() ?? '?');
  });
});

describe('compare writes every output, and a run with errors says so in each', () => {
  const etcd = useEtcd();
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-out-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const quiet = (): (() => void) => {
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    return () => {
      out.mockRestore();
      err.mockRestore();
    };
  };

  test('a clean run: summary.txt, report.md, report.json, report.html; exit 0', async () => {
    const out = path.join(dir, 'clean');
    const restore = quiet();
    let code: number;
    try {
      code = await compareMain(['--endpoint', etcd().url, '--scenarios', 'put-1,stm', '--total', '60', '--rounds', '1', '--no-ceiling', '--no-progress', '--stm-keys', '50', '--out', out]);
    } finally {
      restore();
    }
    expect(code).toBe(0);
    for (const f of ['summary.txt', 'report.md', 'report.json', 'report.html']) expect(fs.statSync(path.join(out, f)).size).toBeGreaterThan(200);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as ComparisonReport;
    expect(json.errorCount).toBe(0);
    expect(json.scenarios.map((s) => s.name)).toEqual(['put-1', 'stm']);
    const put = json.scenarios[0] as LoadScenarioResult;
    expect(put.targets[0]!.samples[0]!.okCount).toBe(60);
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('Errors: none.');
  });

  test('a run whose calls fail: exit 3, and every output says it had errors', async () => {
    const out = path.join(dir, 'errors');
    const restore = quiet();
    let code: number;
    try {
      // etcd refuses requests over 1.5 MiB: every put fails.
      code = await compareMain(['--endpoint', etcd().url, '--scenarios', 'put-1', '--total', '5', '--rounds', '1', '--no-ceiling', '--no-progress', '--value-size', '2000000', '--out', out]);
    } finally {
      restore();
    }
    expect(code).toBe(3);
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/WARNING: this run had 5 errors/);
    expect(md).toMatch(/put-1, endpoint: 5 × /);
    expect(fs.readFileSync(path.join(out, 'summary.txt'), 'utf8')).toMatch(/WARNING: this run had 5 errors/);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).errorCount).toBe(5);
    expect(fs.readFileSync(path.join(out, 'report.html'), 'utf8')).toMatch(/<div class="banner bad" id="errors">This run had 5 errors/);
  });
});
