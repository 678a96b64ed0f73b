/**
 * Put and get throughput through this SDK, the `etcd3` npm client and raw grpc-js unary calls
 * (protobufjs codecs, no retries, no options), against the same server in one run, with ratios.
 *
 *   node scripts/build.js && node dist/client/bench.js [--targets cairn,etcd] [--seconds 4] [--concurrency 64] [--rounds 3]
 *       [--drivers sdk,etcd3,raw[,sdk-grpcjs]] [--workloads put,get] [--warmup-ms 1000] [--verbose]
 *
 * Each measurement is a closed loop: `concurrency` requests in flight on one client, each sending
 * the next when the previous completes, for `seconds` after a 1 s warm-up. Clients take turns in
 * every round, the order rotated each round, so with `rounds` a multiple of the number of drivers
 * each driver runs in each position equally often (the server's throughput drifts as its store
 * grows, and etcd pauses for a snapshot every 100,000 writes: an unbalanced order favours
 * whichever client runs first). A figure is the median over rounds. `--verbose` prints every
 * measurement, with the snapshots the server logged meanwhile. For a CPU profile of one client:
 * `node --cpu-prof dist/client/bench.js --targets etcd --drivers sdk --workloads put`.
 */
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { etcdserverpb as pb } from '../proto/index';
import { startMember, Member, MemberKind } from '../test/harness/member';
import { Client } from './index';

type DriverName = 'sdk' | 'etcd3' | 'raw' | 'sdk-grpcjs';

interface Args {
  targets: MemberKind[];
  seconds: number;
  concurrency: number;
  rounds: number;
  drivers: DriverName[];
  workloads: ('put' | 'get')[];
  verbose: boolean;
  warmupMs: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { targets: ['cairn', 'etcd'], seconds: 4, concurrency: 64, rounds: 3, drivers: ['sdk', 'etcd3', 'raw'], workloads: ['put', 'get'], verbose: false, warmupMs: 1000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--verbose') {
      args.verbose = true;
      i--;
    } else if (flag === '--targets') args.targets = value.split(',') as MemberKind[];
    else if (flag === '--drivers') args.drivers = value.split(',') as DriverName[];
    else if (flag === '--workloads') args.workloads = value.split(',') as ('put' | 'get')[];
    else if (flag === '--seconds') args.seconds = Number(value);
    else if (flag === '--concurrency') args.concurrency = Number(value);
    else if (flag === '--rounds') args.rounds = Number(value);
    else if (flag === '--warmup-ms') args.warmupMs = Number(value);
    else throw new Error(`unknown flag ${flag}`);
  }
  return args;
}

type Op = (i: number) => Promise<unknown>;
type Driver = { name: string; put: Op; get: Op; close(): void };

const value = Buffer.alloc(256, 'x');
const keySpace = 10_000;
const key = (i: number): string => `bench/${String(i % keySpace).padStart(6, '0')}`;

function sdkDriver(endpoint: string): Driver {
  const c = new Client({ endpoints: endpoint });
  return { name: 'sdk', put: (i) => c.put(key(i), value), get: (i) => c.get(key(i)).buffer(), close: () => c.close() };
}

/** The SDK with its unary calls on grpc-js instead of its own HTTP/2 transport (for comparison). */
function sdkGrpcJsDriver(endpoint: string): Driver {
  const c = new Client({ endpoints: endpoint, unaryTransport: 'grpc-js' });
  return { name: 'sdk-grpcjs', put: (i) => c.put(key(i), value), get: (i) => c.get(key(i)).buffer(), close: () => c.close() };
}

function etcd3Driver(endpoint: string): Driver {
  const c = new Etcd3({ hosts: endpoint });
  return { name: 'etcd3', put: (i) => c.put(key(i)).value(value).exec(), get: (i) => c.get(key(i)).buffer(), close: () => c.close() };
}

function rawDriver(endpoint: string): Driver {
  const c = new grpc.Client(endpoint.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure());
  const call = <Req extends object, Res>(path: string, enc: (m: Req) => { finish(): Uint8Array }, dec: (b: Buffer) => Res, req: Req): Promise<Res> =>
    new Promise((resolve, reject) =>
      c.makeUnaryRequest(path, (m: Req) => Buffer.from(enc(m).finish()), dec, req, (err, res) => (err ? reject(err) : resolve(res as Res))),
    );
  return {
    name: 'raw grpc-js',
    put: (i) => call('/etcdserverpb.KV/Put', (m: pb.PutRequest.$Properties) => pb.PutRequest.encode(m), (b) => pb.PutResponse.decode(b), { key: Buffer.from(key(i)), value }),
    get: (i) => call('/etcdserverpb.KV/Range', (m: pb.RangeRequest.$Properties) => pb.RangeRequest.encode(m), (b) => pb.RangeResponse.decode(b), { key: Buffer.from(key(i)) }),
    close: () => c.close(),
  };
}

