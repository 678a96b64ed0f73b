/**
 * Watch fan-out: W watchers on one key, spread over S watch streams (bidi calls, over up to
 * `connections` connections), while a separate connection puts that key at a fixed rate P (open
 * loop: put k is scheduled at start + k/P whatever the answers). Each put's value starts with its
 * scheduled send time (float64, this process's `performance.now()`), so every event delivered gives
 * a put-to-event latency, queueing included. Reported: events delivered (okCount; per second), the
 * latency histogram, and errors: failed puts, watch streams that end, and events that never arrived
 * (`MISSING_EVENTS`: W × puts acknowledged in the window − events received, after a drain).
 * Runs in the calling thread (watchers and putter must share a clock).
 */
import { performance } from 'node:perf_hooks';
import { BidiCall, connectAll, endpointList, GrpcConnection, GrpcStatus, grpcStatusName } from './grpc-client';
import { countInTimeline } from './closed-loop';
import { Histogram } from './histogram';
import type { LoadPlan, LoadRunOptions, MeasuredLoad } from './load';
import { decodeWatchResponse, encodePutRequest, encodeWatchCreateRequest, KV_PUT_PATH, WATCH_PATH } from './messages';
import { randomPrintable, WatchWorkloadSpec } from './workloads';

const CREATE_TIMEOUT_MS = 10_000;
const DRAIN_TIMEOUT_MS = 5_000;
const PUT_TIMEOUT_MS = 10_000;

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function splitEvenly(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

export function validateWatchSpec(spec: WatchWorkloadSpec): void {
  for (const [name, v] of [['watchers', spec.watchers], ['watch streams', spec.streams]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  if (spec.streams > spec.watchers) throw new RangeError(`watch streams (${spec.streams}) must be at most watchers (${spec.watchers})`);
  if (!(Number.isFinite(spec.putRate) && spec.putRate > 0)) throw new RangeError(`watch put rate must be a positive number, got ${spec.putRate}`);
  if (!Number.isSafeInteger(spec.valueSize) || spec.valueSize < 8) throw new RangeError(`watch value size must be at least 8 bytes (the timestamp), got ${spec.valueSize}`);
  if (spec.key.length === 0) throw new RangeError('watch key must not be empty');
}

export async function runWatchLoad(plan: LoadPlan & { workload: WatchWorkloadSpec }, options: LoadRunOptions = {}): Promise<MeasuredLoad> {
  const spec = plan.workload;
  validateWatchSpec(spec);
  const stop = plan.stop;
  const warmupMs = 'durationMs' in stop ? (plan.warmupMs ?? 0) : 0;
  const totalPuts = 'totalRequests' in stop ? stop.totalRequests : Infinity;
  const watchConnections = await connectAll(plan.url, Math.max(1, Math.min(plan.connections, spec.streams)), { connectTimeoutMs: plan.connectTimeoutMs });
  let putConnection: GrpcConnection;
  try {
    putConnection = await GrpcConnection.connect(endpointList(plan.url)[0]!, { connectTimeoutMs: plan.connectTimeoutMs });
  } catch (err) {
    for (const c of watchConnections) c.destroy();
    throw err;
  }
  const key = Buffer.from(spec.key, 'latin1');
  const histogram = new Histogram();
  const errors: Record<string, number> = {};
  let errorCount = 0;
  const countError = (what: string, n = 1): void => {
    errors[what] = (errors[what] ?? 0) + n;
    errorCount += n;
    if (Number.isFinite(windowStartMs)) countInTimeline(errorTimeline, performance.now() - windowStartMs, n);
  };
  let windowStartMs = Infinity;
  let lastEventMs = 0;
  let received = 0;
  let closing = false;
  const timeline: number[] = [];
  const errorTimeline: number[] = [];
  const calls: BidiCall[] = [];
  try {
    // 1. Watch streams and watchers.
    let created = 0;
    let onCreated: (() => void) | null = null;
    let onCreateFailed: ((err: Error) => void) | null = null;
    const allCreated = new Promise<void>((resolve, reject) => {
      onCreated = resolve;
      onCreateFailed = reject;
    });
    const shares = splitEvenly(spec.watchers, spec.streams);
    for (const [s, share] of shares.entries()) {
      const call = watchConnections[s % watchConnections.length]!.bidi(WATCH_PATH, {
        onMessage: (message) => {
          const nowMs = performance.now();
          let response;
          try {
            response = decodeWatchResponse(message);
          } catch (err) {
            countError(`BAD_RESPONSE: undecodable WatchResponse (${(err as Error).message})`);
            return;
          }
          if (response.created && ++created === spec.watchers) onCreated?.();
          if (response.canceled) {
            countError(`WATCH_CANCELED: ${response.cancelReason}`);
            onCreateFailed?.(new Error(`watch canceled: ${response.cancelReason}`));
          }
          for (const value of response.values) {
            if (value.length < 8) {
              countError('BAD_RESPONSE: event value without a timestamp');
              continue;
            }
            const sentMs = value.readDoubleLE(0);
            if (sentMs < windowStartMs) continue; // a warm-up put
            received++;
            lastEventMs = nowMs;
            countInTimeline(timeline, nowMs - windowStartMs);
            histogram.record(Math.max(0, nowMs - sentMs) * 1000);
          }
        },
        onEnd: (status, message) => {
          if (closing) return;
          countError(`WATCH_STREAM_ENDED: ${grpcStatusName(status)}: ${message}`);
          onCreateFailed?.(new Error(`watch stream ended: ${grpcStatusName(status)}: ${message}`));
        },
      });
      if (call === null) throw new Error(`cannot open a watch stream on ${endpointList(plan.url).join(", ")}`);
      calls.push(call);
      for (let w = 0; w < share; w++) call.send(encodeWatchCreateRequest(key));
    }
    let createTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      allCreated,
      new Promise<never>((_, reject) => {
        createTimer = setTimeout(() => reject(new Error(`only ${created} of ${spec.watchers} watchers created within ${CREATE_TIMEOUT_MS} ms`)), CREATE_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(createTimer));
    onCreateFailed = null;

    // 2. Puts at a fixed rate, from their own connection.
    const padding = randomPrintable(spec.valueSize);
    const rate = spec.putRate;
    const startMs = performance.now();
    let cpuStart = cpuMicros();
    let slots = 0;
    let putsInFlight = 0;
    let putsOk = 0;
    let stopping = false;
    let lastPutDoneMs = startMs;
    if (warmupMs === 0) {
      windowStartMs = startMs;
      options.onWindowStart?.();
    }
    const progress = options.onProgress === undefined ? null : setInterval(() => options.onProgress!(received), 1000);
    await new Promise<void>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      const maybeDone = (): void => {
        if (stopping && putsInFlight === 0) {
          for (const t of timers) clearTimeout(t);
          resolve();
        }
      };
      const put = (scheduledMs: number): void => {
        const value = Buffer.from(padding);
        value.writeDoubleLE(scheduledMs, 0);
        putsInFlight++;
        let timer: NodeJS.Timeout | undefined;
        const stream = putConnection.unary(KV_PUT_PATH, encodePutRequest({ key, value }), (status, message) => {
          clearTimeout(timer);
          putsInFlight--;
          lastPutDoneMs = performance.now();
          if (scheduledMs >= windowStartMs) {
            if (status === GrpcStatus.OK) putsOk++;
            else countError(`PUT ${grpcStatusName(status)}: ${status === GrpcStatus.CANCELLED ? `no answer within ${PUT_TIMEOUT_MS} ms` : message}`);
          }
          maybeDone();
        });
        if (stream !== null) timer = setTimeout(() => stream.close(0x8), PUT_TIMEOUT_MS);
      };
      const tick = (): void => {
        const nowMs = performance.now();
        const due = Math.min(totalPuts, Math.floor(((nowMs - startMs) * rate) / 1000) + 1);
        while (slots < due && !stopping) put(startMs + (slots++ * 1000) / rate);
        if (slots >= totalPuts) stopping = true;
        if (stopping) return maybeDone();
        timers.push(setTimeout(tick, Math.max(0, startMs + (slots * 1000) / rate - performance.now())));
      };
      if ('durationMs' in stop) {
        timers.push(
          setTimeout(() => {
            if (warmupMs > 0) {
              windowStartMs = performance.now();
              cpuStart = cpuMicros();
              options.onWindowStart?.();
            }
            timers.push(
              setTimeout(() => {
                stopping = true;
                maybeDone();
              }, stop.durationMs),
            );
          }, warmupMs),
        );
      }
      const onAbort = (): void => {
        stopping = true;
        maybeDone();
      };
      if (options.signal?.aborted === true) stopping = true;
      options.signal?.addEventListener('abort', onAbort, { once: true });
      tick();
    });

    // 3. Drain: every acknowledged put in the window should reach every watcher.
    const expected = putsOk * spec.watchers;
    const drainUntil = performance.now() + DRAIN_TIMEOUT_MS;
    while (received < expected && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 5));
    if (progress !== null) clearInterval(progress);
    if (received < expected) countError(`MISSING_EVENTS: events not delivered within ${DRAIN_TIMEOUT_MS} ms of the last put`, expected - received);
    if (received > expected) countError('BAD_RESPONSE: more events than puts × watchers', received - expected);
    const generatorCpuMicros = cpuMicros() - cpuStart;
    const endMs = Math.max(lastEventMs, lastPutDoneMs);
    return {
      okCount: Math.min(received, expected),
      errorCount,
      errors,
      histogram: histogram.snapshot(),
      elapsedMs: Number.isFinite(windowStartMs) ? Math.max(0, endMs - windowStartMs) : 0,
      connectionsLost: [...watchConnections, putConnection].filter((c) => c.lost !== null).length,
      workers: 0,
      generatorCpuMicros,
      conflicts: 0,
      timeline,
      errorTimeline,
    };
  } finally {
    closing = true;
    for (const c of calls) c.end();
    await Promise.all([...watchConnections, putConnection].map((c) => c.close()));
  }
}
