/**
 * The JSON gateway's routes to the member's streaming calls, as etcd 3.4's grpc-gateway serves them:
 *
 * - **bidi** (`/v3/watch`, `/v3/lease/keepalive`): the request body is a stream of JSON request
 *   messages (`{...}{...}` or separated by whitespace), read as it arrives; each is sent on the
 *   stream, and the end of the body half-closes it. A first message that does not decode fails the
 *   request (HTTP 500, code 2, as the gateway's decode error is not a gRPC status); a later one
 *   that does not decode only stops reading the body (half-close), as etcd does. The response is a
 *   stream of `{"result":{...}}` lines. A watch stays open after the body ends (etcd's watch
 *   server ignores the half-close); keep-alive ends once it has answered every request.
 * - **server-stream** (`/v3/election/observe`): one JSON request (malformed → 400, code 3), then a
 *   stream of `{"result":{...}}` lines.
 * - **unary over a stream** (`/v3/lock/lock`, `/v3/election/campaign`): unary for the client (one
 *   JSON answer, or the unary error shape), carried over the bridge as a server-stream call so that
 *   a client that goes away cancels the wait (its waiter key is deleted).
 *
 * Response headers are written with the first message (grpc-gateway writes them once the gRPC call's
 * headers arrive, which etcd sends with the first message), so a watch that has nothing to say yet
 * has sent nothing. A stream that ends with an error writes grpc-gateway's stream error chunk
 * `{"error":{"grpc_code","http_code","message","http_status"}}` (with that HTTP status when it is
 * the first thing written). A client that disconnects cancels the call in the member; a client
 * that stops reading makes the stream unwritable (the bridge's backpressure: a watcher falls back
 * to catching up from the store), and the bridge bounds what can pile up meanwhile.
 */
import { STATUS_CODES } from 'node:http';
import type * as protobuf from 'protobufjs';
import type { StreamHandle, StreamSink } from './bridge';
import type { HttpHandler } from './listener';
import { JsonSyntaxError, JsonValueSplitter, parseJson } from './gateway-json';
import { GatewayInputError, HTTP_STATUS_BY_GRPC_CODE, messageFromJson, messageToJson, sendError, sendJson, writeMessageJson } from './gateway';

type Request = Parameters<HttpHandler>[0];
type Response = Parameters<HttpHandler>[1];

/**
 * Opens a streaming call in the member; undefined when too many streams are open. `metadata`: the
 * request headers the member's services read (`hasleader`).
 */
export type StreamOpener = (path: string, sink: StreamSink, metadata?: Readonly<Record<string, string>>) => StreamHandle | undefined;

/**
 * grpc-gateway passes `Grpc-Metadata-<name>` request headers on as gRPC metadata; the one the
 * member reads is etcd's `hasleader` (clientv3.WithRequireLeader).
 */
function streamMetadata(req: Request): Record<string, string> | undefined {
  const hasLeader = req.headers['grpc-metadata-hasleader'];
  return typeof hasLeader === 'string' ? { hasleader: hasLeader } : undefined;
}

export type StreamShape = 'bidi' | 'server-stream' | 'unary-over-stream';

export interface StreamRoute {
  readonly path: string;
  readonly shape: StreamShape;
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
}

const STATUS_OK = 0;
const UNKNOWN = 2;
const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;
const INTERNAL = 13;
const TOO_MANY = 'etcdserver: too many requests';

