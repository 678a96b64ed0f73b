// The gRPC server and the client listener, judged by @grpc/grpc-js clients (and raw node:http2
// where a client would hide the server's behaviour): status and message round trips, deadlines,
// size limits, cancellation, streaming, backpressure, and HTTP/1.1 on the same port.
import * as grpc from '@grpc/grpc-js';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { createClientListener, type ClientListener } from '../listener';
import { GrpcServer, Status, type ServerCall } from './server';

const identity = (b: Buffer): Buffer => b;
function method(name: string, requestStream: boolean, responseStream: boolean) {
  return { path: `/test.Echo/${name}`, requestStream, responseStream, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
}
const EchoClient = grpc.makeGenericClientConstructor(
  {
    Unary: method('Unary', false, false),
    Fail: method('Fail', false, false),
    Throw: method('Throw', false, false),
    Hang: method('Hang', false, false),
    Meta: method('Meta', false, false),
    Nope: method('Nope', false, false),
    Count: method('Count', false, true),
    Flood: method('Flood', false, true),
    Sum: method('Sum', true, false),
    Big: method('Big', false, true),
    BigUnary: method('BigUnary', false, false),
    Bidi: method('Bidi', true, true),
    Burst: method('Burst', false, true),
  },
  'Echo',
);
const OtherClient = grpc.makeGenericClientConstructor({ Call: { ...method('Call', false, false), path: '/other.Service/Call' } }, 'Other');

type Client = InstanceType<typeof EchoClient> & Record<string, any>;

/** Resolves on the next value pushed; for waiting on server-side events with a bound. */
class Signal<T> {
  private waiters: ((v: T) => void)[] = [];
  private values: T[] = [];
  push(v: T): void {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.values.push(v);
  }
  next(timeoutMs = 5000): Promise<T> {
    const v = this.values.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a server event')), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }
}

const RECEIVE_MAX = 64 * 1024;
/** Response sizes around and above the size where a message is written as prefix + payload, uncopied. */
const BIG_SIZES = [64 * 1024, 64 * 1024 + 1, 300_000, 1];
let listener: ClientListener;
let client: Client;
let other: InstanceType<typeof OtherClient> & Record<string, any>;
const logged: Record<string, unknown>[] = [];
const hangCalls = new Signal<ServerCall>();
const cancelled = new Signal<ServerCall>();
const flood = new Signal<{ written: number; drains: number; call: ServerCall }>();
const FLOOD_CAP_BYTES = 64 * 1024 * 1024;

beforeAll(async () => {
  const server = new GrpcServer({ maxReceiveMessageBytes: RECEIVE_MAX, maxSendMessageBytes: 1 << 20, log: (o) => logged.push(o) });
  server.addMethod('/test.Echo/Unary', 'unary', (call, request) => call.sendResponse(request));
  server.addMethod('/test.Echo/Fail', 'unary', (call, request) => {
    const { code, message } = JSON.parse(request.toString('utf8'));
    call.end({ code, message });
  });
  server.addMethod('/test.Echo/Throw', 'unary', () => {
    throw new Error('handler bug');
  });
  server.addMethod('/test.Echo/Hang', 'unary', (call) => {
    call.onCancel(() => cancelled.push(call));
    hangCalls.push(call);
  });
  server.addMethod('/test.Echo/Meta', 'unary', (call) => call.sendResponse(Buffer.from(String(call.metadata['token']) + ' ' + String(call.metadata['hasleader']))));
  server.addMethod('/test.Echo/Count', 'server-stream', (call, request) => {
    const n = request.readUInt32BE(0);
    for (let i = 0; i < n; i++) call.sendMessage(Buffer.from(String(i)));
    call.end();
  });
  server.addMethod('/test.Echo/Flood', 'server-stream', (call) => {
    const chunk = Buffer.alloc(16 * 1024, 7);
    const state = { written: 0, drains: 0, call };
    const pump = (): void => {
      while (call.writable() && state.written < FLOOD_CAP_BYTES) {
        call.sendMessage(chunk);
        state.written += chunk.length;
      }
    };
    call.onDrain(() => {
      state.drains++;
      pump();
    });
    call.onCancel(() => cancelled.push(call));
    pump();
    flood.push(state);
  });
  server.addMethod('/test.Echo/Big', 'server-stream', (call) => {
    for (const n of BIG_SIZES) call.sendMessage(Buffer.alloc(n, n & 0xff));
    call.end();
  });
  server.addMethod('/test.Echo/BigUnary', 'unary', (call) => call.sendResponse(Buffer.alloc(BIG_SIZES[2]!, 9)));
  server.addMethod('/test.Echo/Sum', 'client-stream', (call) => {
    let bytes = 0;
    let messages = 0;
    call.onMessage((m) => {
      bytes += m.length;
      messages++;
    });
    call.onHalfClose(() => call.sendResponse(Buffer.from(`${messages} ${bytes}`)));
  });
  // A watch event fanned out to 200 watchers of one stream: 200 small messages in one tick.
  server.addMethod('/test.Echo/Burst', 'server-stream', (call) => {
    let writable = 0;
    for (let i = 0; i < 200; i++) {
      const m = Buffer.alloc(330, i & 0xff);
      m.writeUInt32BE(i, 0);
      if (call.sendMessage(m)) writable++;
    }
    call.sendMessage(Buffer.from(`writable ${writable}`));
    call.end();
  });
  server.addMethod('/test.Echo/Bidi', 'bidi', (call) => {
    call.onMessage((m) => call.sendMessage(m));
    call.onHalfClose(() => call.end({ code: Status.OK }));
  });
  listener = await createClientListener({
    host: '127.0.0.1',
    port: 0,
    grpc: server,
    http1: (req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`health ${req.method} ${req.url} HTTP/${req.httpVersion}`);
    },
  });
  client = new EchoClient(`127.0.0.1:${listener.port}`, grpc.credentials.createInsecure()) as Client;
  other = new OtherClient(`127.0.0.1:${listener.port}`, grpc.credentials.createInsecure()) as any;
});

afterAll(async () => {
  client.close();
  other.close();
  await listener.close();
});

function unary(name: string, request: Buffer, options: grpc.CallOptions = {}, metadata = new grpc.Metadata()): Promise<Buffer> {
  return new Promise((resolve, reject) => client[name](request, metadata, options, (err: grpc.ServiceError | null, res: Buffer) => (err ? reject(err) : resolve(res))));
}
function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: grpc.ServiceError) => e,
  );
}

