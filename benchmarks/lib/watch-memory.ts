/**
 * The watch-memory scenario: how much server memory an idle watcher costs. On a freshly started
 * server (one target at a time, nothing else running), opens S watch streams and creates W watchers
 * on W distinct keys (none of which is ever written), waits until every watcher is confirmed
 * (`created`), lets the server settle, and reports the growth of its RSS divided by W. RSS is
 * VmRSS from /proc (summed over the members of a cluster); the baseline is taken with the
 * connections open but no stream yet.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { BidiCall, connectAll, grpcStatusName } from './grpc-client';
import { Instance, Lab } from './lab';
import { decodeWatchResponse, encodeWatchCreateRequest, WATCH_PATH } from './messages';
import { readProcessMemory } from './proc-stats';

export interface WatchMemoryTargetResult {
  target: string;
  watchers: number;
  streams: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** (after − before) / watchers. */
  bytesPerWatcher: number;
  /** First create sent → last `created` received, ms. */
  createMs: number;
  errors: Record<string, number>;
}

export interface WatchMemoryScenarioResult {
  kind: 'watch-memory';
  name: 'watch-memory';
  title: string;
  targets: WatchMemoryTargetResult[];
}

export interface WatchMemoryOptions {
  watchers: number;
  streams: number;
  /** HTTP/2 connections the streams are spread over. */
  connections: number;
  /** Wait after the last `created` before reading RSS, ms. */
  settleMs: number;
  /** Bound on creating every watcher, ms. */
  createTimeoutMs: number;
  signal?: AbortSignal;
  log: (line: string) => void;
}

export const WATCH_MEMORY_PREFIX = 'bench-wm/';

function rssOf(instance: Instance): number {
  const pids = Lab.pids(instance);
  if (pids.length === 0) return NaN;
  return pids.reduce((a, pid) => a + readProcessMemory(pid).rssBytes, 0);
}

export function validateWatchMemory(options: Pick<WatchMemoryOptions, 'watchers' | 'streams' | 'connections'>): void {
  for (const [name, v] of [['watch-memory watchers', options.watchers], ['watch-memory streams', options.streams], ['watch-memory connections', options.connections]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  if (options.streams > options.watchers) throw new RangeError(`watch-memory streams (${options.streams}) must be at most watchers (${options.watchers})`);
}

/** Measures one target's instance (already started, otherwise idle). */
export async function measureWatchMemory(instance: Instance, options: WatchMemoryOptions): Promise<WatchMemoryTargetResult> {
  validateWatchMemory(options);
  const connections = await connectAll(instance.urls, Math.min(options.connections, options.streams));
  const errors: Record<string, number> = {};
  const countError = (k: string): void => {
    errors[k] = (errors[k] ?? 0) + 1;
  };
  const calls: BidiCall[] = [];
  let closing = false;
  try {
    await sleep(options.settleMs);
    const rssBeforeBytes = rssOf(instance);
    let created = 0;
    let failed: Error | null = null;
    const startMs = performance.now();
    let lastCreatedMs = startMs;
    const perStream = Math.floor(options.watchers / options.streams);
    const extra = options.watchers % options.streams;
    let next = 0;
    for (let s = 0; s < options.streams; s++) {
      const share = perStream + (s < extra ? 1 : 0);
      const call = connections[s % connections.length]!.bidi(WATCH_PATH, {
        onMessage: (message) => {
          const r = decodeWatchResponse(message);
          if (r.created) {
            created++;
            lastCreatedMs = performance.now();
          }
          if (r.canceled) {
            countError(`WATCH_CANCELED: ${r.cancelReason}`);
            failed ??= new Error(`watch canceled: ${r.cancelReason}`);
          }
        },
        onEnd: (status, message) => {
          if (closing) return;
          countError(`WATCH_STREAM_ENDED: ${grpcStatusName(status)}: ${message}`);
          failed ??= new Error(`watch stream ended: ${grpcStatusName(status)}: ${message}`);
        },
      });
      if (call === null) throw new Error(`cannot open a watch stream on ${instance.url}`);
      calls.push(call);
      for (let w = 0; w < share; w++) call.send(encodeWatchCreateRequest(Buffer.from(`${WATCH_MEMORY_PREFIX}${String(next++).padStart(8, '0')}`, 'latin1')));
      if (s % 16 === 15) await sleep(0); // let responses in between streams
    }
    const deadline = startMs + options.createTimeoutMs;
    let lastLog = startMs;
    while (created < options.watchers && failed === null && performance.now() < deadline) {
      if (options.signal?.aborted === true) throw new Error('interrupted');
      await sleep(20);
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now();
        options.log(`[watch-memory] ${instance.target.name}: ${created.toLocaleString('en-US')} of ${options.watchers.toLocaleString('en-US')} watchers created`);
      }
    }
    if (failed !== null) throw failed;
    if (created < options.watchers) throw new Error(`${instance.target.name}: only ${created} of ${options.watchers} watchers created within ${options.createTimeoutMs} ms`);
    const createMs = lastCreatedMs - startMs;
    await sleep(options.settleMs);
    const rssAfterBytes = rssOf(instance);
    return {
      target: instance.target.name,
      watchers: options.watchers,
      streams: options.streams,
      rssBeforeBytes,
      rssAfterBytes,
      bytesPerWatcher: (rssAfterBytes - rssBeforeBytes) / options.watchers,
      createMs,
      errors,
    };
  } finally {
    closing = true;
    for (const c of calls) c.cancel();
    await Promise.all(connections.map((c) => c.close()));
  }
}

/** Starts each target fresh (one at a time), measures it, stops it. */
export async function runWatchMemoryScenario(lab: Lab, targets: Parameters<Lab['start']>[0][], startOptions: Parameters<Lab['start']>[2], options: WatchMemoryOptions): Promise<WatchMemoryScenarioResult> {
  const results: WatchMemoryTargetResult[] = [];
  for (const target of targets) {
    if (options.signal?.aborted === true) throw new Error('interrupted');
    const instance = await lab.start(target, `${target.name}-watch-memory`, startOptions);
    try {
      options.log(`[watch-memory] ${target.name}: creating ${options.watchers.toLocaleString('en-US')} watchers over ${options.streams} streams`);
      const r = await measureWatchMemory(instance, options);
      results.push(r);
      options.log(`[watch-memory] ${target.name}: RSS ${Math.round(r.rssBeforeBytes / 2 ** 20)} → ${Math.round(r.rssAfterBytes / 2 ** 20)} MiB, ${Math.round(r.bytesPerWatcher)} B per watcher, created in ${(r.createMs / 1000).toFixed(1)} s`);
    } finally {
      await lab.stop(instance);
    }
  }
  return {
    kind: 'watch-memory',
    name: 'watch-memory',
    title: `watch-memory: ${options.watchers.toLocaleString('en-US')} idle watchers on distinct keys over ${options.streams} streams (${Math.min(options.connections, options.streams)} connections); RSS growth per watcher, fresh server each`,
    targets: results,
  };
}
