/**
 * Single calls outside a load: one put (scenario set-up), and waiting until a server answers a range
 * on a key (how long a restart takes, as a client sees it).
 */
import * as http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { GrpcConnection, GrpcStatus, grpcStatusName } from './grpc-client';
import { decodeRangeSummary, encodePutRequest, encodeRangeRequest, KV_PUT_PATH, KV_RANGE_PATH } from './messages';

export interface UnaryOutcome {
  status: number;
  message: string;
  response: Buffer | null;
}

/** One unary call as a promise; cancelled (CANCELLED) when there is no answer within `timeoutMs`. */
export function callOnce(connection: GrpcConnection, path: string, request: Uint8Array, timeoutMs = 10_000): Promise<UnaryOutcome> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const stream = connection.unary(path, request, (status, message, response) => {
      clearTimeout(timer);
      resolve({ status, message: status === GrpcStatus.CANCELLED ? `no answer within ${timeoutMs} ms` : message, response });
    });
    if (stream !== null) timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), timeoutMs);
  });
}

/** Puts one key. @throws Error with the gRPC status when the put fails. */
export async function putOnce(url: string, key: Buffer, value: Buffer): Promise<void> {
  const connection = await GrpcConnection.connect(url);
  try {
    const outcome = await callOnce(connection, KV_PUT_PATH, encodePutRequest({ key, value }));
    if (outcome.status !== GrpcStatus.OK) throw new Error(`put ${key.toString('latin1')} on ${url} failed: ${grpcStatusName(outcome.status)}: ${outcome.message}`);
  } finally {
    await connection.close();
  }
}

const RETRY_DELAY_MS = 10;

/**
 * Waits until a linearizable range on `key` at `url` returns exactly one key-value, retrying
 * connection failures and error answers every 10 ms. Resolves with the time it first did
 * (`performance.now()` ms). @throws Error after `timeoutMs`, with the last failure.
 */
export async function waitForRangeAnswer(url: string, key: Buffer, timeoutMs: number): Promise<number> {
  const deadlineMs = performance.now() + timeoutMs;
  const request = encodeRangeRequest({ key });
  let lastFailure = 'no attempt';
  let connection: GrpcConnection | null = null;
  try {
    while (performance.now() < deadlineMs) {
      if (connection === null || connection.lost !== null) {
        connection?.destroy();
        connection = null;
        try {
          connection = await GrpcConnection.connect(url, { connectTimeoutMs: 1000 });
        } catch (err) {
          lastFailure = (err as Error).message;
          await sleep(RETRY_DELAY_MS);
          continue;
        }
      }
      const outcome = await callOnce(connection, KV_RANGE_PATH, request, Math.max(1, deadlineMs - performance.now()));
      if (outcome.status === GrpcStatus.OK) {
        const { kvsLength } = decodeRangeSummary(outcome.response!);
        if (kvsLength === 1) return performance.now();
        lastFailure = `range answered with ${kvsLength} kvs`;
      } else lastFailure = `${grpcStatusName(outcome.status)}: ${outcome.message}`;
      await sleep(RETRY_DELAY_MS);
    }
    throw new Error(`${url} did not answer a range on ${key.toString('latin1')} within ${timeoutMs} ms (last: ${lastFailure})`);
  } finally {
    connection?.destroy();
  }
}
