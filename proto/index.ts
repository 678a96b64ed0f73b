/**
 * Cairn's protobuf codecs: the etcd v3 API (etcdserverpb, mvccpb, authpb, v3lockpb, v3electionpb)
 * and Cairn's internal records (cairnpb), generated from proto/*.proto by scripts/build.js into
 * proto/gen (never edited by hand). Import codecs from here, not from ./gen, so that `long` is
 * wired in first: every int64/uint64 field decodes to a `Long`. Convert those only through
 * ./int64 (toNumber for revisions and counts, toBigInt/fromBigInt for IDs).
 */
import Long from 'long';
import * as protobuf from 'protobufjs/minimal';

// protobufjs looks for `long` on its own; set it explicitly so that 64-bit fields can never decode
// to lossy numbers, whatever the module resolution, then let the reader pick up the change.
if (protobuf.util.Long !== Long) {
  protobuf.util.Long = Long;
  protobuf.configure();
}

export { etcdserverpb, mvccpb, authpb, v3lockpb, v3electionpb, cairnpb } from './gen/pb';
export { Long };
export { toNumber, toBigInt, fromBigInt } from './int64';
export type { Int64Value } from './int64';
