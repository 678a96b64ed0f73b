/**
 * Load script (not a test): a unary echo service on the lean gRPC server vs the same service on
 * @grpc/grpc-js's server, driven by a minimal node:http2 gRPC client in a separate process, so that
 * the server's CPU (process.cpuUsage, server process only) is measured alone.
 *
 *   node -r ./server/api/grpc/bench-register.js server/api/grpc/bench.ts [seconds=10] [concurrency=256] [connections=4] [clientProcesses=1]
 *   node -r ./server/api/grpc/bench-register.js server/api/grpc/bench.ts etcdctl     (a Go client: etcdctl check perf)
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import * as http2 from 'node:http2';
import * as path from 'node:path';

const METHOD = '/bench.Echo/Unary';
const REQUEST_BYTES = 64;
const WARMUP_MS = 2000;

type Kind = 'lean' | 'grpc-js';

/** For the etcdctl mode: methods `etcdctl check perf` calls, answered with a canned response. */
const ETCD_METHODS = ['/etcdserverpb.KV/Range', '/etcdserverpb.KV/Put', '/etcdserverpb.KV/DeleteRange', '/etcdserverpb.KV/Compact', '/etcdserverpb.Maintenance/Defragment'];
/** A response with only a ResponseHeader {cluster_id 1, member_id 2, revision 3, raft_term 4} (field 1). */
const CANNED_HEADER_RESPONSE = Buffer.from([0x0a, 0x08, 0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x04]);
type ToParent = { port: number } | { cpuUs: number; calls: number } | { done: number; errors: number };

async function serve(kind: Kind): Promise<void> {
  let calls = 0;
  let port: number;
  if (kind === 'lean') {
    const { GrpcServer } = await import('./server');
    const { createClientListener } = await import('../listener');
    const grpc = new GrpcServer({ maxReceiveMessageBytes: 4 << 20, maxSendMessageBytes: 4 << 20 });
    grpc.addMethod(METHOD, 'unary', (call, request) => {
      calls++;
      call.sendResponse(request);
    });
    for (const m of ETCD_METHODS) {
      grpc.addMethod(m, 'unary', (call) => {
        calls++;
        call.sendResponse(CANNED_HEADER_RESPONSE);
      });
    }
    const l = await createClientListener({ host: '127.0.0.1', port: 0, grpc, http1: (_req, res) => res.end() });
    port = l.port;
  } else {
    const grpcjs = await import('@grpc/grpc-js');
    const id = (b: Buffer): Buffer => b;
    const server = new grpcjs.Server();
    const def = (path: string) => ({ path, requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id });
    server.addService(
      { Unary: def(METHOD) },
      {
        Unary: (call: { request: Buffer }, cb: (err: null, res: Buffer) => void) => {
          calls++;
          cb(null, call.request);
        },
      },
    );
    const etcdService = Object.fromEntries(ETCD_METHODS.map((m) => [m, def(m)]));
    const etcdHandlers = Object.fromEntries(
      ETCD_METHODS.map((m) => [
        m,
        (_call: unknown, cb: (err: null, res: Buffer) => void) => {
          calls++;
          cb(null, CANNED_HEADER_RESPONSE);
        },
      ]),
    );
    server.addService(etcdService, etcdHandlers);
    port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpcjs.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  }
  let start = process.cpuUsage();
  let startCalls = 0;
  process.on('message', (m: string) => {
    if (m === 'start') {
      start = process.cpuUsage();
      startCalls = calls;
    } else if (m === 'stop') {
      const d = process.cpuUsage(start);
      process.send!({ cpuUs: d.user + d.system, calls: calls - startCalls } satisfies ToParent);
    } else if (m === 'exit') {
      process.exit(0); // a normal exit, so that --cpu-prof writes its profile
    }
  });
  process.send!({ port } satisfies ToParent);
}

/** The load generator: `concurrency` loops of one call at a time, spread over `connections` sessions. */
async function load(port: number, concurrency: number, connections: number): Promise<void> {
  const sessions = Array.from({ length: connections }, () => {
    const s = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 4 << 20 } });
    s.on('error', () => undefined);
    return s;
  });
  const body = Buffer.alloc(5 + REQUEST_BYTES, 1);
  body[0] = 0;
  body.writeUInt32BE(REQUEST_BYTES, 1);
  const headers = { ':method': 'POST', ':path': METHOD, 'content-type': 'application/grpc', te: 'trailers' };
  let done = 0;
  let errors = 0;
  let stopping = false;
  const one = (session: http2.ClientHttp2Session): Promise<void> =>
    new Promise((resolve) => {
      const req = session.request(headers);
      let status: string | undefined;
      req.on('trailers', (t) => (status = t['grpc-status'] as string));
      req.on('data', () => undefined);
      req.on('error', () => undefined);
      req.on('close', () => {
        if (status === '0') done++;
        else errors++;
        resolve();
      });
      req.end(body);
    });
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    const s = sessions[i % connections]!;
    while (!stopping) await one(s);
  });
  process.on('message', (m: string) => {
    if (m === 'reset') {
      done = 0;
      errors = 0;
    } else if (m === 'stop') {
      stopping = true;
      void Promise.all(loops).then(() => {
        process.send!({ done, errors } satisfies ToParent, () => process.exit(0));
      });
    }
  });
  process.send!({ done: 0, errors: 0 } satisfies ToParent);
}

