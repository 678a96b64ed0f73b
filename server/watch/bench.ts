/**
 * Watch fan-out benchmark (not a test): events delivered per second and put-to-event latency, many
 * watchers on one key. Runs against any etcd-compatible endpoints with the same load generator
 * (grpc-js clients in this process, so client costs are equal for both servers). Build and run:
 *   node scripts/build.js && node dist/server/watch/bench.js --endpoint 127.0.0.1:2379 [--endpoint ...]
 *     [--streams 100] [--watchers-per-stream 100] [--puts-per-second 100] [--seconds 10]
 * Each put carries its send time (ms) as its value; each received event's latency is now - value.
 *
 * Measured 2026-11-23 on the 2-core machine (shared with other sessions; one run each, etcd 3.4.23
 * then Cairn, same process as client, so the client's decoding bounds the top rate):
 * - 100 streams × 100 watchers on one key, 100 puts/s for 8 s (8,000,000 events): etcd 693k
 *   events/s, p50 4.0 s, p99 9.1 s; Cairn 991k events/s (1.43×), p50 0.56 s, p99 2.9 s.
 * - 1 watcher, 5,000 puts/s for 8 s: both deliver every event at the put rate (4,995 vs 4,993/s);
 *   p50 4 ms vs 2 ms, p99 92 ms vs 120 ms (noisy).
 */
import * as grpc from '@grpc/grpc-js';
import { etcdserverpb as pb } from '../../proto';

interface Options {
  endpoints: string[];
  streams: number;
  watchersPerStream: number;
  putsPerSecond: number;
  seconds: number;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { endpoints: [], streams: 100, watchersPerStream: 100, putsPerSecond: 100, seconds: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1] ?? '';
    switch (argv[i]) {
      case '--endpoint': o.endpoints.push(v); break;
      case '--streams': o.streams = Number(v); break;
      case '--watchers-per-stream': o.watchersPerStream = Number(v); break;
      case '--puts-per-second': o.putsPerSecond = Number(v); break;
      case '--seconds': o.seconds = Number(v); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (o.endpoints.length === 0) throw new Error('give at least one --endpoint');
  return o;
}

const identity = (b: Buffer): Buffer => b;

async function run(endpoint: string, o: Options): Promise<void> {
  const key = Buffer.from(`bench/watch/${Date.now()}`);
  const clients = Array.from({ length: Math.min(o.streams, 8) }, () => new grpc.Client(endpoint, grpc.credentials.createInsecure()));
  const latencies: number[] = [];
  let events = 0;
  let created = 0;
  const calls: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
  const allCreated = new Promise<void>((resolve) => {
    for (let s = 0; s < o.streams; s++) {
      const call = clients[s % clients.length]!.makeBidiStreamRequest<Buffer, Buffer>('/etcdserverpb.Watch/Watch', identity, identity);
      call.on('data', (bytes: Buffer) => {
        const r = pb.WatchResponse.decode(bytes);
        if (r.created) {
          if (++created === o.streams * o.watchersPerStream) resolve();
          return;
        }
        const now = Date.now();
        for (const e of r.events) {
          events++;
          if ((events & 63) === 0) latencies.push(now - Number(Buffer.from(e.kv!.value!).toString()));
        }
      });
      call.on('error', () => undefined);
      for (let w = 0; w < o.watchersPerStream; w++) call.write(Buffer.from(pb.WatchRequest.encode({ createRequest: { key } }).finish()));
      calls.push(call);
    }
  });
  const createStart = Date.now();
  await allCreated;
  const createMs = Date.now() - createStart;
  const putter = clients[0]!;
  const put = (): Promise<void> =>
    new Promise((resolve) => {
      const req = Buffer.from(pb.PutRequest.encode({ key, value: Buffer.from(String(Date.now())) }).finish());
      putter.makeUnaryRequest('/etcdserverpb.KV/Put', identity, identity, req, () => resolve());
    });
  const start = Date.now();
  const intervalMs = 1000 / o.putsPerSecond;
  let sent = 0;
  const inFlight: Promise<void>[] = [];
  while (Date.now() - start < o.seconds * 1000) {
    const due = Math.floor((Date.now() - start) / intervalMs);
    while (sent <= due) {
      inFlight.push(put());
      sent++;
    }
    await new Promise((r) => setTimeout(r, Math.max(1, intervalMs / 2)));
  }
  await Promise.all(inFlight);
  const expected = sent * o.streams * o.watchersPerStream;
  const drainDeadline = Date.now() + 30_000;
  while (events < expected && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 10));
  const elapsed = (Date.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
  console.log(
    `${endpoint}: ${o.streams}×${o.watchersPerStream} watchers (created in ${createMs} ms), ${sent} puts: ` +
      `${events}/${expected} events in ${elapsed.toFixed(1)} s = ${Math.round(events / elapsed)} events/s; latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`,
  );
  for (const c of calls) c.cancel();
  for (const c of clients) c.close();
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  for (const e of o.endpoints) await run(e, o);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