/** A raw HTTP/2 gRPC request (no client-side deadline or checks): response headers, body, trailers. */
function rawCall(headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<{ headers: http2.IncomingHttpHeaders; data: Buffer; trailers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${listener.port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => (responseHeaders = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      session.close();
      resolve({ headers: responseHeaders, data: Buffer.concat(chunks), trailers });
    });
    req.on('error', reject);
    req.end(body);
  });
}
const frame = (s: string): Buffer => {
  const b = Buffer.alloc(5 + Buffer.byteLength(s));
  b.writeUInt32BE(Buffer.byteLength(s), 1);
  b.write(s, 5);
  return b;
};

test('a unary call echoes its request bytes', async () => {
  expect((await unary('Unary', Buffer.from('hello'))).toString()).toBe('hello');
  expect((await unary('Unary', Buffer.alloc(0))).length).toBe(0);
  const big = Buffer.alloc(RECEIVE_MAX, 3);
  expect((await unary('Unary', big)).equals(big)).toBe(true);
});

test('the response has :status 200, content-type application/grpc, then grpc-status 0 in trailers', async () => {
  const r = await rawCall({ ':path': '/test.Echo/Unary' }, frame('x'));
  expect(r.headers[':status']).toBe(200);
  expect(r.headers['content-type']).toBe('application/grpc');
  expect(r.data.equals(frame('x'))).toBe(true);
  expect(r.trailers['grpc-status']).toBe('0');
});

