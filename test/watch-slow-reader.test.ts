/**
 * A watch stream whose client stops reading, end to end through a real Cairn process: one watcher
 * over raw HTTP/2 gRPC pauses its stream (its flow-control window fills, as a stuck client's does)
 * and one over the JSON gateway (`POST /v3/watch`) pauses its socket, while a healthy watcher and a
 * writer go on. Expected, as issue 3 asks: writes keep being acknowledged at a normal rate, the
 * healthy watcher gets every event in order, the server's RSS stays bounded while 50 MB of values
 * are written (sampled from /proc/<pid>/status), and once the slow readers read again they get every
 * event in order, none lost or duplicated (caught up from the store, not from a buffer). Where Cairn
 * exports `etcd_debugging_mvcc_slow_watcher_total`, it must rise while they are slow.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { etcdserverpb as pb, mvccpb, toNumber } from '../proto';
import { startMember, type Member } from './harness/member';
import { RawKvClient } from './harness/raw-kv';

const PREFIX = 'slow/';
const VALUE_BYTES = 100 * 1024;
const BASELINE_PUTS = 40;
const PUTS = Number(process.env.CAIRN_SLOW_READER_PUTS ?? 500); // 50 MB of values while the slow readers do not read
const WRITERS = 4;
const RSS_GROWTH_MAX_BYTES = 200 * 1024 * 1024;

/** One event as the test compares it: revision, key and value length. */
type Seen = string;

function describeEvent(ev: mvccpb.IEvent): Seen {
  const kv = ev.kv!;
  return `${toNumber(kv.modRevision ?? 0)}:${Buffer.from(kv.key ?? []).toString()}:${(kv.value ?? []).length}`;
}

/** A Watch call over raw HTTP/2 with gRPC framing: nothing between the test and the socket. */
class RawGrpcWatch {
  readonly session: http2.ClientHttp2Session;
  readonly stream: http2.ClientHttp2Stream;
  readonly events: Seen[] = [];
  created = false;
  /** grpc-status and grpc-message once the call ended. */
  ended: string | undefined;
  /** Bytes received and not yet parsed, kept as chunks (a catch-up message can be tens of MB). */
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the message being received (from its 5-byte prefix), once known. */
  private need = 5;
  private waiters: (() => void)[] = [];

  constructor(endpoint: string) {
    this.session = http2.connect(endpoint);
    this.session.on('error', () => undefined);
    this.stream = this.session.request({ ':method': 'POST', ':path': '/etcdserverpb.Watch/Watch', 'content-type': 'application/grpc', te: 'trailers' });
    this.stream.on('error', () => undefined);
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('trailers', (t) => (this.ended = `${t['grpc-status']} ${t['grpc-message'] ?? ''}`));
    this.stream.on('response', (h) => {
      if (h['grpc-status'] !== undefined) this.ended = `${h['grpc-status']} ${h['grpc-message'] ?? ''}`;
    });
  }

  create(key: string, rangeEnd: string, startRevision: number): void {
    const body = pb.WatchRequest.encode({ createRequest: { key: Buffer.from(key), rangeEnd: Buffer.from(rangeEnd), startRevision } }).finish();
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    this.stream.write(frame);
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= this.need) {
      let pending = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const length = pending.readUInt32BE(1);
      if (pending.length < 5 + length) {
        this.chunks = [pending];
        this.need = 5 + length;
        break;
      }
      const response = pb.WatchResponse.decode(pending.subarray(5, 5 + length));
      pending = pending.subarray(5 + length);
      this.chunks = pending.length > 0 ? [pending] : [];
      this.buffered = pending.length;
      this.need = 5;
      if (response.created) this.created = true;
      for (const ev of response.events ?? []) this.events.push(describeEvent(ev));
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once `done()` holds (checked whenever data arrives), or rejects after `timeoutMs`. */
  until(done: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
    return untilCondition(done, timeoutMs, what, (wake) => this.waiters.push(wake));
  }

  close(): void {
    this.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.session.destroy();
  }
}

/** `POST /v3/watch` on the JSON gateway, reading newline-delimited `{"result":...}` objects. */
class GatewayWatch {
  readonly events: Seen[] = [];
  created = false;
  response: http.IncomingMessage | undefined;
  private readonly request: http.ClientRequest;
  /** The current line's bytes so far, as chunks (a catch-up line can be tens of MB). */
  private line: Buffer[] = [];
  private waiters: (() => void)[] = [];

