/**
 * etcd's gRPC JSON gateway on the client URL: `POST /v3/<service>/<method>` (and `/v3beta/...`)
 * with a JSON request, answered with JSON, as etcd's grpc-gateway does it: field names as the
 * .proto files spell them (`range_end`, `dbSize`, `ID`; lowerCamelCase names are accepted too),
 * bytes as base64, 64-bit integers as strings, enums by name, fields with default values left out.
 * Errors are `{"error", "message", "code"}` (the gRPC code) with an HTTP status mapped from it.
 *
 * Served here: KV (range, put, deleterange, txn, compaction), Cluster (member/list), Maintenance
 * (status, hash, hashkv, alarm), Lease (grant, revoke, timetolive, leases, keepalive), Watch, and
 * v3lock / v3election (lock, unlock, campaign, proclaim, leader, observe, resign) — the methods of
 * those services the member serves. Streaming routes (watch, keepalive, observe; lock and campaign,
 * which travel the bridge as streams) are in gateway-stream.ts.
 *
 * The JSON is translated by protobufjs reflection over our .proto files (loaded once, field names
 * kept as written), so requests reach the member as the same protobuf bytes a gRPC client sends,
 * through the same bridge (server/api/bridge.ts). This is the one place the transport thread
 * decodes messages: the gateway is a cold path.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import type { HttpHandler } from './listener';
import { methodByGatewayPath, type MethodDescriptor } from '../../proto/methods';
import type { MemberCaller } from '../metrics/health';
import { parseJson } from './gateway-json';
import { readBody, serveStreamRoute, type StreamOpener, type StreamShape } from './gateway-stream';

/** Services whose methods the gateway serves. */
const GATEWAY_SERVICES: ReadonlySet<string> = new Set([
  'etcdserverpb.KV',
  'etcdserverpb.Cluster',
  'etcdserverpb.Maintenance',
  'etcdserverpb.Lease',
  'etcdserverpb.Watch',
  'v3lockpb.Lock',
  'v3electionpb.Election',
]);

/** grpc-gateway's HTTP status for each gRPC code (runtime.HTTPStatusFromCode). */
export const HTTP_STATUS_BY_GRPC_CODE: readonly number[] = [200, 408, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

const GRPC = { INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12 } as const;

/** Finds `proto/rpc.proto` above this module (sources run from `server/api`, builds from `dist/server/api`). */
function findProtoDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'proto');
    if (fs.existsSync(path.join(candidate, 'rpc.proto'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`gateway: no proto/rpc.proto above ${__dirname}`);
  }
}

let schema: protobuf.Root | undefined;

/** The .proto files as reflection types, field names as written (loaded on first use). */
export function protoSchema(): protobuf.Root {
  if (schema !== undefined) return schema;
  const dir = findProtoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(dir, path.basename(target));
  root.loadSync(['rpc.proto', 'kv.proto', 'auth.proto', 'v3lock.proto', 'v3election.proto'].map((f) => path.join(dir, f)), { keepCase: true });
  root.resolveAll();
  schema = root;
  return root;
}

/** A request the gateway refuses before anything reaches the member (HTTP 400, code 3). */
export class GatewayInputError extends Error {}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const INTEGER = /^-?\d+$/;
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const INT32_TYPES = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/** Checks a 64-bit integer given as a JSON string or number; returns it as a decimal string. */
function longValue(value: unknown, type: string, where: string): string {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : typeof value === 'string' && INTEGER.test(value) ? value : undefined;
  if (text === undefined) throw new GatewayInputError(`${where}: expected a 64-bit integer (a string of digits), got ${describeJson(value)}`);
  const n = BigInt(text);
  const unsigned = type === 'uint64' || type === 'fixed64';
  const [min, max] = unsigned ? [0n, 2n ** 64n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
  if (n < min || n > max) throw new GatewayInputError(`${where}: ${text} is out of range for ${type}`);
  return text;
}

function scalarValue(field: protobuf.Field, value: unknown, where: string): unknown {
  const type = field.type;
  if (type === 'bytes') {
    if (typeof value !== 'string' || !BASE64.test(value)) throw new GatewayInputError(`${where}: expected base64 bytes, got ${describeJson(value)}`);
    return value;
  }
  if (type === 'string') {
    if (typeof value !== 'string') throw new GatewayInputError(`${where}: expected a string, got ${describeJson(value)}`);
    return value;
  }
  if (type === 'bool') {
    if (typeof value !== 'boolean') throw new GatewayInputError(`${where}: expected true or false, got ${describeJson(value)}`);
    return value;
  }
  if (LONG_TYPES.has(type)) return longValue(value, type, where);
  if (INT32_TYPES.has(type)) {
    const n = typeof value === 'string' && INTEGER.test(value) ? Number(value) : value;
    const unsigned = type === 'uint32' || type === 'fixed32';
    if (typeof n !== 'number' || !Number.isInteger(n) || n < (unsigned ? 0 : -(2 ** 31)) || n > (unsigned ? 2 ** 32 - 1 : 2 ** 31 - 1)) {
      throw new GatewayInputError(`${where}: expected a ${type}, got ${describeJson(value)}`);
    }
    return n;
  }
  if (type === 'double' || type === 'float') {
    if (typeof value !== 'number') throw new GatewayInputError(`${where}: expected a number, got ${describeJson(value)}`);
    return value;
  }
  throw new GatewayInputError(`${where}: fields of type ${type} are not supported by the gateway`);
}

function fieldValue(field: protobuf.Field, value: unknown, where: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return messageFromJson(resolved, value, where);
  if (resolved instanceof protobuf.Enum) {
    if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(resolved.values, value)) return resolved.values[value];
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    throw new GatewayInputError(`${where}: expected one of ${Object.keys(resolved.values).join(', ')}, got ${describeJson(value)}`);
  }
  return scalarValue(field, value, where);
}

