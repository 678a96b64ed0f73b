/**
 * The `cairn` process: the transport thread's composition root. It parses etcd's flags, starts the
 * member thread (server/node/member-thread.ts), and serves the client URLs: gRPC calls are handed
 * to the member thread in batches (server/api/bridge.ts); HTTP endpoints are answered here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadConfig, type MemberConfig } from './cli/config';
import { FlagError, usage } from './cli/flags';
import { createLogger, type Logger } from './log';
import { CallBridge, type ResultBatch, type StreamHandle } from './api/bridge';
import { GrpcServer, Status, type ServerCall } from './api/grpc/server';
import { createClientListener, type ClientListener } from './api/listener';
import { createHttpHandler } from './api/http';
import { createGateway } from './api/gateway';
import { LIMITS } from './limits';
import type { FromMember, MemberThreadData } from './node/member-thread';
import { CAIRN_VERSION, ETCD_SERVER_VERSION } from './version';
import { methodByPath } from '../proto/methods';
import { MetricsExposition } from './metrics/exposition';
import { listenMetrics, type MetricsListener } from './metrics/listener';
import { activeAlarms, probeChecks, type MemberCaller } from './metrics/health';

/** gRPC adds framing to a request; etcd allows this much on top of --max-request-bytes. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

export function main(argv: readonly string[]): void {
  let config: MemberConfig;
  try {
    const loaded = loadConfig(argv, process.env);
    if (loaded.help) {
      process.stdout.write(usage());
      return;
    }
    if (loaded.version) {
      process.stdout.write(`cairn Version: ${CAIRN_VERSION}\netcd API Version: ${ETCD_SERVER_VERSION}\nNode Version: ${process.version}\n`);
      return;
    }
    config = loaded.config!;
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`cairn: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, component: 'server', name: config.name });
  start(config, argv, log).catch((err) => {
    log.fatal({ err }, `failed to start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}

/** The request headers the member's streaming services read: etcd's `hasleader` (clientv3.WithRequireLeader). */
function streamMetadata(call: ServerCall): Record<string, string> | undefined {
  const hasLeader = call.metadata['hasleader'];
  return typeof hasLeader === 'string' ? { hasleader: hasLeader } : undefined;
}

function listenHost(u: URL): string {
  // etcd's default URLs say localhost; serve it where etcdctl's default endpoint looks (127.0.0.1).
  return u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, '');
}

