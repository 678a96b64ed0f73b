/**
 * The closed-loop load runner of one thread: C clients over K connections, each client sending its
 * next request when the previous one completes, until a total count is sent or a duration has
 * passed. Every outcome is counted: successes go to the latency histogram, failures to an error
 * tally keyed by gRPC status and message. Nothing is dropped.
 */
import { performance } from 'node:perf_hooks';
import * as http2 from 'node:http2';
import { BidiCall, GrpcConnection, GrpcStatus, grpcStatusName } from './grpc-client';
import { Histogram, HistogramSnapshot } from './histogram';
import { RETRY_OPERATION, Workload, WorkloadCall } from './workloads';

/** When a run ends: after `totalRequests` requests, or `durationMs` after the warm-up. */
export type StopCondition = { totalRequests: number } | { durationMs: number };

export interface ClosedLoopOptions {
  connections: GrpcConnection[];
  /** Concurrent clients; client i uses connection i mod K. */
  clients: number;
  workload: Workload;
  stop: StopCondition;
  /** Duration mode only: run this long first, counting nothing. Default 0. */
  warmupMs?: number;
  /** A call without an answer after this long is cancelled and counted as DEADLINE_EXCEEDED. Default 10000. */
  callTimeoutMs?: number;
  /** Stops issuing; the run then ends when calls in flight complete. */
  signal?: AbortSignal;
  /** Called about once a second with the measured completions so far. */
  onProgress?: (completed: number) => void;
  /** Called when the measured window opens (at once, or after the warm-up). */
  onWindowStart?: () => void;
  /**
   * Open loop: requests are scheduled at this fixed rate (per second, this thread) whatever the
   * answers, and each latency is measured from the request's scheduled send time, so time spent
   * waiting for a free client (queueing) counts (no coordinated omission). `clients` caps the
   * calls in flight. Default: closed loop.
   */
  ratePerSec?: number;
}

export interface LoadResult {
  /** Successful calls in the measured window. */
  okCount: number;
  /** Failed calls in the measured window (sum of `errors`). */
  errorCount: number;
  /** `STATUS: message` → count. */
  errors: Record<string, number>;
  /** Latency of successful calls, µs. */
  histogram: HistogramSnapshot;
  /** From the start of the measured window to the last completion, ms. */
  elapsedMs: number;
  /** Connections that broke during the run (their clients stopped). */
  connectionsLost: number;
  /** Operations that must be retried (an STM commit whose compares failed): counted, not errors, not completions. */
  conflicts: number;
  /** Successful completions per `TIMELINE_INTERVAL_MS` from the start of the measured window (at most `TIMELINE_MAX_INTERVALS`). */
  timeline: number[];
  /** Failed calls per interval, as `timeline`. */
  errorTimeline: number[];
}

/** The width of one throughput-over-time sample. */
export const TIMELINE_INTERVAL_MS = 250;
/** Timelines stop growing after this many intervals (an hour); later completions are still counted in the totals. */
export const TIMELINE_MAX_INTERVALS = 14_400;

/** Adds one to `timeline[slot]` for the completion at `elapsedMs` into the window (bounded, see `TIMELINE_MAX_INTERVALS`). */
export function countInTimeline(timeline: number[], elapsedMs: number, n = 1): void {
  const slot = Math.floor(Math.max(0, elapsedMs) / TIMELINE_INTERVAL_MS);
  if (slot >= TIMELINE_MAX_INTERVALS) return;
  while (timeline.length <= slot) timeline.push(0);
  timeline[slot]! += n;
}

function addTimelines(into: number[], from: number[]): void {
  for (let i = 0; i < from.length && i < TIMELINE_MAX_INTERVALS; i++) {
    while (into.length <= i) into.push(0);
    into[i]! += from[i]!;
  }
}

const SWEEP_INTERVAL_MS = 250;
const PROGRESS_INTERVAL_MS = 1000;

