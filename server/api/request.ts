/**
 * Decoding a request message as every service does it: a request whose bytes are not a valid
 * protobuf message of the method's type fails as etcd's grpc-go server fails it — INTERNAL,
 * "grpc: error unmarshalling request: …" — and changes nothing.
 */

/** A request whose bytes are not a valid protobuf message of the method's request type. */
export class MalformedRequestError extends Error {
  override readonly name = 'MalformedRequestError';
  /** gRPC INTERNAL, as grpc-go answers an undecodable request. */
  readonly grpcStatus = 13;
}

/** Decodes one request message. @throws MalformedRequestError */
export function decodeRequest<T>(codec: { decode(bytes: Uint8Array): T }, bytes: Uint8Array): T {
  try {
    return codec.decode(bytes);
  } catch (err) {
    throw new MalformedRequestError(`grpc: error unmarshalling request: ${err instanceof Error ? err.message : String(err)}`);
  }
}