function child(args: string[], extraExecArgv: string[] = []): ChildProcess {
  return fork(__filename, args, { execArgv: ['-r', path.join(__dirname, 'bench-register.js'), ...extraExecArgv], stdio: 'inherit' });
}
/**
 * A server process. BENCH_CPU_PROF=dir writes a V8 CPU profile of it there; BENCH_SERVER_FLAGS adds
 * node flags (e.g. --max-semi-space-size=32).
 */
function startServer(kind: Kind): ChildProcess {
  const prof = process.env['BENCH_CPU_PROF'];
  const flags = (process.env['BENCH_SERVER_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
  return child(['serve', kind], [...flags, ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`, `--cpu-prof-name=${kind}.cpuprofile`] : [])]);
}

/** BENCH_KINDS=lean (or grpc-js) runs one server kind only. */
const KINDS: Kind[] = (process.env['BENCH_KINDS']?.split(',') as Kind[] | undefined) ?? ['lean', 'grpc-js'];

const next = (c: ChildProcess): Promise<ToParent> => new Promise((resolve) => c.once('message', (m) => resolve(m as ToParent)));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function run(kind: Kind, seconds: number, concurrency: number, connections: number, clients: number): Promise<void> {
  const server = startServer(kind);
  const { port } = (await next(server)) as { port: number };
  const loaders = Array.from({ length: clients }, () => child(['load', String(port), String(Math.ceil(concurrency / clients)), String(Math.ceil(connections / clients))]));
  await Promise.all(loaders.map(next));
  await sleep(WARMUP_MS);
  for (const c of loaders) c.send('reset');
  server.send('start');
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const serverDone = next(server);
  server.send('stop');
  const s = (await serverDone) as { cpuUs: number; calls: number };
  const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
  const results = await Promise.all(
    loaders.map((c) => {
      const done = next(c);
      c.send('stop');
      return done as Promise<{ done: number; errors: number }>;
    }),
  );
  const exited = new Promise((r) => server.once('exit', r));
  server.send('exit');
  await exited;
  const errors = results.reduce((a, r) => a + r.errors, 0);
  const completed = results.reduce((a, r) => a + r.done, 0);
  console.log(
    `${kind.padEnd(8)} ${(s.calls / elapsedS).toFixed(0).padStart(7)} calls/s   server CPU ${(s.cpuUs / s.calls).toFixed(1).padStart(6)} µs/call   ` +
      `(server ${(s.cpuUs / 1e6 / elapsedS).toFixed(2)} cores; clients completed ${completed}, ${errors} failed)`,
  );
}

/**
 * The same servers loaded by a real Go gRPC client: `etcdctl check perf --load=l` (etcd 3.4's
 * clientv3: 500 clients, puts limited to 8,000/s, 60 s). Its pass/fail verdict is about etcd and
 * is ignored; the server's calls/s and CPU per call are what is reported.
 */
async function runEtcdctl(kind: Kind): Promise<void> {
  const server = startServer(kind);
  const { port } = (await next(server)) as { port: number };
  server.send('start');
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    const p = spawn('etcdctl', [`--endpoints=http://127.0.0.1:${port}`, 'check', 'perf', '--load=l'], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' });
    p.on('exit', () => resolve());
    p.on('error', () => resolve());
  });
  const serverDone = next(server);
  server.send('stop');
  const s = (await serverDone) as { cpuUs: number; calls: number };
  const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
  const exited = new Promise((r) => server.once('exit', r));
  server.send('exit');
  await exited;
  console.log(
    `${kind.padEnd(8)} ${(s.calls / elapsedS).toFixed(0).padStart(7)} calls/s   server CPU ${(s.cpuUs / s.calls).toFixed(1).padStart(6)} µs/call   ` +
      `(server ${(s.cpuUs / 1e6 / elapsedS).toFixed(2)} cores, ${s.calls} calls in ${elapsedS.toFixed(1)} s)`,
  );
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === 'serve') return serve(rest[0] as Kind);
  if (mode === 'load') return load(Number(rest[0]), Number(rest[1]), Number(rest[2]));
  if (mode === 'etcdctl') {
    console.log('etcdctl check perf --load=l (Go clientv3, 500 clients, puts capped at 8,000/s, 60 s) against canned responses');
    for (const kind of KINDS) await runEtcdctl(kind);
    return;
  }
  const seconds = Number(mode ?? 10);
  const concurrency = Number(rest[0] ?? 256);
  const connections = Number(rest[1] ?? 4);
  const clients = Number(rest[2] ?? 1);
  console.log(
    `unary echo, ${REQUEST_BYTES}-byte messages, ${concurrency} concurrent calls over ${connections} connections from ${clients} client process(es), ` +
      `${seconds} s after ${WARMUP_MS} ms warm-up`,
  );
  for (const kind of KINDS) await run(kind, seconds, concurrency, connections, clients);
}

void main();
