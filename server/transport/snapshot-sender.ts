/**
 * Sends one MsgSnap to a peer on a connection of its own (so heartbeats and appends never wait
 * behind it), in checksummed chunks written as the stream drains, and settles with the receiver's
 * verdict: true once it has verified and delivered the snapshot, false on refusal, error, idle
 * timeout or abort.
 */
import * as http2 from 'node:http2';
import { crc32c } from '../wal/crc32c';
import { Message } from '../raft/types';
import { TransportLimits, TransportLogger } from './limits';
import { encodeChunkHeader, encodeSnapshotHead } from './snapshot-stream';
import { HEADER_ERROR, HEADER_SNAPSHOT_BYTES, PATH_SNAPSHOT } from './wire';

export interface SnapshotSendOptions {
  readonly url: string;
  /** streamHeaders(...) for this sender and peer. */
  readonly headers: Record<string, string>;
  readonly message: Message;
  readonly limits: TransportLimits;
  readonly log: TransportLogger;
  /** Log fields naming the peer. */
  readonly logFields: object;
}

/** A transfer in progress: `result` settles once; `abort()` ends it with false. */
export interface SnapshotTransfer {
  readonly result: Promise<boolean>;
  abort(): void;
}

export function sendSnapshot(opts: SnapshotSendOptions): SnapshotTransfer {
  const snapshot = opts.message.snapshot;
  if (snapshot === undefined) throw new TypeError('sendSnapshot: MsgSnap without a snapshot');
  const data = snapshot.data;
  let settle!: (ok: boolean) => void;
  const result = new Promise<boolean>((resolve) => (settle = resolve));
  let done = false;
  let session: http2.ClientHttp2Session | undefined;
  const startedMs = Date.now();

  const finish = (ok: boolean, reason?: unknown): void => {
    if (done) return;
    done = true;
    session?.destroy();
    const fields = { ...opts.logFields, snapshotIndex: snapshot.metadata.index, bytes: data.length, ms: Date.now() - startedMs };
    if (ok) opts.log.info(fields, 'sent snapshot; the peer verified and took it');
    else opts.log.warn({ ...fields, err: reason instanceof Error ? reason.message : String(reason) }, 'failed to send snapshot');
    settle(ok);
  };

  try {
    session = http2.connect(opts.url, { maxSessionMemory: 64 });
  } catch (err) {
    finish(false, err);
    return { result, abort: () => undefined };
  }
  session.on('error', (err) => finish(false, err));
  session.on('close', () => finish(false, 'connection closed before the peer answered'));
  const stream = session.request({ ':method': 'POST', ':path': PATH_SNAPSHOT, ...opts.headers, [HEADER_SNAPSHOT_BYTES]: String(data.length) });
  stream.setTimeout(opts.limits.snapshotIdleTimeoutMs, () => finish(false, `no progress for ${opts.limits.snapshotIdleTimeoutMs} ms`));
  stream.on('response', (headers) => {
    const status = headers[':status'];
    if (status === 200) finish(true);
    else finish(false, `peer refused the snapshot: ${status} ${String(headers[HEADER_ERROR] ?? '')}`);
  });
  stream.on('error', (err) => finish(false, err));
  stream.on('close', () => finish(false, 'stream closed before the peer answered'));
  stream.resume();

  const chunkBytes = opts.limits.snapshotChunkBytes;
  let offset = 0;
  let totalCrc = 0;
  stream.write(encodeSnapshotHead(opts.message));
  const pump = (): void => {
    while (!done && offset < data.length) {
      const end = Math.min(offset + chunkBytes, data.length);
      const crc = crc32c(data, offset, end);
      totalCrc = crc32c(data, offset, end, totalCrc);
      stream.write(encodeChunkHeader(end - offset, crc));
      const more = stream.write(Buffer.from(data.buffer, data.byteOffset + offset, end - offset));
      offset = end;
      if (!more) {
        stream.once('drain', pump);
        return;
      }
    }
    if (!done) stream.end(encodeChunkHeader(0, totalCrc));
  };
  pump();
  return { result, abort: () => finish(false, 'aborted') };
}