/**
 * Turns a JSON request into a plain object that `type.fromObject` accepts, checking every value;
 * fields the message does not have are ignored, as etcd's gateway ignores them.
 * @throws GatewayInputError naming the field and what was expected.
 */
export function messageFromJson(type: protobuf.Type, json: unknown, where = type.name): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new GatewayInputError(`${where}: expected a JSON object, got ${describeJson(json)}`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const field = type.fields[key] ?? type.fieldsArray.find((f) => protobuf.util.camelCase(f.name) === key);
    if (field === undefined || value === null) continue;
    const at = `${where}.${field.name}`;
    if (field.repeated) {
      if (!Array.isArray(value)) throw new GatewayInputError(`${at}: expected an array, got ${describeJson(value)}`);
      out[field.name] = value.map((v, i) => fieldValue(field, v, `${at}[${i}]`));
    } else {
      out[field.name] = fieldValue(field, value, at);
    }
  }
  return out;
}

/** Leaves out fields holding their default value, as grpc-gateway (EmitDefaults false) does. */
function withoutDefaults(type: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const field = type.fields[key];
    if (field === undefined) continue;
    const resolved = field.resolvedType;
    if (field.repeated) {
      if (!Array.isArray(value) || value.length === 0) continue;
      out[key] = resolved instanceof protobuf.Type ? value.map((v) => withoutDefaults(resolved, v as Record<string, unknown>)) : value;
    } else if (resolved instanceof protobuf.Type) {
      out[key] = withoutDefaults(resolved, value as Record<string, unknown>);
    } else if (resolved instanceof protobuf.Enum) {
      if (resolved.values[value as string] !== 0) out[key] = value;
    } else if (value !== '0' && value !== 0 && value !== false && value !== '') {
      out[key] = value;
    }
  }
  return out;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, bytes: String, enums: String, defaults: false, arrays: false, oneofs: false };

/** Decodes a message; as a Buffer, protobufjs reads bytes fields as views instead of copies. */
function decodeMessage(type: protobuf.Type, bytes: Uint8Array): protobuf.Message {
  return type.decode(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** Renders a response message as etcd's gateway does. */
export function messageToJson(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
  return withoutDefaults(type, type.toObject(decodeMessage(type, bytes), TO_OBJECT));
}

/**
 * Writes `JSON.stringify(messageToJson(type, bytes))` in pieces: each element of a repeated message
 * field (a watch response's events) is converted and written on its own, so a catch-up response of
 * tens of MB never exists as one JSON string or one object tree of base64 strings.
 */
export function writeMessageJson(type: protobuf.Type, bytes: Uint8Array, write: (text: string) => void): void {
  const message = decodeMessage(type, bytes) as unknown as Record<string, unknown>;
  const fields = [...type.fieldsArray].sort((a, b) => a.id - b.id);
  const streamed = fields.filter((f) => f.repeated && f.resolvedType instanceof protobuf.Type && Array.isArray(message[f.name]) && (message[f.name] as unknown[]).length > 0);
  const rest = type.create(message as Record<string, unknown>) as unknown as Record<string, unknown>;
  for (const f of streamed) rest[f.name] = [];
  const others = withoutDefaults(type, type.toObject(rest as unknown as protobuf.Message, TO_OBJECT));
  let first = true;
  write('{');
  for (const f of fields) {
    const isStreamed = streamed.includes(f);
    if (!isStreamed && !(f.name in others)) continue;
    write(`${first ? '' : ','}${JSON.stringify(f.name)}:`);
    first = false;
    if (!isStreamed) {
      write(JSON.stringify(others[f.name]));
      continue;
    }
    const elementType = f.resolvedType as protobuf.Type;
    const list = message[f.name] as protobuf.Message[];
    for (let i = 0; i < list.length; i++) {
      write(`${i === 0 ? '[' : ','}${JSON.stringify(withoutDefaults(elementType, elementType.toObject(list[i]!, TO_OBJECT)))}`);
    }
    write(']');
  }
  write('}');
}

/** A gateway route: the method, its request and response types as reflection, and how it is carried. */
interface Route {
  readonly method: MethodDescriptor;
  readonly path: string;
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
  /** 'unary': a unary bridge call; otherwise a stream over the bridge (gateway-stream.ts). */
  readonly shape: 'unary' | StreamShape;
}

export interface GatewayOptions {
  /** Unary calls to the member thread (the bridge). */
  readonly call: MemberCaller;
  /** gRPC paths the member serves (`ready.methods`). */
  readonly servedPaths: readonly string[];
  /** Of those, the paths the member serves as streams (watch, keep-alive, lock, campaign, observe). */
  readonly streamedPaths?: readonly string[];
  /** Streaming calls to the member thread; absent: streaming routes answer UNIMPLEMENTED. */
  readonly openStream?: StreamOpener;
  /** Request bodies longer than this are refused (HTTP 413) unread. */
  readonly bodyBytesMax: number;
}

type Request = Parameters<HttpHandler>[0];
type Response = Parameters<HttpHandler>[1];

export function sendJson(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'grpc-metadata-content-type': 'application/grpc' });
  res.end(text);
}