/** Encodes one JSON request message; `null` is an empty message (Go decodes null as nothing). */
function encodeRequest(type: protobuf.Type, json: unknown): Uint8Array {
  const obj = json === null ? {} : messageFromJson(type, json);
  return type.encode(type.fromObject(obj)).finish();
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The member's stream output written as grpc-gateway's newline-delimited JSON response. */
class JsonResponseStream implements StreamSink {
  private started = false;
  ended = false;

  constructor(
    private readonly type: protobuf.Type,
    private readonly res: Response,
  ) {}

  send(payload: Uint8Array): boolean {
    if (this.ended || this.res.destroyed) return true;
    const res = this.res as { write(chunk: string): boolean };
    let writable = true;
    let opened = false;
    try {
      // Decoding fails (if at all) before the first piece is written.
      writeMessageJson(this.type, payload, (text) => {
        if (!opened) {
          opened = true;
          if (!this.started) {
            this.started = true;
            this.res.writeHead(200, { 'content-type': 'application/json', 'grpc-metadata-content-type': 'application/grpc' });
          }
          res.write('{"result":');
        }
        writable = res.write(text);
      });
    } catch (err) {
      this.end(INTERNAL, `gateway: ${errorText(err)}`);
      return true;
    }
    if (opened) writable = res.write('}\n');
    return writable;
  }

  end(status: number, message: string | null): void {
    if (this.ended) return;
    this.ended = true;
    if (this.res.destroyed) return;
    if (status === STATUS_OK) {
      if (!this.started) this.res.writeHead(200, { 'content-type': 'application/json' });
      this.res.end();
      return;
    }
    const httpCode = HTTP_STATUS_BY_GRPC_CODE[status] ?? 500;
    const chunk = JSON.stringify({ error: { grpc_code: status, http_code: httpCode, message: message ?? '', http_status: STATUS_CODES[httpCode] ?? '' } });
    if (!this.started) this.res.writeHead(httpCode, { 'content-type': 'application/json' });
    this.res.end(chunk);
  }
}

/** Ties a response to its member stream: drain → writable again; the client gone → cancel. */
function attach(res: Response, out: { readonly ended: boolean }, handle: StreamHandle): void {
  res.on('drain', () => handle.drained());
  res.on('close', () => {
    if (!out.ended) handle.cancel();
  });
}

/** Reads the body, up to `max` bytes; undefined when longer (the rest is discarded). */
export function readBody(req: Request, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let tooLong = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLong) return;
      length += chunk.length;
      if (length > max) {
        tooLong = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLong ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendTooLarge(res: Response): void {
  res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
  res.end(JSON.stringify({ error: 'request body too large', message: 'request body too large', code: RESOURCE_EXHAUSTED }));
}

/** A bidi route: the body is a stream of requests, the answer a stream of results. */
function serveBidi(route: StreamRoute, req: Request, res: Response, openStream: StreamOpener, valueBytesMax: number): void {
  const splitter = new JsonValueSplitter(valueBytesMax);
  const out = new JsonResponseStream(route.response, res);
  let handle: StreamHandle | undefined;
  /** No more of the body is read: it ended, failed to decode, or the request was answered. */
  let done = false;

  const open = (): boolean => {
    handle = openStream(route.path, out, streamMetadata(req));
    if (handle === undefined) {
      done = true;
      out.ended = true;
      sendError(res, RESOURCE_EXHAUSTED, TOO_MANY, 'call');
      return false;
    }
    attach(res, out, handle);
    return true;
  };
  const fail = (message: string): void => {
    done = true;
    if (handle === undefined) {
      // The first message: grpc-gateway answers the decode error (not a gRPC status: Unknown).
      out.ended = true;
      sendError(res, UNKNOWN, message);
    } else {
      // A later one: grpc-gateway stops reading the body and half-closes the stream.
      handle.halfClose();
    }
  };
  const onValue = (text: string): void => {
    if (done) return;
    let bytes: Uint8Array;
    try {
      bytes = encodeRequest(route.request, parseJson(text));
    } catch (err) {
      // JsonSyntaxError, GatewayInputError, or protobufjs refusing a value: bad input, never a crash.
      fail(errorText(err));
      return;
    }
    if (handle === undefined && !open()) return;
    handle!.message(bytes);
  };

  req.on('data', (chunk: Buffer) => {
    if (done) return;
    try {
      for (const text of splitter.push(chunk)) onValue(text);
    } catch (err) {
      fail(errorText(err));
    }
  });
  req.on('end', () => {
    if (done) return;
    const rest = splitter.end();
    if (rest !== undefined) onValue(rest);
    if (done) return;
    done = true;
    if (handle === undefined && !open()) return;
    handle!.halfClose();
  });
  req.on('error', () => {
    done = true;
    if (handle !== undefined && !out.ended) handle.cancel();
  });
}

/** Decodes the one JSON request of a server-stream or unary-over-stream route; undefined once answered. */
async function oneRequest(route: StreamRoute, req: Request, res: Response, bodyBytesMax: number): Promise<Uint8Array | undefined> {
  const body = await readBody(req, bodyBytesMax);
  if (body === undefined) {
    sendTooLarge(res);
    return undefined;
  }
  try {
    const text = body.toString('utf8').trim();
    return encodeRequest(route.request, text === '' ? {} : parseJson(text));
  } catch (err) {
    if (!(err instanceof JsonSyntaxError) && !(err instanceof GatewayInputError)) throw err;
    sendError(res, INVALID_ARGUMENT, err.message);
    return undefined;
  }
}

async function serveServerStream(route: StreamRoute, req: Request, res: Response, openStream: StreamOpener, bodyBytesMax: number): Promise<void> {
  const request = await oneRequest(route, req, res, bodyBytesMax);
  if (request === undefined) return;
  sendOne(route, req, res, openStream, new JsonResponseStream(route.response, res), request);
}

/** Opens the member stream of `route` with `out` as its sink, sends the one request and half-closes. */
function sendOne(route: StreamRoute, req: Request, res: Response, openStream: StreamOpener, out: StreamSink & { readonly ended: boolean }, request: Uint8Array): void {
  const handle = openStream(route.path, out, streamMetadata(req));
  if (handle === undefined) {
    sendError(res, RESOURCE_EXHAUSTED, TOO_MANY, 'call');
    return;
  }
  attach(res, out, handle);
  handle.message(request);
  handle.halfClose();
}

/** Lock and Campaign: unary for the client; the member's one message, or its error, is the answer. */
async function serveUnaryOverStream(route: StreamRoute, req: Request, res: Response, openStream: StreamOpener, bodyBytesMax: number): Promise<void> {
  const request = await oneRequest(route, req, res, bodyBytesMax);
  if (request === undefined) return;
  let answer: Buffer | undefined;
  const out = {
    ended: false,
    send(payload: Uint8Array): boolean {
      if (answer === undefined) answer = Buffer.from(payload);
      return true;
    },
    end(status: number, message: string | null): void {
      if (out.ended) return;
      out.ended = true;
      if (res.destroyed) return;
      if (status !== STATUS_OK) sendError(res, status, message ?? '', 'call');
      else if (answer === undefined) sendError(res, INTERNAL, 'gateway: the call ended without an answer');
      else {
        let json: unknown;
        try {
          json = messageToJson(route.response, answer);
        } catch (err) {
          sendError(res, INTERNAL, `gateway: ${errorText(err)}`);
          return;
        }
        sendJson(res, 200, json);
      }
    },
  };
  sendOne(route, req, res, openStream, out, request);
}

/**
 * Serves one request on a streaming route. `bodyBytesMax` bounds a whole body (one-request routes)
 * and each request message of a bidi body.
 */
export function serveStreamRoute(route: StreamRoute, req: Request, res: Response, openStream: StreamOpener, bodyBytesMax: number): Promise<void> {
  switch (route.shape) {
    case 'bidi':
      serveBidi(route, req, res, openStream, bodyBytesMax);
      return Promise.resolve();
    case 'server-stream':
      return serveServerStream(route, req, res, openStream, bodyBytesMax);
    case 'unary-over-stream':
      return serveUnaryOverStream(route, req, res, openStream, bodyBytesMax);
  }
}
