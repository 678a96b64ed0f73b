/**
 * Binary codec for ConfChange entry data. Layout (big-endian):
 * `u8 version (1) | u8 type | u64 nodeId | u32 contextLength | context bytes`.
 */
import { ConfChange, ConfChangeType } from './types';

const VERSION = 1;
const HEADER_BYTES = 1 + 1 + 8 + 4;

/** The data of a ConfChange entry is not a ConfChange this codec wrote. */
export class ConfChangeDecodeError extends Error {
  override readonly name = 'ConfChangeDecodeError';
  readonly code = 'ERR_RAFT_CONF_CHANGE_DECODE';
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  if (!(cc.type in ConfChangeType)) throw new RangeError(`unknown ConfChangeType ${cc.type}`);
  if (cc.nodeId < 0n || cc.nodeId > 0xffffffffffffffffn) throw new RangeError(`nodeId ${cc.nodeId} is not a u64`);
  const out = new Uint8Array(HEADER_BYTES + cc.context.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, VERSION);
  view.setUint8(1, cc.type);
  view.setBigUint64(2, cc.nodeId, false);
  view.setUint32(10, cc.context.length, false);
  out.set(cc.context, HEADER_BYTES);
  return out;
}

/** @throws ConfChangeDecodeError when `data` is not an encoded ConfChange */
export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < HEADER_BYTES) throw new ConfChangeDecodeError(`conf change data too short: ${data.length} bytes`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = view.getUint8(0);
  if (version !== VERSION) throw new ConfChangeDecodeError(`unknown conf change version ${version}`);
  const type = view.getUint8(1);
  if (!(type in ConfChangeType)) throw new ConfChangeDecodeError(`unknown conf change type ${type}`);
  const nodeId = view.getBigUint64(2, false);
  const contextLength = view.getUint32(10, false);
  if (HEADER_BYTES + contextLength !== data.length) {
    throw new ConfChangeDecodeError(`conf change context length ${contextLength} does not match ${data.length} bytes`);
  }
  const context = data.slice(HEADER_BYTES);
  return { type: type as ConfChangeType, nodeId, context };
}

/** Short names, for `import * as confChange from './confchange'`. */
export const encode = encodeConfChange;
export const decode = decodeConfChange;