/** Runs one closed-loop load in this thread. */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<LoadResult> {
  const { connections, clients, workload, stop } = options;
  const warmupMs = 'durationMs' in stop ? (options.warmupMs ?? 0) : 0;
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  if (connections.length === 0) throw new RangeError('no connections');
  if (!Number.isSafeInteger(clients) || clients < 1) throw new RangeError(`clients must be a positive integer, got ${clients}`);
  const totalRequests = 'totalRequests' in stop ? stop.totalRequests : Infinity;
  if ('totalRequests' in stop && !(Number.isSafeInteger(totalRequests) && totalRequests >= 0)) throw new RangeError(`total must be a non-negative integer, got ${totalRequests}`);
  const rate = options.ratePerSec;
  if (rate !== undefined && !(Number.isFinite(rate) && rate > 0)) throw new RangeError(`rate must be a positive number, got ${rate}`);
  if (workload.prepare !== undefined) {
    const prepare = workload.prepare.bind(workload);
    await Promise.all(Array.from({ length: clients }, (_, c) => prepare(c, connections[c % connections.length]!)));
  }

  return new Promise((resolve) => {
    const histogram = new Histogram();
    const errors: Record<string, number> = {};
    const startedAtMs = new Float64Array(clients);
    const sentAtMs = new Float64Array(clients);
    const calls: (WorkloadCall | null)[] = new Array(clients).fill(null);
    // Streaming workloads: one bidi call per client, and the callback awaiting its next response.
    const bidis: (BidiCall | null)[] = new Array(clients).fill(null);
    const awaiting: (((status: number, message: string, response: Buffer | null) => void) | null)[] = new Array(clients).fill(null);
    // Open loop: scheduled slots handed out so far, and clients waiting for the next slot.
    const rateStartMs = performance.now();
    let slotsTaken = 0;
    const idle: number[] = [];
    let tickerArmed = false;
    const streams: (http2.ClientHttp2Stream | null)[] = new Array(clients).fill(null);
    const timedOut = new Uint8Array(clients);
    const lostConnections = new Set<GrpcConnection>();
    let measuring = warmupMs === 0;
    let windowStartMs = performance.now();
    let lastCompletionMs = windowStartMs;
    let okCount = 0;
    let errorCount = 0;
    let conflicts = 0;
    const timeline: number[] = [];
    const errorTimeline: number[] = [];
    // Multi-call operations (STM): the client is in the middle of one, whose start time is kept.
    const continuing = new Uint8Array(clients);
    let issued = 0;
    let inFlight = 0;
    let stopping = false;
    let finished = false;
    const timers: NodeJS.Timeout[] = [];

    const countError = (key: string): void => {
      errors[key] = (errors[key] ?? 0) + 1;
      errorCount++;
      countInTimeline(errorTimeline, lastCompletionMs - windowStartMs);
    };

    const finish = (): void => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      for (const b of bidis) b?.end();
      options.signal?.removeEventListener('abort', beginStop);
      resolve({ okCount, errorCount, errors, histogram: histogram.snapshot(), elapsedMs: lastCompletionMs - windowStartMs, connectionsLost: lostConnections.size, conflicts, timeline, errorTimeline });
    };

    function beginStop(): void {
      stopping = true;
      if (inFlight === 0) finish();
    }

    /** Sends `request` for `client` on its connection: a unary call, or a message on the client's bidi stream. */
    const send = (client: number, connection: GrpcConnection, path: string, request: Buffer, done: (status: number, message: string, response: Buffer | null) => void): http2.ClientHttp2Stream | null => {
      if (workload.streaming !== true) return connection.unary(path, request, done);
      let bidi = bidis[client];
      if (bidi === null || bidi === undefined) {
        bidi = connection.bidi(path, {
          onMessage: (message) => {
            const cb = awaiting[client];
            awaiting[client] = null;
            if (cb !== null && cb !== undefined) cb(GrpcStatus.OK, '', message);
            else countError('BAD_RESPONSE: unsolicited message on the stream');
          },
          onEnd: (status, message) => {
            bidis[client] = null;
            const cb = awaiting[client];
            awaiting[client] = null;
            if (cb !== null && cb !== undefined) cb(status === GrpcStatus.OK ? GrpcStatus.INTERNAL : status, status === GrpcStatus.OK ? 'stream ended before the response' : message, null);
          },
        });
        if (bidi === null) {
          done(GrpcStatus.UNAVAILABLE, connection.lost ?? 'connection lost', null);
          return null;
        }
        bidis[client] = bidi;
      }
      awaiting[client] = done;
      if (!bidi.send(request)) {
        awaiting[client] = null;
        done(GrpcStatus.UNAVAILABLE, 'stream already ended', null);
        return null;
      }
      return bidi.stream;
    };

    const tick = (): void => {
      tickerArmed = false;
      if (rate === undefined) return;
      const due = Math.floor(((performance.now() - rateStartMs) * rate) / 1000) + 1;
      while (idle.length > 0 && slotsTaken < due && !stopping) issue(idle.shift()!);
      if (idle.length > 0 && !stopping) armTicker();
    };
    const armTicker = (): void => {
      if (tickerArmed || rate === undefined) return;
      tickerArmed = true;
      const nextSlotMs = rateStartMs + (slotsTaken * 1000) / rate;
      timers.push(setTimeout(tick, Math.max(0, nextSlotMs - performance.now())));
    };

    const issue = (client: number): void => {
      const cont = continuing[client] === 1;
      if (stopping || (!cont && issued >= totalRequests)) {
        if (inFlight === 0) finish();
        return;
      }
      const connection = connections[client % connections.length]!;
      if (connection.lost !== null) {
        lostConnections.add(connection);
        if (inFlight === 0 && lostConnections.size === connections.length) finish();
        return;
      }
      const nowMs = performance.now();
      let scheduledMs = nowMs;
      if (rate !== undefined && !cont) {
        const due = Math.floor(((nowMs - rateStartMs) * rate) / 1000) + 1;
        if (slotsTaken >= due) {
          idle.push(client);
          armTicker();
          return;
        }
        scheduledMs = rateStartMs + (slotsTaken * 1000) / rate;
        slotsTaken++;
      }
      if (!cont) issued++;
      inFlight++;
      let path = workload.path;
      let request: Buffer;
      if (workload.nextCall !== undefined) {
        const call = workload.nextCall(client);
        calls[client] = call;
        path = call.path;
        request = call.request;
      } else request = workload.next();
      if (!cont) startedAtMs[client] = scheduledMs;
      continuing[client] = 0;
      sentAtMs[client] = nowMs;
      streams[client] = send(client, connection, path, request, (status, message, response) => {
        const endMs = performance.now();
        inFlight--;
        streams[client] = null;
        const call = calls[client];
        calls[client] = null;
        if (status !== GrpcStatus.OK) call?.failed?.();
        const problem = status === GrpcStatus.OK ? (call !== null && call !== undefined ? call.verify(response!) : workload.verify(response!)) : null;
        if (status === GrpcStatus.OK && ((problem === null && call?.partial === true) || problem === RETRY_OPERATION)) {
          // The operation goes on (its next step, or again from its first after a conflict).
          if (problem === RETRY_OPERATION && measuring) conflicts++;
          continuing[client] = 1;
          issue(client);
          return;
        }
        if (measuring) {
          lastCompletionMs = endMs;
          if (status === GrpcStatus.OK) {
            if (problem === null) {
              okCount++;
              histogram.record((endMs - startedAtMs[client]!) * 1000);
              countInTimeline(timeline, endMs - windowStartMs);
            } else countError(`BAD_RESPONSE: ${problem}`);
          } else if (timedOut[client] === 1) {
            countError(`DEADLINE_EXCEEDED: no answer within ${callTimeoutMs} ms (client-side timeout)`);
          } else countError(`${grpcStatusName(status)}: ${message}`);
        }
        timedOut[client] = 0;
        issue(client);
      });
    };

    const sweep = (): void => {
      const nowMs = performance.now();
      for (let c = 0; c < clients; c++) {
        const stream = streams[c];
        if (stream !== null && stream !== undefined && timedOut[c] === 0 && nowMs - sentAtMs[c]! > callTimeoutMs) {
          timedOut[c] = 1;
          stream.close(http2.constants.NGHTTP2_CANCEL);
        }
      }
      timers.push(setTimeout(sweep, SWEEP_INTERVAL_MS));
    };
    timers.push(setTimeout(sweep, SWEEP_INTERVAL_MS));

    if (options.onProgress !== undefined) {
      const onProgress = options.onProgress;
      const progress = (): void => {
        onProgress(okCount + errorCount);
        timers.push(setTimeout(progress, PROGRESS_INTERVAL_MS));
      };
      timers.push(setTimeout(progress, PROGRESS_INTERVAL_MS));
    }

    if ('durationMs' in stop) {
      timers.push(
        setTimeout(() => {
          measuring = true;
          options.onWindowStart?.();
          windowStartMs = performance.now();
          lastCompletionMs = windowStartMs;
          timers.push(setTimeout(beginStop, stop.durationMs));
        }, warmupMs),
      );
    }
    if (options.signal !== undefined) {
      if (options.signal.aborted) stopping = true;
      options.signal.addEventListener('abort', beginStop);
    }

    if (measuring) options.onWindowStart?.();
    for (let c = 0; c < clients; c++) issue(c);
    if (inFlight === 0) finish();
  });
}

/** Merges the results of runs made side by side (worker threads): counts add, elapsed is the longest. */
export function mergeLoadResults(results: LoadResult[]): LoadResult {
  const histogram = new Histogram();
  const errors: Record<string, number> = {};
  let okCount = 0;
  let errorCount = 0;
  let elapsedMs = 0;
  let connectionsLost = 0;
  let conflicts = 0;
  const timeline: number[] = [];
  const errorTimeline: number[] = [];
  for (const r of results) {
    conflicts += r.conflicts;
    addTimelines(timeline, r.timeline);
    addTimelines(errorTimeline, r.errorTimeline);
    histogram.add(r.histogram);
    for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n;
    okCount += r.okCount;
    errorCount += r.errorCount;
    elapsedMs = Math.max(elapsedMs, r.elapsedMs);
    connectionsLost += r.connectionsLost;
  }
  return { okCount, errorCount, errors, histogram: histogram.snapshot(), elapsedMs, connectionsLost, conflicts, timeline, errorTimeline };
}
