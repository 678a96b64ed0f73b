/**
 * A trivial gRPC server on `node:http2` that does no work: it answers KV Put and Range with canned,
 * pre-encoded responses (Range: one key-value). It exists to measure the load generator's own
 * ceiling. Run as a separate process so it does not share the generator's event loop:
 * `node dist/benchmarks/lib/echo-server.js [port]` prints `listening on <port>`.
 */
import * as http2 from 'node:http2';
import { AddressInfo } from 'node:net';
import { KV_PUT_PATH, KV_RANGE_PATH } from './messages';
import { frameGrpcMessage } from './grpc-client';

/** ResponseHeader { cluster_id: 1, member_id: 1, revision: 1, raft_term: 1 } as field 1 of a response. */
const HEADER = Buffer.from([0x0a, 0x08, 0x08, 0x01, 0x10, 0x01, 0x18, 0x01, 0x20, 0x01]);
/** KeyValue { key: "k", value: "v" } as field 2 of a RangeResponse, then count (field 4) = 1. */
const RANGE_TAIL = Buffer.from([0x12, 0x06, 0x0a, 0x01, 0x6b, 0x2a, 0x01, 0x76, 0x20, 0x01]);

const RESPONSES = new Map<string, Buffer>([
  [KV_PUT_PATH, frameGrpcMessage(HEADER)],
  [KV_RANGE_PATH, frameGrpcMessage(Buffer.concat([HEADER, RANGE_TAIL]))],
]);

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const OK_TRAILERS = { 'grpc-status': '0' };

/** Starts the server on 127.0.0.1:`port` (0 = any free port); resolves with it listening. */
export function startEchoServer(port = 0): Promise<http2.Http2Server> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const response = RESPONSES.get(String(headers[':path']));
    stream.on('error', () => {}); // a client reset is not the server's problem
    stream.resume(); // the request body is read and ignored
    if (response === undefined) {
      stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': '12', 'grpc-message': 'unimplemented' }, { endStream: true });
      return;
    }
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
    stream.end(response);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

if (require.main === module) {
  const port = Number(process.argv[2] ?? 0);
  startEchoServer(port).then(
    (server) => process.stdout.write(`listening on ${(server.address() as AddressInfo).port}\n`),
    (err: Error) => {
      process.stderr.write(`echo server: ${err.message}\n`);
      process.exit(1);
    },
  );
}