  constructor(endpoint: string, key: string, rangeEnd: string, startRevision: number) {
    this.request = http.request(`${endpoint}/v3/watch`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      this.response = res;
      res.on('data', (chunk: Buffer) => this.onData(chunk));
      res.on('error', () => undefined);
    });
    this.request.on('error', () => undefined);
    this.request.end(JSON.stringify({ create_request: { key: b64(key), range_end: b64(rangeEnd), start_revision: String(startRevision) } }));
  }

  private onData(chunk: Buffer): void {
    let from = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, from)) {
      this.line.push(chunk.subarray(from, nl));
      from = nl + 1;
      const text = Buffer.concat(this.line).toString('utf8');
      this.line = [];
      const msg = JSON.parse(text) as { result?: { created?: boolean; events?: { kv: { key: string; mod_revision: string; value?: string } }[] } };
      if (msg.result?.created) this.created = true;
      for (const ev of msg.result?.events ?? []) {
        this.events.push(`${ev.kv.mod_revision}:${Buffer.from(ev.kv.key, 'base64').toString()}:${Buffer.from(ev.kv.value ?? '', 'base64').length}`);
      }
    }
    if (from < chunk.length) this.line.push(chunk.subarray(from));
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  until(done: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
    return untilCondition(done, timeoutMs, what, (wake) => this.waiters.push(wake));
  }

  close(): void {
    this.request.destroy();
  }
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