async function start(config: MemberConfig, argv: readonly string[], log: Logger): Promise<void> {
  for (const w of config.warnings) log.warn(w);
  for (const u of config.listenClientUrls) {
    if (u.protocol !== 'http:') throw new Error(`--listen-client-urls ${u.href}: only http:// URLs are supported by this version of Cairn (TLS is not built yet)`);
  }
  log.info({ dataDir: config.dataDir, listenClientUrls: config.listenClientUrls.map((u) => u.href), advertiseClientUrls: config.advertiseClientUrls, initialCluster: Object.fromEntries(config.initialCluster) }, 'starting member');
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  const workerData: MemberThreadData = { argv: [...argv], env: { ...process.env } };
  const worker = new Worker(path.join(__dirname, 'node', 'member-thread.js'), { workerData });
  const bridge = new CallBridge(worker, {
    inFlightMax: LIMITS.callsInFlightMax,
    streamsMax: LIMITS.streamsOpenMax,
    streamUnwritableBytesMax: LIMITS.streamUnwritableBytesMax,
  });
  let hasLeader = false;
  let stopping = false;

  const ready = await new Promise<Extract<FromMember, { kind: 'ready' }>>((resolve, reject) => {
    worker.on('message', (msg: FromMember | ResultBatch) => {
      switch (msg.kind) {
        case 'results':
          bridge.onResults(msg);
          break;
        case 'ready':
          resolve(msg);
          break;
        case 'leader':
          hasLeader = msg.leader !== '0';
          break;
        case 'fatal':
          reject(new Error(msg.message));
          log.fatal({ reason: msg.message }, 'member stopped on a fatal error');
          process.exit(1);
          break;
        case 'stopped':
          break;
      }
    });
    worker.on('error', (err) => {
      reject(err);
      log.fatal({ err }, 'member thread failed');
      process.exit(1);
    });
    worker.on('exit', (code) => {
      bridge.failAll(Status.UNAVAILABLE, 'etcdserver: server stopped');
      if (!stopping) {
        reject(new Error(`member thread exited with code ${code}`));
        log.fatal({ code }, 'member thread exited');
        process.exit(1);
      }
    });
  });

  const grpc = new GrpcServer({
    maxReceiveMessageBytes: config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    maxSendMessageBytes: 2 ** 31 - 1,
    log: (obj) => log.error(obj, 'gRPC handler failed'),
  });
  // Unary calls to the member from this thread (metrics, health checks, the JSON gateway).
  const methodIndex = new Map(ready.methods.map((m, i) => [m.path, i]));
  const callMember: MemberCaller = (methodPath, request) =>
    new Promise((resolve) => {
      const index = methodIndex.get(methodPath);
      if (index === undefined) return resolve({ code: Status.UNIMPLEMENTED, message: `unknown method ${methodPath}` });
      const accepted = bridge.call(index, request, (code, payload, message) => resolve({ code, payload, message: message ?? undefined }));
      if (!accepted) resolve({ code: Status.RESOURCE_EXHAUSTED, message: 'etcdserver: too many requests' });
    });
  const metrics = new MetricsExposition({ call: callMember, memberIdHex: ready.memberId, serverVersion: ETCD_SERVER_VERSION, bridge });
  ready.methods.forEach((m, method) => {
    // Internal methods are this thread's own; gRPC clients never see them.
    if (m.path.startsWith('/cairnpb.Internal/')) return;
    // Labelled with the method's kind on the wire, as etcd labels it: Lock and Campaign are unary
    // gRPC methods that the member serves as streams (so that a cancelled call can be seen).
    const counter = metrics.grpc.method(m.path, methodByPath(m.path)?.kind ?? m.kind);
    if (m.kind === 'unary') {
      grpc.addMethod(m.path, 'unary', (call, request) => {
        counter.started();
        // clientv3.WithRequireLeader: without a leader, fail at once rather than wait for one (etcd's
        // unary interceptor).
        if (call.metadata['hasleader'] === 'true' && !hasLeader) {
          counter.handled(Status.UNAVAILABLE);
          call.end({ code: Status.UNAVAILABLE, message: 'etcdserver: no leader' });
          return;
        }
        const accepted = bridge.call(method, request, (status, payload, message) => {
          counter.handled(status);
          if (status === Status.OK) call.sendResponse(payload!);
          else call.end({ code: status, message: message ?? '' });
        });
        if (!accepted) {
          counter.handled(Status.RESOURCE_EXHAUSTED);
          call.end({ code: Status.RESOURCE_EXHAUSTED, message: 'etcdserver: too many requests' });
        }
      });
      return;
    }
    const open = (call: ServerCall): StreamHandle | undefined => {
      counter.started();
      let handled = false;
      const ended = (status: number): void => {
        if (handled) return;
        handled = true;
        counter.handled(status);
      };
      const handle = bridge.openStream(
        method,
        {
          send: (payload) => call.sendMessage(payload),
          end: (status, message) => {
            ended(status);
            call.end({ code: status, message: message ?? '' });
          },
        },
        streamMetadata(call),
      );
      if (handle === undefined) {
        ended(Status.RESOURCE_EXHAUSTED);
        call.end({ code: Status.RESOURCE_EXHAUSTED, message: 'etcdserver: too many requests' });
        return undefined;
      }
      call.onCancel(() => {
        ended(Status.CANCELLED);
        handle.cancel();
      });
      call.onDrain(() => handle.drained());
      return handle;
    };
    if (m.kind === 'server-stream') {
      grpc.addMethod(m.path, 'server-stream', (call, request) => {
        const handle = open(call);
        handle?.message(request);
        handle?.halfClose();
      });
    } else {
      grpc.addMethod(m.path, m.kind, (call) => {
        const handle = open(call);
        if (handle === undefined) return;
        call.onMessage((msg) => handle.message(msg));
        call.onHalfClose(() => handle.halfClose());
      });
    }
  });

  const endpoints = {
    hasLeader: () => hasLeader,
    alarms: () => activeAlarms(callMember),
    probes: probeChecks(callMember),
    metrics: () => metrics.scrape(),
  };
  // The JSON gateway on client URLs only; JSON and base64 make a request up to ~1.4x its protobuf size.
  // Its streaming routes open streams in the member like gRPC streams (not counted as gRPC calls).
  const gateway = createGateway({
    call: callMember,
    servedPaths: ready.methods.map((m) => m.path),
    streamedPaths: ready.methods.filter((m) => m.kind !== 'unary').map((m) => m.path),
    openStream: (methodPath, sink, metadata) => {
      const index = methodIndex.get(methodPath);
      return index === undefined ? undefined : bridge.openStream(index, sink, metadata);
    },
    bodyBytesMax: 2 * config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
  });
  const http1 = createHttpHandler({ ...endpoints, gateway });
  const listeners: (ClientListener | MetricsListener)[] = [];
  for (const u of config.listenClientUrls) {
    listeners.push(await createClientListener({ host: listenHost(u), port: Number(u.port), grpc, http1 }));
    log.info({ address: u.href }, 'serving client traffic insecurely; this is strongly discouraged!');
  }
  const metricsHttp = createHttpHandler({ ...endpoints });
  for (const u of config.listenMetricsUrls) {
    if (u.protocol !== 'http:') throw new Error(`--listen-metrics-urls ${u.href}: only http:// URLs are supported by this version of Cairn (TLS is not built yet)`);
    listeners.push(await listenMetrics({ host: listenHost(u), port: Number(u.port), handler: metricsHttp }));
    log.info({ address: u.href }, 'serving metrics insecurely');
  }
  log.info({ memberId: ready.memberId, clusterId: ready.clusterId }, 'ready to serve client requests');

  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'received signal; shutting down');
    const force = setTimeout(() => {
      log.warn('shutdown took too long; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    Promise.all(listeners.map((l) => l.close()))
      .then(
        () =>
          new Promise<void>((resolve) => {
            worker.on('message', (msg: FromMember) => {
              if (msg.kind === 'stopped') resolve();
            });
            worker.postMessage({ kind: 'stop' });
          }),
      )
      .then(() => worker.terminate())
      .then(() => {
        log.info('stopped');
        process.exit(0);
      })
      .catch((err) => {
        log.error({ err }, 'error while shutting down');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
