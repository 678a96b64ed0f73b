/**
 * ReadOnly: ReadIndex requests waiting for the leader to confirm it is still leader (Raft §8,
 * thesis §6.4). Requests are grouped into rounds; one round is one heartbeat broadcast whose
 * context is the round's id. Every request that arrives before a round's heartbeats are handed to
 * the host joins that round, so concurrent reads share one round trip. When a quorum acknowledges
 * a round, it and every earlier round are released.
 */
import { MemberId } from './types';

export interface ReadRequest {
  /** The commit index when the request arrived: the read index. */
  readonly index: number;
  /** Who asked: this member (answered as a ReadState) or a follower (answered by message). */
  readonly from: MemberId;
  readonly ctx: Uint8Array;
}

interface Round {
  readonly id: number;
  readonly ctx: Uint8Array;
  readonly acks: Set<MemberId>;
  readonly requests: ReadRequest[];
}

export class ReadOnly {
  private rounds: Round[] = [];
  /** The newest round, while its heartbeats have not yet been handed to the host. */
  private unsent: Round | undefined = undefined;
  private nextRoundId: number;

  constructor(firstRoundId: number) {
    this.nextRoundId = firstRoundId;
  }

  /** The id the next new round will use (kept increasing across leader terms). */
  peekNextRoundId(): number {
    return this.nextRoundId;
  }

  /**
   * Adds a request. Returns the context of a new round whose heartbeats must be broadcast, or
   * undefined when the request joined a round not yet sent.
   */
  addRequest(req: ReadRequest, self: MemberId): Uint8Array | undefined {
    if (this.unsent !== undefined) {
      this.unsent.requests.push(req);
      return undefined;
    }
    const id = this.nextRoundId++;
    const round: Round = { id, ctx: encodeRoundId(id), acks: new Set([self]), requests: [req] };
    this.rounds.push(round);
    this.unsent = round;
    return round.ctx;
  }

  /** The pending messages were handed to the host: later requests need a new round. */
  markSent(): void {
    this.unsent = undefined;
  }

  /** Records `from`'s acknowledgement of the round named by `ctx`; returns that round's acks. */
  recvAck(from: MemberId, ctx: Uint8Array): ReadonlySet<MemberId> | undefined {
    const id = decodeRoundId(ctx);
    if (id === undefined) return undefined;
    const round = this.rounds.find((r) => r.id === id);
    if (round === undefined) return undefined;
    round.acks.add(from);
    return round.acks;
  }

  /** Releases the round named by `ctx` and every earlier round; returns their requests in order. */
  advance(ctx: Uint8Array): ReadRequest[] {
    const id = decodeRoundId(ctx);
    const i = this.rounds.findIndex((r) => r.id === id);
    if (i < 0) return [];
    const released = this.rounds.slice(0, i + 1);
    this.rounds = this.rounds.slice(i + 1);
    if (this.unsent !== undefined && !this.rounds.includes(this.unsent)) this.unsent = undefined;
    return released.flatMap((r) => r.requests);
  }

  pendingRequests(): number {
    let n = 0;
    for (const r of this.rounds) n += r.requests.length;
    return n;
  }
}

const ROUND_CTX_BYTES = 9;
const ROUND_CTX_TAG = 0xa7;

function encodeRoundId(id: number): Uint8Array {
  const b = new Uint8Array(ROUND_CTX_BYTES);
  b[0] = ROUND_CTX_TAG;
  new DataView(b.buffer).setFloat64(1, id, false);
  return b;
}

function decodeRoundId(ctx: Uint8Array): number | undefined {
  if (ctx.length !== ROUND_CTX_BYTES || ctx[0] !== ROUND_CTX_TAG) return undefined;
  return new DataView(ctx.buffer, ctx.byteOffset, ctx.byteLength).getFloat64(1, false);
}
