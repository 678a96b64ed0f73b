/**
 * gRPC status codes and the `grpc-message` trailer encoding.
 *
 * Codes: https://github.com/grpc/grpc/blob/master/doc/statuscodes.md. The message encoding is the
 * one in "gRPC over HTTP2" (PROTOCOL-HTTP2.md): the UTF-8 bytes of the message, with every byte
 * outside 0x20..0x7E and '%' itself written as '%XX'.
 */
import { GrpcStatus } from '../../../proto/grpc-status';

/** gRPC status codes, as on the wire (`grpc-status`). */
export const Status = GrpcStatus;
export type Status = GrpcStatus;

/** How a call ends: a status code and, for errors, a human-readable message. */
export interface CallStatus {
  readonly code: number;
  readonly message?: string;
}

/** Percent-encodes a status message for the `grpc-message` trailer. Plain ASCII is returned as is. */
export function encodeGrpcMessage(message: string): string {
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) return percentEncode(message);
  }
  return message;
}

const HEX = '0123456789ABCDEF';

function percentEncode(message: string): string {
  const bytes = Buffer.from(message, 'utf8');
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += '%' + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

/** Decodes a `grpc-message` value (the inverse of {@link encodeGrpcMessage}); for tests and clients. */
export function decodeGrpcMessage(value: string): string {
  if (value.indexOf('%') < 0) return value;
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < value.length && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
      out.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(c);
    }
  }
  return Buffer.from(out).toString('utf8');
}
