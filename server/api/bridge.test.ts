// The thread hand-off delivers every call's bytes to its handler and every answer to its caller,
// batched per event-loop turn, over a real MessageChannel.
import { MessageChannel } from 'node:worker_threads';
import { CallBridge, CallServer, STATUS_OK, type CallBatch, type ResultBatch } from './bridge';

function pair(handlers: ConstructorParameters<typeof CallServer>[1], inFlightMax = 1000) {
  const { port1, port2 } = new MessageChannel();
  const bridge = new CallBridge(port1, inFlightMax);
  const server = new CallServer(port2, handlers, (err) => ({ status: 2, message: String(err) }));
  let batches = 0;
  port2.on('message', (m: CallBatch) => {
    batches++;
    server.onCalls(m);
  });
  port1.on('message', (m: ResultBatch) => bridge.onResults(m));
  return { bridge, close: () => { port1.close(); port2.close(); }, batches: () => batches };
}

describe('call bridge', () => {
  it('carries calls of one turn in one batch and routes each answer to its call', async () => {
    const echo = (req: Uint8Array, reply: (s: number, p?: Uint8Array, m?: string) => void) => reply(STATUS_OK, Buffer.concat([Buffer.from('re:'), req]));
    const { bridge, close, batches } = pair([echo]);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        new Promise<string>((resolve) => bridge.call(0, Buffer.from(`m${i}`), (status, payload) => resolve(`${status}:${Buffer.from(payload!).toString()}`))),
      ),
    );
    expect(answers).toEqual(Array.from({ length: 50 }, (_, i) => `0:re:m${i}`));
    expect(batches()).toBe(1);
    close();
  });

  it('answers errors with their status and message, including a handler that throws', async () => {
    const failing = (_req: Uint8Array, reply: (s: number, p?: Uint8Array, m?: string) => void) => reply(3, undefined, 'etcdserver: key is not provided');
    const throwing = () => {
      throw new Error('boom');
    };
    const { bridge, close } = pair([failing, throwing]);
    const a = await new Promise((resolve) => bridge.call(0, Buffer.alloc(0), (s, p, m) => resolve([s, p, m])));
    const b = await new Promise((resolve) => bridge.call(1, Buffer.alloc(0), (s, p, m) => resolve([s, p, m])));
    expect(a).toEqual([3, undefined, 'etcdserver: key is not provided']);
    expect(b).toEqual([2, undefined, 'Error: boom']);
    close();
  });

  it('refuses calls past its in-flight bound and fails waiting calls when the member is gone', async () => {
    const never = () => undefined;
    const { bridge, close } = pair([never], 2);
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