function untilCondition(done: () => boolean, timeoutMs: number, what: string | (() => string), register: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const check = (): void => {
      if (done()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() > deadline) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`));
      } else {
        register(check);
      }
    };
    const timer = setInterval(check, 200);
    check();
  });
}

function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  if (kb === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb[1]) * 1024;
}

async function metricsText(endpoint: string): Promise<string> {
  const res = await fetch(`${endpoint}/metrics`);
  return res.text();
}

function metricValue(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

/** Puts `count` values under PREFIX from `first`, `WRITERS` at a time; returns each put's latency and revision. */
async function writeValues(client: RawKvClient, first: number, count: number, keys: Map<number, string>): Promise<{ latenciesMs: number[]; revisions: number[]; elapsedMs: number }> {
  const latenciesMs: number[] = [];
  const revisions: number[] = [];
  let next = first;
  const start = Date.now();
  const worker = async (): Promise<void> => {
    while (next < first + count) {
      const i = next++;
      const value = Buffer.alloc(VALUE_BYTES, i % 251);
      const key = `${PREFIX}${String(i).padStart(5, '0')}`;
      const t0 = performance.now();
      const revision = await client.put(key, value);
      latenciesMs.push(performance.now() - t0);
      revisions.push(revision);
      keys.set(revision, key);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, worker));
  return { latenciesMs, revisions, elapsedMs: Date.now() - start };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Every event of the writes, in revision order: what each watcher must have seen exactly. */
function expectedEvents(revisions: number[], keysByRevision: Map<number, string>): Seen[] {
  return [...revisions].sort((a, b) => a - b).map((r) => `${r}:${keysByRevision.get(r)}:${VALUE_BYTES}`);
}

let member: Member;

beforeAll(async () => {
  member = await startMember({ kind: 'cairn' });
}, 60_000);

afterAll(async () => {
  await member?.cleanup();
});

test('a watcher that stops reading stalls neither writes nor other watchers, memory stays bounded, and it catches up with every event', async () => {
  const pid = member.pid()!;
  const writer = new RawKvClient(member.endpoint, 30_000);
  const startRevision = (await writer.put('slow-start', 'x')) + 1;
  const healthy = new RawGrpcWatch(member.endpoint);
  const slow = new RawGrpcWatch(member.endpoint);
  const slowGateway = new GatewayWatch(member.endpoint, PREFIX, 'slow0', startRevision);
  healthy.create(PREFIX, 'slow0', startRevision);
  slow.create(PREFIX, 'slow0', startRevision);
  try {
    await Promise.all([healthy.until(() => healthy.created, 10_000, 'healthy created'), slow.until(() => slow.created, 10_000, 'slow created'), slowGateway.until(() => slowGateway.created, 10_000, 'gateway created')]);

    // Baseline: writes with every watcher reading.
    const keys = new Map<number, string>();
    const baseline = await writeValues(writer, 0, BASELINE_PUTS, keys);
    await Promise.all([slow, slowGateway, healthy].map((w) => w.until(() => w.events.length === BASELINE_PUTS, 20_000, 'baseline events')));

    // The slow readers stop reading: the HTTP/2 stream stops taking data (its window fills),
    // the gateway's socket is no longer read.
    slow.stream.pause();
    slowGateway.response!.pause();
    const rssBefore = rssBytes(pid);
    let rssMax = rssBefore;
    const sampler = setInterval(() => {
      try {
        rssMax = Math.max(rssMax, rssBytes(pid));
      } catch {
        // The process is gone; the test fails elsewhere.
      }
    }, 100);
    let main: Awaited<ReturnType<typeof writeValues>>;
    let slowWatchers: number | undefined;
    try {
      main = await writeValues(writer, BASELINE_PUTS, PUTS, keys);
      await healthy.until(() => healthy.events.length === BASELINE_PUTS + PUTS, 60_000, 'healthy watcher events');
      slowWatchers = metricValue(await metricsText(member.endpoint), 'etcd_debugging_mvcc_slow_watcher_total');
      rssMax = Math.max(rssMax, rssBytes(pid));
    } finally {
      clearInterval(sampler);
    }
    const growth = rssMax - rssBefore;
    const rate = (r: { latenciesMs: number[]; elapsedMs: number }) => (r.latenciesMs.length * 1000) / r.elapsedMs;
    // What was measured, for the report.
    console.log(
      `slow reader: baseline ${rate(baseline).toFixed(0)} puts/s p99 ${percentile(baseline.latenciesMs, 99).toFixed(1)} ms; ` +
        `with slow readers ${rate(main).toFixed(0)} puts/s p50 ${percentile(main.latenciesMs, 50).toFixed(1)} ms p99 ${percentile(main.latenciesMs, 99).toFixed(1)} ms; ` +
        `RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB → max ${(rssMax / 2 ** 20).toFixed(0)} MiB (+${(growth / 2 ** 20).toFixed(0)} MiB) over ${((PUTS * VALUE_BYTES) / 2 ** 20).toFixed(0)} MiB written; ` +
        `slow readers had ${slow.events.length - BASELINE_PUTS} (gRPC) and ${slowGateway.events.length - BASELINE_PUTS} (gateway) of ${PUTS} events while paused; slow_watcher_total ${slowWatchers ?? 'not exported'}`,
    );

    const expected = expectedEvents([...baseline.revisions, ...main.revisions], keys);
    expect(expected).toHaveLength(BASELINE_PUTS + PUTS);
    expect(healthy.events).toEqual(expected);

    // The pause took: the slow readers really were behind (else this test proves nothing).
    expect(slow.events.length - BASELINE_PUTS).toBeLessThan(PUTS / 2);
    expect(slowGateway.events.length - BASELINE_PUTS).toBeLessThan(PUTS / 2);
    // Writes went on at a normal rate: at least a third of the baseline rate (the machine is shared).
    expect(rate(main)).toBeGreaterThan(rate(baseline) / 3);
    expect(growth).toBeLessThan(RSS_GROWTH_MAX_BYTES);
    if (slowWatchers !== undefined) expect(slowWatchers).toBeGreaterThan(0);

    // They read again: every event, in order, once.
    slow.stream.resume();
    slowGateway.response!.resume();
    const resumedAt = Date.now();
    // Measured, not bounded: a catch-up batch is up to 1000 revisions in one message, as etcd's.
    let rssCatchUpMax = rssBytes(pid);
    const catchUpSampler = setInterval(() => {
      try {
        rssCatchUpMax = Math.max(rssCatchUpMax, rssBytes(pid));
      } catch {
        // The process is gone; the test fails elsewhere.
      }
    }, 100);
    const caughtUpMs: number[] = [];
    const timed = (p: Promise<void>, i: number) => p.then(() => void (caughtUpMs[i] = Date.now() - resumedAt));
    await Promise.all([
      timed(slow.until(() => slow.events.length >= expected.length, 60_000, () => `slow gRPC reader to catch up (it has ${slow.events.length} of ${expected.length}; call ended: ${slow.ended ?? 'no'})`), 0),
      timed(slowGateway.until(() => slowGateway.events.length >= expected.length, 60_000, () => `slow gateway reader to catch up (it has ${slowGateway.events.length} of ${expected.length})`), 1),
    ]).finally(() => clearInterval(catchUpSampler));
    console.log(`slow readers caught up in ${caughtUpMs[0]} ms (gRPC) and ${caughtUpMs[1]} ms (gateway); RSS during catch-up max ${(rssCatchUpMax / 2 ** 20).toFixed(0)} MiB`);
    // Nothing more (a duplicate) arrives after a short wait.
    await new Promise((r) => setTimeout(r, 300));
    expect(slow.events).toEqual(expected);
    expect(slowGateway.events).toEqual(expected);
    const after = metricValue(await metricsText(member.endpoint), 'etcd_debugging_mvcc_slow_watcher_total');
    if (after !== undefined) expect(after).toBe(0);
    expect(member.running()).toBe(true);
  } finally {
    healthy.close();
    slow.close();
    slowGateway.close();
    writer.close();
  }
}, 180_000);
