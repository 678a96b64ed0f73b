/**
 * The hand-off of unary calls between the transport thread and the member thread.
 *
 * Calls that arrive in one event-loop turn travel together: their request bytes are copied into one
 * fresh ArrayBuffer that is transferred (not cloned) with a single postMessage; answers come back
 * the same way. Copying into one buffer matters: structured clone of a Buffer that is a view into
 * node's pooled slabs would copy the whole slab.
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import { strict as assert } from 'node:assert';

/** gRPC status OK. */
export const STATUS_OK = 0;

export interface CallBatch {
  readonly kind: 'calls';
  readonly ids: number[];
  readonly methods: number[];
  /** Payload i is bytes [offsets[i], offsets[i+1]) of `data`. */
  readonly offsets: number[];
  readonly data: ArrayBuffer;
}

export interface ResultBatch {
  readonly kind: 'results';
  readonly ids: number[];
  /** gRPC status code per call; OK answers carry bytes, others a message. */
  readonly statuses: number[];
  readonly messages: (string | null)[];
  readonly offsets: number[];
  readonly data: ArrayBuffer;
}

type Port = Pick<MessagePort, 'postMessage'> | Pick<Worker, 'postMessage'>;

/** Accumulates (id, code, bytes) rows during a turn and posts them as one message. */
class BatchWriter {
  private ids: number[] = [];
  private codes: number[] = [];
  private messages: (string | null)[] = [];
  private payloads: Uint8Array[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(
    private readonly port: Port,
    private readonly kind: 'calls' | 'results',
  ) {}

  get size(): number {
    return this.ids.length;
  }

  add(id: number, code: number, message: string | null, payload: Uint8Array | undefined): void {
    this.ids.push(id);
    this.codes.push(code);
    this.messages.push(message);
    const p = payload ?? EMPTY;
    this.payloads.push(p);
    this.bytes += p.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const n = this.ids.length;
    if (n === 0) return;
    const data = new ArrayBuffer(this.bytes);
    const view = new Uint8Array(data);
    const offsets = new Array<number>(n + 1);
    let at = 0;
    for (let i = 0; i < n; i++) {
      offsets[i] = at;
      view.set(this.payloads[i]!, at);
      at += this.payloads[i]!.length;
    }
    offsets[n] = at;
    const msg =
      this.kind === 'calls'
        ? ({ kind: 'calls', ids: this.ids, methods: this.codes, offsets, data } satisfies CallBatch)
        : ({ kind: 'results', ids: this.ids, statuses: this.codes, messages: this.messages, offsets, data } satisfies ResultBatch);
    this.port.postMessage(msg, [data]);
    this.ids = [];
    this.codes = [];
    this.messages = [];
    this.payloads = [];
    this.bytes = 0;
  };
}

const EMPTY = new Uint8Array(0);

export type Answer = (status: number, payload: Uint8Array | undefined, message: string | null) => void;

/**
 * Transport side: sends calls to the member thread and routes answers back. At most `inFlightMax`
 * calls wait for an answer; past that `call` returns false and the caller answers
 * RESOURCE_EXHAUSTED.
 */
export class CallBridge {
  private readonly writer: BatchWriter;
  private readonly pending = new Map<number, Answer>();
  private nextId = 1;

  constructor(
    port: Port,
    private readonly inFlightMax: number,
  ) {
    this.writer = new BatchWriter(port, 'calls');
  }

  get inFlight(): number {
    return this.pending.size;
  }

  call(method: number, request: Uint8Array, answer: Answer): boolean {
    if (this.pending.size >= this.inFlightMax) return false;
    const id = this.nextId++;
    if (this.nextId > 0x7fffffff) this.nextId = 1;
    this.pending.set(id, answer);
    this.writer.add(id, method, null, request);
    return true;
  }

  /** Delivers a ResultBatch from the member thread. */
  onResults(batch: ResultBatch): void {
    const all = new Uint8Array(batch.data);
    for (let i = 0; i < batch.ids.length; i++) {
      const id = batch.ids[i]!;
      const answer = this.pending.get(id);
      if (answer === undefined) continue;
      this.pending.delete(id);
      const status = batch.statuses[i]!;
      answer(status, status === STATUS_OK ? all.subarray(batch.offsets[i]!, batch.offsets[i + 1]!) : undefined, batch.messages[i]!);
    }
  }

  /** Fails every waiting call (the member thread is gone). */
  failAll(status: number, message: string): void {
    for (const answer of this.pending.values()) answer(status, undefined, message);
    this.pending.clear();
  }
}

/** What the member thread does with one call: answer now, or later through `reply`. */
export type CallHandler = (request: Uint8Array, reply: Reply) => void;
export type Reply = (status: number, payload: Uint8Array | undefined, message?: string) => void;

/** Member side: runs handlers for incoming batches and batches the answers back. */
export class CallServer {
  private readonly writer: BatchWriter;

  constructor(
    port: Port,
    private readonly handlers: readonly CallHandler[],
    private readonly onHandlerError: (err: unknown) => { status: number; message: string },
  ) {
    this.writer = new BatchWriter(port, 'results');
  }

  onCalls(batch: CallBatch): void {
    const all = new Uint8Array(batch.data);
    for (let i = 0; i < batch.ids.length; i++) {
      const id = batch.ids[i]!;
      const handler = this.handlers[batch.methods[i]!];
      assert(handler !== undefined, `no handler for method ${batch.methods[i]}`);
      let answered = false;
      const reply: Reply = (status, payload, message) => {
        assert(!answered, 'a call was answered twice');
        answered = true;
        this.writer.add(id, status, status === STATUS_OK ? null : (message ?? ''), status === STATUS_OK ? payload : undefined);
      };
      try {
        handler(all.subarray(batch.offsets[i]!, batch.offsets[i + 1]!), reply);
      } catch (err) {
        if (!answered) {
          const e = this.onHandlerError(err);
          reply(e.status, undefined, e.message);
        }
      }
    }
  }
}
