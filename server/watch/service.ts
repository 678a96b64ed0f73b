/**
 * The Watch service (`/etcdserverpb.Watch/Watch`, bidi) on the member thread: one WatchHub for the
 * store, one WatchStream per call, a progress clock for all streams. The only impure shell of the
 * watch module: it reads the clock and owns the timer.
 *
 * A stream opened with the `hasleader` metadata (clientv3.WithRequireLeader) is refused, or ended,
 * while the member has no leader, as etcd does.
 */
import { etcdserverpb as pb } from '../../proto';
import type { MvccStore } from '../mvcc/types';
import type { StreamingMethod } from '../api/services';
import type { MemberStream } from '../api/bridge';
import type { Logger } from '../log';
import { WatchHub } from './watch-hub';
import { WATCH_LIMITS } from './limits';
import { WatchStream, type HeaderSource } from './watch-stream';
import { MalformedRequestError } from '../api/request';
import { ResponseHeaders } from '../api/headers';

const STATUS_UNKNOWN = 2;

/** What the service needs of the member: identity and term for response headers. */
export interface WatchMemberInfo {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly term: number;
  /** The current leader, 0n when there is none. */
  readonly leader: bigint;
}

const STATUS_UNAVAILABLE = 14;
/** etcd's rpctypes.ErrNoLeader text. */
const NO_LEADER = 'etcdserver: no leader';

export interface WatchServiceOptions {
  readonly store: MvccStore;
  readonly member: WatchMemberInfo;
  /** --max-request-bytes: the fragment bound. */
  readonly maxRequestBytes: number;
  /** --experimental-watch-progress-notify-interval, ms. */
  readonly progressIntervalMs: number;
  readonly log: Logger;
}

export interface WatchService {
  readonly method: StreamingMethod;
  readonly hub: WatchHub;
  /** Stops the progress clock. */
  close(): void;
}

/** Response headers for the member, the header field cached for the latest revision and term. */
class MemberHeaders implements HeaderSource {
  private readonly headers: ResponseHeaders;
  private cachedRevision = -1;
  private cachedTerm = -1;
  private cachedField = Buffer.alloc(0);

  constructor(private readonly member: WatchMemberInfo) {
    this.headers = new ResponseHeaders(member);
  }

  header(revision: number): pb.IResponseHeader {
    return this.headers.header(revision);
  }

  headerField(revision: number): Buffer {
    const term = this.member.term;
    if (revision !== this.cachedRevision || term !== this.cachedTerm) {
      const bytes = pb.ResponseHeader.encode(this.header(revision)).finish();
      const field = Buffer.allocUnsafe(2 + bytes.length);
      // A header is far below 128 bytes: a one-byte length.
      field[0] = 0x0a;
      field[1] = bytes.length;
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).copy(field, 2);
      this.cachedField = field;
      this.cachedRevision = revision;
      this.cachedTerm = term;
    }
    return this.cachedField;
  }
}

export function createWatchService(opts: WatchServiceOptions): WatchService {
  const hub = new WatchHub({ store: opts.store, onError: (err) => opts.log.error({ err }, 'watch catch-up failed') });
  const headers = new MemberHeaders(opts.member);
  const streams = new Set<WatchStream>();
  /** Streams opened with `hasleader: true`: ended when the member has no leader, as etcd does. */
  const requireLeader = new Map<WatchStream, MemberStream>();
  const interval = Math.max(1, opts.progressIntervalMs);
  const timer = setInterval(() => {
    const now = Date.now();
    for (const s of streams) s.tick(now);
    if (opts.member.leader === 0n) {
      for (const [s, call] of requireLeader) {
        call.end(STATUS_UNAVAILABLE, NO_LEADER);
        s.close();
        streams.delete(s);
        requireLeader.delete(s);
      }
    }
  }, Math.min(interval, WATCH_LIMITS.progressTickMaxMs));
  timer.unref();

  const handler = (call: MemberStream): void => {
    const wantsLeader = call.metadata.hasleader === 'true';
    if (wantsLeader && opts.member.leader === 0n) {
      call.end(STATUS_UNAVAILABLE, NO_LEADER);
      return;
    }
    const stream = new WatchStream({ hub, headers, out: call, maxRequestBytes: opts.maxRequestBytes, progressIntervalMs: interval, nowMs: Date.now() });
    streams.add(stream);
    if (wantsLeader) requireLeader.set(stream, call);
    const finish = (): void => {
      stream.close();
      streams.delete(stream);
      requireLeader.delete(stream);
    };
    call.onMessage((bytes) => {
      try {
        stream.handle(bytes);
      } catch (err) {
        if (!(err instanceof MalformedRequestError)) opts.log.error({ err }, 'watch request failed');
        call.end(err instanceof MalformedRequestError ? err.grpcStatus : STATUS_UNKNOWN, err instanceof Error ? err.message : String(err));
        finish();
      }
    });
    // As etcd, a client that half-closes keeps receiving events until it cancels.
    call.onHalfClose(() => undefined);
    call.onCancel(finish);
    call.onWritableChange((writable) => {
      if (writable) hub.kick();
    });
  };

  return {
    method: { path: '/etcdserverpb.Watch/Watch', kind: 'bidi', handler },
    hub,
    close: () => clearInterval(timer),
  };
}