/**
 * Answers a gRPC error as grpc-gateway does: `{"error","message","code"}` with the HTTP status for
 * the code. An error the call returned (`origin` 'call') carries grpc-gateway's trailer
 * `Grpc-Trailer-Content-Type`; one the gateway found itself (a body that does not decode) has no
 * gRPC metadata at all, as on etcd.
 */
export function sendError(res: Response, code: number, message: string, origin: 'gateway' | 'call' = 'gateway'): void {
  const text = JSON.stringify({ error: message, message, code });
  const status = HTTP_STATUS_BY_GRPC_CODE[code] ?? 500;
  if (origin === 'gateway') {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', trailer: 'Grpc-Trailer-Content-Type' });
  res.addTrailers({ 'Grpc-Trailer-Content-Type': 'application/grpc' });
  res.end(text);
}

function sendText(res: Response, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-content-type-options': 'nosniff' });
  res.end(text);
}

/** Builds the `/v3/` handler. */
export function createGateway(opts: GatewayOptions): HttpHandler {
  const root = protoSchema();
  const served = new Set(opts.servedPaths);
  const streamed = new Set(opts.streamedPaths ?? []);
  const routes = new Map<MethodDescriptor, Route>();
  const shapeOf = (method: MethodDescriptor): Route['shape'] | undefined => {
    if (!streamed.has(method.path)) return method.kind === 'unary' ? 'unary' : undefined;
    if (opts.openStream === undefined) return undefined;
    if (method.kind === 'bidi') return 'bidi';
    if (method.kind === 'server-stream') return 'server-stream';
    return method.kind === 'unary' ? 'unary-over-stream' : undefined;
  };
  const routeOf = (method: MethodDescriptor): Route | undefined => {
    if (!GATEWAY_SERVICES.has(method.service) || !served.has(method.path)) return undefined;
    let route = routes.get(method);
    if (route === undefined) {
      const shape = shapeOf(method);
      const service = root.lookupService(method.service);
      const rpc = service.methods[method.method];
      if (rpc === undefined || shape === undefined) return undefined;
      route = { method, path: method.path, shape, request: root.lookupType(rpc.requestType), response: root.lookupType(rpc.responseType) };
      routes.set(method, route);
    }
    return route;
  };

  const serve = async (req: Request, res: Response): Promise<void> => {
    const pathname = (req.url ?? '/').split('?', 1)[0]!;
    const method = methodByGatewayPath(pathname);
    if (method === undefined) {
      sendText(res, 404, 'Not Found\n');
      return;
    }
    if (req.method !== 'POST') {
      sendText(res, 405, 'Method Not Allowed\n');
      return;
    }
    const route = routeOf(method);
    if (route === undefined) {
      req.resume();
      sendError(res, GRPC.UNIMPLEMENTED, `the JSON gateway does not serve ${method.path} yet`);
      return;
    }
    if (route.shape !== 'unary') {
      await serveStreamRoute(route as Route & { shape: StreamShape }, req, res, opts.openStream!, opts.bodyBytesMax);
      return;
    }
    const body = await readBody(req, opts.bodyBytesMax);
    if (body === undefined) {
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: 'request body too large', message: 'request body too large', code: GRPC.RESOURCE_EXHAUSTED }));
      return;
    }
    let requestBytes: Uint8Array;
    try {
      const text = body.toString('utf8').trim();
      let json: unknown;
      try {
        json = text === '' ? {} : parseJson(text);
      } catch (err) {
        // Go's text for it (e.g. `unexpected EOF`), as etcd's gateway answers.
        throw new GatewayInputError(err instanceof Error ? err.message : String(err));
      }
      requestBytes = route.request.encode(route.request.fromObject(messageFromJson(route.request, json))).finish();
    } catch (err) {
      if (!(err instanceof GatewayInputError)) throw err;
      sendError(res, GRPC.INVALID_ARGUMENT, err.message);
      return;
    }
    const result = await opts.call(method.path, requestBytes);
    if (result.code !== 0) {
      sendError(res, result.code, result.message ?? '', 'call');
      return;
    }
    sendJson(res, 200, messageToJson(route.response, result.payload ?? new Uint8Array(0)));
  };

  return (req, res) => {
    serve(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      sendError(res, 13, `gateway: ${err instanceof Error ? err.message : String(err)}`);
    });
  };
}
