// The thread hand-off delivers every call's bytes to its handler and every answer to its caller,
// batched per event-loop turn, over a real MessageChannel; streaming calls carry messages both
// ways, in order, with backpressure and bounds.
import { MessageChannel } from 'node:worker_threads';
import { CallBridge, CallServer, STATUS_OK, type CallBatch, type MemberStream, type MethodHandler, type ResultBatch, type StreamSink } from './bridge';

const LIMITS = { inFlightMax: 1000, streamsMax: 10, streamUnwritableBytesMax: 1000 };

function pair(handlers: MethodHandler[], limits = LIMITS) {
  const { port1, port2 } = new MessageChannel();
  const bridge = new CallBridge(port1, limits);
  const server = new CallServer(port2, handlers, (err) => ({ status: 2, message: String(err) }));
  let batches = 0;
  port2.on('message', (m: CallBatch) => {
    batches++;
    server.onCalls(m);
  });
  port1.on('message', (m: ResultBatch) => bridge.onResults(m));
  return {
    bridge,
    close: () => {
      port1.close();
      port2.close();
    },
    batches: () => batches,
  };
}

type ReplyFn = (s: number, p?: Uint8Array, m?: string) => void;

/** A sink that records what the member sent; `writable` says what the client's buffer answers. */
function recordingSink(writable: () => boolean = () => true) {
  const sent: string[] = [];
  let ended: [number, string | null] | undefined;
  let onEnd: (() => void) | undefined;
  const sink: StreamSink = {
    send: (p) => {
      sent.push(Buffer.from(p).toString());
      return writable();
    },
    end: (status, message) => {
      ended = [status, message];
      onEnd?.();
    },
  };
  return { sink, sent, ended: () => ended, whenEnded: () => new Promise<void>((r) => (ended ? r() : (onEnd = r))) };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('call bridge: unary calls', () => {
  it('carries calls of one turn in one batch and routes each answer to its call', async () => {
    const echo = { unary: (req: Uint8Array, reply: ReplyFn) => reply(STATUS_OK, Buffer.concat([Buffer.from('re:'), req])) };
    const { bridge, close, batches } = pair([echo]);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => new Promise<string>((resolve) => bridge.call(0, Buffer.from(`m${i}`), (status, payload) => resolve(`${status}:${Buffer.from(payload!).toString()}`)))),
    );
    expect(answers).toEqual(Array.from({ length: 50 }, (_, i) => `0:re:m${i}`));
    expect(batches()).toBe(1);
    close();
  });

  it('answers errors with their status and message, including a handler that throws', async () => {
    const failing = { unary: (_req: Uint8Array, reply: ReplyFn) => reply(3, undefined, 'etcdserver: key is not provided') };
    const throwing = {
      unary: () => {
        throw new Error('boom');
      },
    };
    const { bridge, close } = pair([failing, throwing]);
    const a = await new Promise((resolve) => bridge.call(0, Buffer.alloc(0), (s, p, m) => resolve([s, p, m])));
    const b = await new Promise((resolve) => bridge.call(1, Buffer.alloc(0), (s, p, m) => resolve([s, p, m])));
    expect(a).toEqual([3, undefined, 'etcdserver: key is not provided']);
    expect(b).toEqual([2, undefined, 'Error: boom']);
    close();
  });

  it('refuses calls past its in-flight bound and fails waiting calls when the member is gone', async () => {
    const never = { unary: () => undefined };
    const { bridge, close } = pair([never], { ...LIMITS, inFlightMax: 2 });
    const failed: string[] = [];
    expect(bridge.call(0, Buffer.alloc(1), (_s, _p, m) => failed.push(m!))).toBe(true);
    expect(bridge.call(0, Buffer.alloc(1), (_s, _p, m) => failed.push(m!))).toBe(true);
    expect(bridge.call(0, Buffer.alloc(1), () => undefined)).toBe(false);
    bridge.failAll(14, 'etcdserver: server stopped');
    expect(failed).toEqual(['etcdserver: server stopped', 'etcdserver: server stopped']);
    expect(bridge.inFlight).toBe(0);
    close();
  });
});

