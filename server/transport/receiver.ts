/**
 * The receiving side: answers the peer streams that arrive on our listeners. It checks every
 * stream's headers (protocol, cluster ID, recipient, known sender) before reading a byte, then
 * decodes frames and hands messages to `onMessage` in the order they were sent on that stream.
 * Snapshots are reassembled and verified (snapshot-stream.ts) before they are delivered.
 */
import * as http2 from 'node:http2';
import { Message, MessageType } from '../raft/types';
import { decodeMessage } from './codec';
import { FrameReader } from './framing';
import { TransportLimits, TransportLogger } from './limits';
import { SnapshotAssembler } from './snapshot-stream';
import {
  formatId,
  HEADER_CLUSTER_ID,
  HEADER_ERROR,
  HEADER_FROM,
  HEADER_PROTOCOL,
  HEADER_SNAPSHOT_BYTES,
  HEADER_TO,
  LaneKind,
  parseId,
  PATH_MEMBERS,
  PATH_PROMOTE_PREFIX,
  PATH_SNAPSHOT,
  PATH_STREAM_APP,
  PATH_STREAM_MSG,
  PROTOCOL_VERSION,
} from './wire';

/** Frames up to this size (no entries worth a copy of their own) are decoded with per-field copies. */
const SMALL_FRAME_BYTES = 64;

export interface ReceiverOptions {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly isKnownPeer: (id: bigint) => boolean;
  /** Members removed from the cluster: answered 410 (Gone), so that they stop. */
  readonly isRemovedPeer?: (id: bigint) => boolean;
  readonly onMessage: (m: Message) => void;
  readonly limits: TransportLimits;
  readonly log: TransportLogger;
  /** The member list that `GET /members` answers with (absent: 404). */
  readonly members?: () => unknown;
  /** Promotes a learner for a follower that forwarded MemberPromote (absent: 404). */
  readonly promote?: (id: bigint) => Promise<unknown>;
}

export class Receiver {
  /** The current stream of each sender and lane (`<from hex>/<lane>`); a newer one replaces it. */
  private readonly streams = new Map<string, http2.ServerHttp2Stream>();
  /** Streams of each sender, lanes and snapshots alike, so that a removed member can be cut off. */
  private readonly bySender = new Map<bigint, Set<http2.ServerHttp2Stream>>();

  constructor(private readonly opts: ReceiverOptions) {}