test('request metadata reaches the handler', async () => {
  const md = new grpc.Metadata();
  md.set('token', 'abc.def');
  md.set('hasleader', 'true');
  expect((await unary('Meta', Buffer.alloc(0), {}, md)).toString()).toBe('abc.def true');
});

test('an error status and a message with special characters round-trip', async () => {
  const message = 'etcdserver: bad key "ä%\n\t😀" 100%';
  const err = await failure(unary('Fail', Buffer.from(JSON.stringify({ code: Status.FAILED_PRECONDITION, message }))));
  expect(err.code).toBe(Status.FAILED_PRECONDITION);
  expect(err.details).toBe(message);
  const raw = await rawCall({ ':path': '/test.Echo/Fail' }, frame(JSON.stringify({ code: 5, message: 'a%b ä' })));
  expect(raw.headers['grpc-status']).toBe('5'); // trailers-only response
  expect(raw.headers['grpc-message']).toBe('a%25b %C3%A4');
});

test('a handler that throws answers INTERNAL, is logged, and the server keeps serving', async () => {
  const err = await failure(unary('Throw', Buffer.from('x')));
  expect(err.code).toBe(Status.INTERNAL);
  expect(logged.some((o) => JSON.stringify(o).includes('handler bug'))).toBe(true);
  expect((await unary('Unary', Buffer.from('still here'))).toString()).toBe('still here');
});

test('an unknown method or service answers UNIMPLEMENTED with grpc-go messages', async () => {
  const err = await failure(unary('Nope', Buffer.from('x')));
  expect(err.code).toBe(Status.UNIMPLEMENTED);
  expect(err.details).toBe('unknown method Nope for service test.Echo');
  const err2 = await failure(new Promise((resolve, reject) => other['Call'](Buffer.from('x'), (e: Error | null, r: Buffer) => (e ? reject(e) : resolve(r)))));
  expect(err2.code).toBe(Status.UNIMPLEMENTED);
  expect(err2.details).toBe('unknown service other.Service');
});

test('a request message over maxReceiveMessageBytes fails with RESOURCE_EXHAUSTED', async () => {
  const err = await failure(unary('Unary', Buffer.alloc(RECEIVE_MAX + 1)));
  expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
  expect(err.details).toBe(`grpc: received message larger than max (${RECEIVE_MAX + 1} vs. ${RECEIVE_MAX})`);
});

test('a compressed request or an unknown grpc-encoding fails with UNIMPLEMENTED', async () => {
  const compressed = frame('x');
  compressed[0] = 1;
  const r = await rawCall({ ':path': '/test.Echo/Unary', 'grpc-encoding': 'identity' }, compressed);
  expect(r.headers['grpc-status'] ?? r.trailers['grpc-status']).toBe('12');
  const r2 = await rawCall({ ':path': '/test.Echo/Unary', 'grpc-encoding': 'gzip' }, frame('x'));
  expect(r2.headers['grpc-status']).toBe('12');
});

test('a non-gRPC HTTP/2 request (GET /health over h2) reaches the HTTP handler', async () => {
  const session = http2.connect(`http://127.0.0.1:${listener.port}`);
  const res = await new Promise<{ status: number; body: string }>((resolve) => {
    const req = session.request({ ':path': '/health' });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c) => (body += c));
    req.on('end', () => resolve({ status, body }));
    req.end();
  });
  expect(res).toEqual({ status: 200, body: 'health GET /health HTTP/2.0' });
  session.close();
});