/** Runs the loop; returns requests/s and the client process's CPU µs per request. */
async function closedLoop(op: Op, concurrency: number, ms: number): Promise<{ rate: number; cpuUs: number }> {
  const cpu0 = process.cpuUsage();
  let done = 0;
  let errors = 0;
  let seq = 0;
  const end = Date.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        try {
          await op(seq++);
          done++;
        } catch {
          errors++;
        }
      }
    }),
  );
  if (errors > 0) console.error(`  ${errors} errors`);
  const cpu = process.cpuUsage(cpu0);
  return { rate: (done * 1000) / ms, cpuUs: (cpu.user + cpu.system) / Math.max(done, 1) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function benchTarget(kind: MemberKind, args: Args): Promise<void> {
  const member: Member = await startMember({ kind });
  try {
    const make = { sdk: sdkDriver, etcd3: etcd3Driver, raw: rawDriver, 'sdk-grpcjs': sdkGrpcJsDriver };
    const drivers = args.drivers.map((d) => make[d](member.endpoint));
    // Fill the key space so gets find their keys.
    const filler = rawDriver(member.endpoint);
    await Promise.all(Array.from({ length: 32 }, async (_, w) => { for (let i = w; i < keySpace; i += 32) await filler.put(i); }));
    filler.close();
    const snapshots = (): number => (member.output().match(/triggering snapshot|saved snapshot/g) ?? []).length;
    for (const workload of args.workloads) {
      const rates = new Map<string, number[]>(drivers.map((d) => [d.name, []]));
      const cpus = new Map<string, number[]>(drivers.map((d) => [d.name, []]));
      // One unmeasured pass over every driver first: JIT and the server's first writes (etcd's bolt
      // file grows in steps early on) would otherwise count against whichever client runs first.
      for (const d of drivers) await closedLoop(d[workload], args.concurrency, Math.max(args.warmupMs, 1_000));
      for (let round = 0; round < args.rounds; round++) {
        // Rotate the order each round so that no client always runs first.
        for (let k = 0; k < drivers.length; k++) {
          const d = drivers[(round + k) % drivers.length]!;
          if (args.warmupMs > 0) await closedLoop(d[workload], args.concurrency, args.warmupMs); // refill the pipeline
          const snapsBefore = snapshots();
          const r = await closedLoop(d[workload], args.concurrency, args.seconds * 1000);
          if (args.verbose) {
            const snaps = snapshots() - snapsBefore;
            console.log(`  round ${round} ${workload} ${d.name.padEnd(11)} ${r.rate.toFixed(0).padStart(6)}/s ${r.cpuUs.toFixed(0).padStart(4)} µs CPU/op${snaps > 0 ? ` (server snapshot log lines: ${snaps})` : ''}`);
          }
          rates.get(d.name)!.push(r.rate);
          cpus.get(d.name)!.push(r.cpuUs);
        }
      }
      const m = new Map([...rates].map(([name, xs]) => [name, median(xs)]));
      const cpu = new Map([...cpus].map(([name, xs]) => [name, median(xs)]));
      const sdk = m.get('sdk');
      const ratio = (other: string): string => (sdk !== undefined && m.has(other) ? `${(sdk / m.get(other)!).toFixed(2)}x` : '-');
      console.log(
        `${kind.padEnd(5)} ${workload.padEnd(3)} c=${args.concurrency}: ` +
          [...m].map(([name, v]) => `${name} ${v.toFixed(0)}/s (${cpu.get(name)!.toFixed(0)} µs client CPU/op)`).join(', ') +
          ` | sdk/etcd3 ${ratio('etcd3')}, sdk/raw ${ratio('raw grpc-js')}`,
      );
    }
    for (const d of drivers) d.close();
  } finally {
    await member.cleanup();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  console.log(`put/get throughput, 256-byte values, ${keySpace} keys, median of ${args.rounds} rounds of ${args.seconds} s (2-core machine, shared)`);
  for (const kind of args.targets) await benchTarget(kind, args);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
