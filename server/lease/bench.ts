/**
 * Benchmark (not a test): LeaseKeepAlive throughput with 256 clients, etcd 3.4 vs Cairn, same load
 * generator. Each client is one KeepAlive bidi stream over a shared pool of HTTP/2 connections, in a
 * closed loop: it sends its next keep-alive when the previous answer arrives. Each client keeps its
 * own lease (granted first). Rounds alternate etcd then Cairn; the figure is the median per target.
 *
 *   node scripts/build.js && node dist/server/lease/bench.js [--clients 256] [--connections 8] [--seconds 10] [--rounds 2]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { etcdserverpb as pb, fromBigInt, toBigInt } from '../../proto';

interface Args {
  clients: number;
  connections: number;
  seconds: number;
  rounds: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { clients: 256, connections: 8, seconds: 10, rounds: 2 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]!.replace(/^--/, '') as keyof Args;
    args[name] = Number(argv[i + 1]);
  }
  return args;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => res(port));
    });
    srv.on('error', rej);
  });
}

interface Server {
  proc: ChildProcess;
  endpoint: string;
  dir: string;
}

async function startServer(kind: 'etcd' | 'cairn'): Promise<Server> {
  const [client, peer] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), `lease-bench-${kind}-`));
  const flags = [
    '--name', 'm1', '--data-dir', dir,
    '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `m1=http://127.0.0.1:${peer}`,
  ];
  const proc = kind === 'etcd' ? spawn('/usr/bin/etcd', flags) : spawn(process.execPath, [resolve(__dirname, '../../../bin/cairn.js'), ...flags]);
  await new Promise<void>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`${kind} did not start:\n${out}`)), 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('ready to serve client requests')) {
        clearTimeout(timer);
        res();
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
  });
  return { proc, endpoint: `http://127.0.0.1:${client}`, dir };
}

async function stopServer(s: Server): Promise<void> {
  await new Promise<void>((res) => {
    s.proc.once('exit', () => res());
    s.proc.kill('SIGKILL');
  });
  rmSync(s.dir, { recursive: true, force: true });
}

/** CPU seconds (user + system, all threads) of a process. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function frame(message: Uint8Array): Buffer {
  const buf = Buffer.alloc(5 + message.length);
  buf.writeUInt32BE(message.length, 1);
  buf.set(message, 5);
  return buf;
}

function unary(session: http2.ClientHttp2Session, path: string, message: Uint8Array): Promise<Buffer> {
  return new Promise((res, rej) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const all = Buffer.concat(chunks);
      if (all.length < 5) rej(new Error(`no answer from ${path}`));
      else res(all.subarray(5));
    });
    req.on('error', rej);
    req.end(frame(message));
  });
}

async function run(endpoint: string, args: Args): Promise<{ renewalsPerSec: number; wrong: number }> {
  const sessions = Array.from({ length: args.connections }, () => http2.connect(endpoint));
  const leases: bigint[] = [];
  for (let i = 0; i < args.clients; i++) {
    const resp = pb.LeaseGrantResponse.decode(await unary(sessions[i % sessions.length]!, '/etcdserverpb.Lease/LeaseGrant', pb.LeaseGrantRequest.encode({ TTL: 60 }).finish()));
    leases.push(toBigInt(resp.ID));
  }
  let count = 0;
  let wrong = 0;
  let measuring = false;
  let stopping = false;
  const streams = leases.map((id, i) => {
    const stream = sessions[i % sessions.length]!.request({ ':method': 'POST', ':path': '/etcdserverpb.Lease/LeaseKeepAlive', 'content-type': 'application/grpc', te: 'trailers' });
    const request = frame(pb.LeaseKeepAliveRequest.encode({ ID: fromBigInt(id, false) }).finish());
    let pending: Buffer = Buffer.alloc(0);
    stream.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const len = pending.readUInt32BE(1);
        if (pending.length < 5 + len) break;
        const msg = pending.subarray(5, 5 + len);
        pending = pending.subarray(5 + len);
        if (measuring) {
          count++;
          if (count % 1000 === 0 && toBigInt(pb.LeaseKeepAliveResponse.decode(msg).TTL) !== 60n) wrong++;
        }
        if (!stopping) stream.write(request);
      }
    });
    stream.on('error', () => undefined);
    stream.write(request);
    return stream;
  });
  await new Promise((r) => setTimeout(r, 1_000)); // warm-up
  measuring = true;
  const started = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, args.seconds * 1000));
  measuring = false;
  const elapsedSec = Number(process.hrtime.bigint() - started) / 1e9;
  stopping = true;
  for (const s of streams) s.close();
  for (const s of sessions) s.close();
  return { renewalsPerSec: count / elapsedSec, wrong };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const results: Record<string, { rate: number; cpuPerRenewalUs: number }[]> = { etcd: [], cairn: [] };
  for (let round = 0; round < args.rounds; round++) {
    for (const kind of ['etcd', 'cairn'] as const) {
      const server = await startServer(kind);
      try {
        const cpu0 = cpuSeconds(server.proc.pid!);
        const t0 = Date.now();
        const r = await run(server.endpoint, args);
        const cpu = cpuSeconds(server.proc.pid!) - cpu0;
        const total = (r.renewalsPerSec * (Date.now() - t0)) / 1000;
        results[kind]!.push({ rate: r.renewalsPerSec, cpuPerRenewalUs: (cpu / total) * 1e6 });
        console.log(`round ${round + 1} ${kind}: ${r.renewalsPerSec.toFixed(0)} keep-alives/s, ~${((cpu / total) * 1e6).toFixed(0)} µs server CPU each${r.wrong > 0 ? `, ${r.wrong} wrong answers` : ''}`);
      } finally {
        await stopServer(server);
      }
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const e = median(results.etcd!.map((x) => x.rate));
  const c = median(results.cairn!.map((x) => x.rate));
  console.log(`median: etcd ${e.toFixed(0)}/s, cairn ${c.toFixed(0)}/s, ratio cairn/etcd ${(c / e).toFixed(2)} (${args.clients} clients over ${args.connections} connections)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