test('handleStream answers 415 for a non-gRPC content type and 405 for GET', async () => {
  const server = new GrpcServer({ maxReceiveMessageBytes: 10, maxSendMessageBytes: 10 });
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => server.handleStream(stream, headers));
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', () => r()));
  const s = http2.connect(`http://127.0.0.1:${(h2.address() as { port: number }).port}`);
  const statusOf = (headers: http2.OutgoingHttpHeaders) =>
    new Promise((resolve) => {
      const req = s.request(headers);
      req.on('response', (h) => resolve(h[':status']));
      req.resume();
      req.end();
    });
  expect(await statusOf({ ':method': 'POST', ':path': '/a.B/C', 'content-type': 'text/plain' })).toBe(415);
  expect(await statusOf({ ':method': 'GET', ':path': '/a.B/C', 'content-type': 'application/grpc' })).toBe(405);
  s.close();
  await new Promise((r) => h2.close(r));
});

test('a call whose deadline passes fails with DEADLINE_EXCEEDED and the handler sees onCancel', async () => {
  const started = Date.now();
  const err = await failure(unary('Hang', Buffer.from('x'), { deadline: Date.now() + 200 }));
  expect(err.code).toBe(Status.DEADLINE_EXCEEDED);
  const call = await hangCalls.next();
  expect(call.deadlineMs).toBeGreaterThan(started);
  expect(call.deadlineMs).toBeLessThanOrEqual(started + 1000);
  expect(await cancelled.next()).toBe(call);
  expect(call.cancelled).toBe(true);
});

test('the server itself ends the call at the grpc-timeout deadline with DEADLINE_EXCEEDED', async () => {
  const started = Date.now();
  const r = await rawCall({ ':path': '/test.Echo/Hang', 'grpc-timeout': '150m' }, frame('x'));
  const elapsed = Date.now() - started;
  expect(r.headers['grpc-status']).toBe(String(Status.DEADLINE_EXCEEDED));
  expect(elapsed).toBeGreaterThanOrEqual(140);
  expect(elapsed).toBeLessThan(2000);
  const call = await hangCalls.next();
  expect(await cancelled.next()).toBe(call);
});

test('a client cancel reaches onCancel', async () => {
  const p = new Promise<grpc.ServiceError>((resolve) => {
    const c = client['Hang'](Buffer.from('x'), (e: grpc.ServiceError) => resolve(e));
    void hangCalls.next().then(() => c.cancel());
  });
  expect((await p).code).toBe(Status.CANCELLED);
  const call = await cancelled.next();
  expect(call.cancelled).toBe(true);
  expect(call.ended).toBe(true);
  call.sendResponse(Buffer.from('too late')); // ignored, no throw
});

test('a server stream delivers all its messages in order', async () => {
  const n = 2000;
  const req = Buffer.alloc(4);
  req.writeUInt32BE(n);
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const s = client['Count'](req);
    s.on('data', (m: Buffer) => got.push(m.toString()));
    s.on('error', reject);
    s.on('end', resolve);
  });
  expect(got).toEqual(Array.from({ length: n }, (_, i) => String(i)));
});

test('a burst of small messages in one tick (66 KB, over node\'s 16 KiB high-water mark) keeps the call writable and arrives in order', async () => {
  const got: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const s = client['Burst'](Buffer.alloc(0));
    s.on('data', (m: Buffer) => got.push(m));
    s.on('error', reject);
    s.on('end', resolve);
  });
  expect(got.length).toBe(201);
  for (let i = 0; i < 200; i++) expect(got[i]!.readUInt32BE(0)).toBe(i);
  expect(got[200]!.toString()).toBe('writable 200');
});

test('large response messages (written without a copy) arrive intact', async () => {
  const got: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const s = client['Big'](Buffer.alloc(0));
    s.on('data', (m: Buffer) => got.push(m));
    s.on('error', reject);
    s.on('end', resolve);
  });
  expect(got.map((m) => m.length)).toEqual(BIG_SIZES);
  got.forEach((m, i) => expect(m.equals(Buffer.alloc(BIG_SIZES[i]!, BIG_SIZES[i]! & 0xff))).toBe(true));
  const one = await unary('BigUnary', Buffer.alloc(0));
  expect(one.equals(Buffer.alloc(BIG_SIZES[2]!, 9))).toBe(true);
});

