/**
 * A minimal etcd KV Put client on @grpc/grpc-js with hand-encoded protobuf, for tests that must know
 * exactly which writes the server acknowledged: no retries, no client-side queueing, one call = one
 * request. PutRequest {key = 1; value = 2}, PutResponse {header = 1}, ResponseHeader {revision = 3}
 * (etcdserverpb, rpc.proto).
 */
import * as grpc from '@grpc/grpc-js';

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

function bytesField(fieldNumber: number, data: Buffer): Buffer {
  return Buffer.concat([varint((fieldNumber << 3) | 2), varint(data.length), data]);
}

/** Reads a varint at `offset`; returns [value, next offset]. Values past 2^53 lose precision. */
function readVarint(buf: Buffer, offset: number): [number, number] {
  let result = 0n;
  let shift = 0n;
  let pos = offset;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const byte = buf[pos++]!;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [Number(result), pos];
    shift += 7n;
  }
}

/** The fields of a protobuf message: number → last value (varint as number, length-delimited as Buffer). */
function decodeFields(buf: Buffer): Map<number, number | Buffer> {
  const fields = new Map<number, number | Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    const [tag, afterTag] = readVarint(buf, pos);
    const fieldNumber = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (wireType === 0) {
      const [value, next] = readVarint(buf, afterTag);
      fields.set(fieldNumber, value);
      pos = next;
    } else if (wireType === 2) {
      const [length, start] = readVarint(buf, afterTag);
      fields.set(fieldNumber, buf.subarray(start, start + length));
      pos = start + length;
    } else if (wireType === 1) {
      pos = afterTag + 8;
    } else if (wireType === 5) {
      pos = afterTag + 4;
    } else {
      throw new Error(`unsupported wire type ${wireType}`);
    }
  }
  return fields;
}

/** The header revision of an encoded PutResponse. */
export function putResponseRevision(encoded: Buffer): number {
  const header = decodeFields(encoded).get(1);
  if (!Buffer.isBuffer(header)) throw new Error('PutResponse without header');
  const revision = decodeFields(header).get(3);
  if (typeof revision !== 'number') throw new Error('ResponseHeader without revision');
  return revision;
}

export class RawKvClient {
  private readonly client: grpc.Client;

  /** `endpoint`: http://host:port. */
  constructor(endpoint: string, private readonly callTimeoutMs = 5_000) {
    this.client = new grpc.Client(endpoint.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure());
  }

  /** Puts key = value; resolves with the revision of the write once the server acknowledged it. */
  put(key: string | Buffer, value: string | Buffer): Promise<number> {
    const request = Buffer.concat([bytesField(1, Buffer.from(key)), bytesField(2, Buffer.from(value))]);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        '/etcdserverpb.KV/Put',
        (b: Buffer) => b,
        (b: Buffer) => b,
        request,
        { deadline: Date.now() + this.callTimeoutMs },
        (err, response) => {
          if (err) reject(err);
          else if (response === undefined) reject(new Error('empty response'));
          else {
            try {
              resolve(putResponseRevision(response));
            } catch (decodeError) {
              reject(decodeError);
            }
          }
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