describe('call bridge: streaming calls', () => {
  it('carries messages both ways in order and ends the call with the member status', async () => {
    const echo = {
      stream: (s: MemberStream) => {
        s.onMessage((m) => s.send(Buffer.concat([Buffer.from('re:'), m])));
        s.onHalfClose(() => s.end(STATUS_OK));
      },
    };
    const { bridge, close } = pair([echo]);
    const rec = recordingSink();
    const handle = bridge.openStream(0, rec.sink)!;
    for (let i = 0; i < 100; i++) handle.message(Buffer.from(`m${i}`));
    handle.halfClose();
    await rec.whenEnded();
    expect(rec.sent).toEqual(Array.from({ length: 100 }, (_, i) => `re:m${i}`));
    expect(rec.ended()).toEqual([STATUS_OK, null]);
    expect(bridge.openStreams).toBe(0);
    close();
  });

  it('sends a message given as parts as their concatenation, in order with whole messages', async () => {
    const parts = {
      stream: (s: MemberStream) => {
        s.onMessage((m) => {
          const text = Buffer.from(m).toString();
          if (text === 'whole') s.send(Buffer.from('w'));
          else s.sendParts!([Buffer.from('a'), Buffer.alloc(0), Buffer.from('bc'), Buffer.from(text)], 3 + text.length);
        });
        s.onHalfClose(() => s.end(STATUS_OK));
      },
    };
    const { bridge, close } = pair([parts]);
    const rec = recordingSink();
    const handle = bridge.openStream(0, rec.sink)!;
    handle.message(Buffer.from('1'));
    handle.message(Buffer.from('whole'));
    handle.message(Buffer.from('22'));
    handle.halfClose();
    await rec.whenEnded();
    expect(rec.sent).toEqual(['abc1', 'w', 'abc22']);
    close();
  });

  it('tells the member when the client cannot take more and when it drained', async () => {
    const changes: boolean[] = [];
    let stream: MemberStream | undefined;
    const producer = {
      stream: (s: MemberStream) => {
        stream = s;
        s.onWritableChange((w) => changes.push(w));
        s.onMessage(() => s.send(Buffer.from('x')));
      },
    };
    const { bridge, close } = pair([producer]);
    let clientWritable = false;
    const rec = recordingSink(() => clientWritable);
    const handle = bridge.openStream(0, rec.sink)!;
    handle.message(Buffer.from('go'));
    await tick();
    expect(rec.sent).toEqual(['x']);
    expect(stream!.writable).toBe(false);
    clientWritable = true;
    handle.drained();
    await tick();
    expect(changes).toEqual([false, true]);
    expect(stream!.writable).toBe(true);
    close();
  });

  it('ends a stream whose member keeps sending to a client that stopped reading, and tells the member', async () => {
    let cancelled = false;
    const flood = {
      stream: (s: MemberStream) => {
        s.onCancel(() => (cancelled = true));
        s.onMessage(() => {
          for (let i = 0; i < 100; i++) s.send(Buffer.alloc(100));
        });
      },
    };
    const { bridge, close } = pair([flood]);
    const rec = recordingSink(() => false);
    bridge.openStream(0, rec.sink)!.message(Buffer.from('go'));
    await rec.whenEnded();
    await tick();
    expect(rec.ended()![0]).toBe(8);
    expect(rec.sent.length).toBeLessThan(100);
    expect(cancelled).toBe(true);
    expect(bridge.openStreams).toBe(0);
    close();
  });

  it('passes the request metadata the transport gives to the member stream', async () => {
    const seen: Record<string, string>[] = [];
    const capture = { stream: (s: MemberStream) => seen.push({ ...s.metadata }) };
    const { bridge, close } = pair([capture]);
    bridge.openStream(0, recordingSink().sink, { hasleader: 'true' });
    bridge.openStream(0, recordingSink().sink);
    await tick();
    expect(seen).toEqual([{ hasleader: 'true' }, {}]);
    close();
  });

  it('delivers a client cancel to the member and bounds the number of open streams', async () => {
    let cancels = 0;
    const idle = { stream: (s: MemberStream) => s.onCancel(() => cancels++) };
    const { bridge, close } = pair([idle], { ...LIMITS, streamsMax: 2 });
    const a = bridge.openStream(0, recordingSink().sink)!;
    const b = bridge.openStream(0, recordingSink().sink)!;
    expect(bridge.openStream(0, recordingSink().sink)).toBeUndefined();
    a.cancel();
    b.cancel();
    await tick();
    expect(cancels).toBe(2);
    expect(bridge.openStream(0, recordingSink().sink)).toBeDefined();
    close();
  });
});