  /** The server's 'stream' handler. */
  handleStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', (err) => this.opts.log.debug({ err: err.message }, 'peer stream error'));
    const path = headers[':path'];
    if (path === PATH_MEMBERS && headers[':method'] === 'GET' && this.opts.members !== undefined) {
      this.serveMembers(stream);
      return;
    }
    if (typeof path === 'string' && path.startsWith(PATH_PROMOTE_PREFIX) && headers[':method'] === 'POST' && this.opts.promote !== undefined) {
      this.servePromote(stream, headers, path.slice(PATH_PROMOTE_PREFIX.length));
      return;
    }
    const kind: LaneKind | 'snapshot' | undefined =
      path === PATH_STREAM_MSG ? 'msg' : path === PATH_STREAM_APP ? 'app' : path === PATH_SNAPSHOT ? 'snapshot' : undefined;
    if (kind === undefined || headers[':method'] !== 'POST') {
      this.refuse(stream, 404, `no peer endpoint ${String(headers[':method'])} ${String(path)}`, {});
      return;
    }
    const from = parseId(headers[HEADER_FROM]);
    const fields = { peer: from === undefined ? String(headers[HEADER_FROM]) : formatId(from), lane: kind };
    if (headers[HEADER_PROTOCOL] !== PROTOCOL_VERSION) {
      this.refuse(stream, 400, `unsupported peer protocol ${String(headers[HEADER_PROTOCOL])} (want ${PROTOCOL_VERSION})`, fields);
      return;
    }
    const clusterId = parseId(headers[HEADER_CLUSTER_ID]);
    if (clusterId !== this.opts.clusterId) {
      this.refuse(stream, 412, `cluster ID mismatch: local ${formatId(this.opts.clusterId)}, remote ${String(headers[HEADER_CLUSTER_ID])}`, fields);
      return;
    }
    const to = parseId(headers[HEADER_TO]);
    if (to !== this.opts.memberId) {
      this.refuse(stream, 412, `member ID mismatch: this is ${formatId(this.opts.memberId)}, the stream is for ${String(headers[HEADER_TO])}`, fields);
      return;
    }
    if (from !== undefined && this.opts.isRemovedPeer?.(from) === true) {
      this.refuse(stream, 410, `member ${formatId(from)} has been removed from the cluster`, fields);
      return;
    }
    if (from === undefined || !this.opts.isKnownPeer(from)) {
      this.refuse(stream, 403, `unknown member ${String(headers[HEADER_FROM])}`, fields);
      return;
    }
    this.track(from, stream);
    if (kind === 'snapshot') this.receiveSnapshot(stream, headers, from, fields);
    else this.receiveLane(stream, from, kind, fields);
  }

  /** Cuts every stream from `id` (the member was removed). */
  closePeer(id: bigint): void {
    for (const s of this.bySender.get(id) ?? []) s.close(http2.constants.NGHTTP2_CANCEL);
  }

  private track(from: bigint, stream: http2.ServerHttp2Stream): void {
    let set = this.bySender.get(from);
    if (set === undefined) this.bySender.set(from, (set = new Set()));
    set.add(stream);
    stream.on('close', () => {
      set.delete(stream);
      if (set.size === 0 && this.bySender.get(from) === set) this.bySender.delete(from);
    });
  }

  private receiveLane(stream: http2.ServerHttp2Stream, from: bigint, kind: LaneKind, fields: object): void {
    const key = `${formatId(from)}/${kind}`;
    const older = this.streams.get(key);
    if (older !== undefined) older.close(http2.constants.NGHTTP2_CANCEL);
    this.streams.set(key, stream);
    stream.on('close', () => {
      if (this.streams.get(key) === stream) this.streams.delete(key);
    });
    stream.respond({ ':status': 200 });
    this.opts.log.info(fields, 'accepted peer stream');
    const reader = new FrameReader(this.opts.limits.messageBytesMax);
    const me = this.opts.memberId;
    let broken = false;
    stream.on('data', (chunk: Buffer) => {
      if (broken) return;
      try {
        reader.push(chunk, (frame) => {
          // A frame that is a view into the received chunk is copied once, whole, and the message's
          // entries are views into that copy: one allocation per message rather than one per entry.
          const m = frame.owned || frame.bytes.length <= SMALL_FRAME_BYTES ? decodeMessage(frame.bytes, { copy: !frame.owned }) : decodeMessage(new Uint8Array(frame.bytes), { copy: false });
          if (m.from !== from || m.to !== me || m.type === MessageType.MsgSnap) {
            this.opts.log.warn({ ...fields, type: m.type, from: formatId(m.from), to: formatId(m.to) }, 'dropped a message that does not belong on this stream');
            return;
          }
          this.opts.onMessage(m);
        });
      } catch (err) {
        if ((err as { code?: string }).code?.startsWith('ERR_TRANSPORT_') !== true) throw err;
        broken = true;
        this.opts.log.error({ ...fields, err: (err as Error).message }, 'malformed peer stream; resetting it');
        stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      }
    });
  }

  private receiveSnapshot(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, from: bigint, fields: object): void {
    const announced = headers[HEADER_SNAPSHOT_BYTES];
    const dataBytes = typeof announced === 'string' && /^\d{1,16}$/.test(announced) ? Number(announced) : NaN;
    if (!Number.isSafeInteger(dataBytes)) {
      this.refuse(stream, 400, `bad ${HEADER_SNAPSHOT_BYTES} header ${String(announced)}`, fields);
      return;
    }
    if (dataBytes > this.opts.limits.snapshotBytesMax) {
      this.refuse(stream, 413, `snapshot of ${dataBytes} bytes exceeds the limit of ${this.opts.limits.snapshotBytesMax}`, fields);
      return;
    }
    const startedMs = Date.now();
    const assembler = new SnapshotAssembler(dataBytes);
    let failed = false;
    const fail = (err: unknown): void => {
      failed = true;
      this.refuse(stream, 400, (err as Error).message, fields);
    };
    stream.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        assembler.push(chunk);
      } catch (err) {
        fail(err);
      }
    });
    stream.on('end', () => {
      if (failed) return;
      let m: Message;
      try {
        m = assembler.finish();
      } catch (err) {
        fail(err);
        return;
      }
      if (m.from !== from || m.to !== this.opts.memberId) {
        fail(new Error(`snapshot message from ${formatId(m.from)} to ${formatId(m.to)} on a stream from ${formatId(from)}`));
        return;
      }
      this.opts.log.info({ ...fields, snapshotIndex: m.snapshot?.metadata.index, bytes: dataBytes, ms: Date.now() - startedMs }, 'received snapshot');
      this.opts.onMessage(m);
      if (!stream.destroyed) stream.respond({ ':status': 200 }, { endStream: true });
    });
  }

  /** Answers a refusal with a reason and logs it; the rest of the request body is ignored. */
  private serveMembers(stream: http2.ServerHttp2Stream): void {
    let body: string;
    try {
      body = JSON.stringify(this.opts.members!());
    } catch (err) {
      this.refuse(stream, 500, err instanceof Error ? err.message : String(err), {});
      return;
    }
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/json', [HEADER_CLUSTER_ID]: formatId(this.opts.clusterId) });
    stream.end(body);
  }

  private servePromote(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, idText: string): void {
    stream.resume();
    if (parseId(headers[HEADER_CLUSTER_ID]) !== this.opts.clusterId) {
      this.refuse(stream, 412, `cluster ID mismatch: local ${formatId(this.opts.clusterId)}, remote ${String(headers[HEADER_CLUSTER_ID])}`, {});
      return;
    }
    const id = parseId(idText);
    if (id === undefined) {
      this.refuse(stream, 400, `bad member ID ${idText}`, {});
      return;
    }
    const answer = (status: number, body: unknown): void => {
      if (stream.destroyed) return;
      stream.respond({ ':status': status, 'content-type': 'application/json' });
      stream.end(JSON.stringify(body));
    };
    this.opts.promote!(id).then(
      (members) => answer(200, members),
      (err: unknown) => answer(409, { error: (err as { kind?: unknown }).kind ?? (err instanceof Error ? err.message : String(err)) }),
    );
  }

  private refuse(stream: http2.ServerHttp2Stream, status: number, reason: string, fields: object): void {
    this.opts.log.warn({ ...fields, status, err: reason }, 'refused peer stream');
    if (stream.destroyed) return;
    if (!stream.headersSent) stream.respond({ ':status': status, [HEADER_ERROR]: reason.replace(/[^\x20-\x7e]/g, '?') }, { endStream: true });
    stream.resume();
  }
}