test('close() sends GOAWAY, cancels calls still open after the grace period, and stops accepting', async () => {
  const server = new GrpcServer({ maxReceiveMessageBytes: 100, maxSendMessageBytes: 100 });
  const started = new Signal<ServerCall>();
  const cancelledHere = new Signal<ServerCall>();
  server.addMethod('/test.Echo/Hang', 'unary', (call) => {
    call.onCancel(() => cancelledHere.push(call));
    started.push(call);
  });
  const l = await createClientListener({ host: '127.0.0.1', port: 0, grpc: server, http1: () => undefined, closeGraceMs: 300 });
  const c = new EchoClient(`127.0.0.1:${l.port}`, grpc.credentials.createInsecure()) as Client;
  const failed = new Promise<grpc.ServiceError>((resolve) => c['Hang'](Buffer.from('x'), (e: grpc.ServiceError) => resolve(e)));
  const call = await started.next();
  const t0 = Date.now();
  await l.close();
  expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  expect(await cancelledHere.next()).toBe(call);
  expect((await failed).code).toBe(Status.UNAVAILABLE);
  c.close();
  await expect(
    new Promise((resolve, reject) => http.get(`http://127.0.0.1:${l.port}/`, resolve).on('error', reject)),
  ).rejects.toThrow(/ECONNREFUSED/);
});

test('a client stream is summed after half-close', async () => {
  const res = await new Promise<Buffer>((resolve, reject) => {
    const s = client['Sum']((e: Error | null, r: Buffer) => (e ? reject(e) : resolve(r)));
    for (let i = 0; i < 100; i++) s.write(Buffer.alloc(i));
    s.end();
  });
  expect(res.toString()).toBe(`100 ${(99 * 100) / 2}`);
});

test('bidi streaming echoes many messages of many sizes, split across DATA frames', async () => {
  const sizes = Array.from({ length: 500 }, (_, i) => (i * 7919) % 40_000);
  const sent = sizes.map((n, i) => Buffer.alloc(n, i & 0xff));
  const got: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const s = client['Bidi']();
    s.on('data', (m: Buffer) => got.push(m));
    s.on('error', reject);
    s.on('end', resolve);
    for (const m of sent) s.write(m);
    s.end();
  });
  expect(got.length).toBe(sent.length);
  for (let i = 0; i < sent.length; i++) expect(got[i]!.equals(sent[i]!)).toBe(true);
});

test('backpressure: a server stream whose client does not read stalls not-writable, and drains when it reads', async () => {
  // grpc-js buffers without bound until its stream is first read; once read and then paused, it
  // stops reading the HTTP/2 stream, so flow control reaches the server.
  const s = client['Flood'](Buffer.alloc(0));
  s.on('error', () => undefined);
  s.once('data', () => s.pause());
  const f = await flood.next();
  const stalled = await waitUntilStable(() => f.written);
  expect(stalled).toBeLessThan(FLOOD_CAP_BYTES / 8); // bounded by flow control, not by the cap
  expect(f.call.writable()).toBe(false);
  let received = 0;
  s.on('data', () => received++);
  s.resume();
  await waitFor(() => f.written > stalled);
  expect(f.drains).toBeGreaterThan(0);
  s.cancel();
  expect(await cancelled.next()).toBe(f.call);
  expect(received).toBeGreaterThan(0);
});

/** Polls `value` until it has not changed for 200 ms (bounded by 5 s); returns it. */
async function waitUntilStable(value: () => number): Promise<number> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const v = value();
    if (v === last) return v;
    last = v;
  }
  throw new Error('value did not settle');
}
async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!cond()) throw new Error('condition not reached within 5 s');
}

test('the same port answers HTTP/1.1 and HTTP/2 gRPC', async () => {
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${listener.port}/health`, (res) => {
        let d = '';
        res.on('data', (c) => (d += c));
        res.on('end', () => resolve(d));
      })
      .on('error', reject);
  });
  expect(body).toBe('health GET /health HTTP/1.1');
  expect((await unary('Unary', Buffer.from('h2'))).toString()).toBe('h2');
});
