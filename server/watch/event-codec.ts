/**
 * WatchResponse wire encoding with each event encoded once: a `WatchEvent` caches its
 * `events` field bytes (field 11: tag, length, mvccpb.Event), with and without prev_kv, and a
 * response is the concatenation of a cached header field, the watch ID and those bytes.
 *
 * mvccpb.Event: 1 type (PUT = 0 is omitted, DELETE = 1), 2 kv, 3 prev_kv.
 * WatchResponse: 1 header, 2 watch_id, 3 created, 4 canceled, 5 compact_revision, 6 cancel_reason,
 * 7 fragment, 11 events. Protobuf lets fields come in any order; we write them in field order.
 */
import type { MvccEvent } from '../mvcc/types';
import { varintSize, varintSizeBigint, writeVarint, writeVarintBigint } from '../../proto/varint';

const TAG_EVENT_TYPE = 0x08;
const TAG_EVENT_KV = 0x12;
const TAG_EVENT_PREV_KV = 0x1a;
const TAG_RESPONSE_WATCH_ID = 0x10;
const TAG_RESPONSE_FRAGMENT = 0x38;
const TAG_RESPONSE_EVENTS = 0x5a;
const EVENT_TYPE_DELETE = 1;

/** The varint of an int64 (negative: 10 bytes of two's complement). */
export function int64Varint(n: bigint): Buffer {
  const buf = Buffer.allocUnsafe(varintSizeBigint(n));
  writeVarintBigint(buf, 0, n);
  return buf;
}

/** Looks up the key-value before an event (etcd: the key at modRevision - 1), or undefined. */
export type PrevKvLookup = (event: MvccEvent) => Buffer | undefined;

/** One committed change, encoded at most once per shape however many watchers get it. */
export class WatchEvent {
  private plain: Buffer | undefined;
  private withPrev: Buffer | undefined;

  constructor(
    readonly event: MvccEvent,
    private readonly prevKvLookup: PrevKvLookup,
  ) {}

  get type(): 'put' | 'delete' {
    return this.event.type;
  }
  get key(): string {
    return this.event.key;
  }
  get modRevision(): number {
    return this.event.modRevision;
  }

  /** The response's `events` field (tag + length + Event) for this event. */
  field(prevKv: boolean): Buffer {
    if (!prevKv) return (this.plain ??= encodeEventField(this.event, undefined));
    return (this.withPrev ??= encodeEventField(this.event, this.prevKvLookup(this.event)));
  }
}

function encodeEventField(event: MvccEvent, prevKv: Buffer | undefined): Buffer {
  const kv = event.kv;
  let inner = (event.type === 'delete' ? 2 : 0) + 1 + varintSize(kv.length) + kv.length;
  if (prevKv !== undefined) inner += 1 + varintSize(prevKv.length) + prevKv.length;
  const buf = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
  let pos = 0;
  buf[pos++] = TAG_RESPONSE_EVENTS;
  pos = writeVarint(buf, pos, inner);
  if (event.type === 'delete') {
    buf[pos++] = TAG_EVENT_TYPE;
    buf[pos++] = EVENT_TYPE_DELETE;
  }
  buf[pos++] = TAG_EVENT_KV;
  pos = writeVarint(buf, pos, kv.length);
  pos += kv.copy(buf, pos);
  if (prevKv !== undefined) {
    buf[pos++] = TAG_EVENT_PREV_KV;
    pos = writeVarint(buf, pos, prevKv.length);
    pos += prevKv.copy(buf, pos);
  }
  return buf;
}

/**
 * A WatchResponse carrying events: `header` is the encoded header field (tag, length, header),
 * `watchIdField` the encoded watch_id field (empty for watch ID 0, as proto3 omits it).
 */
export function encodeEventsResponse(header: Buffer, watchIdField: Buffer, eventFields: readonly Buffer[], fragment: boolean): Buffer {
  let size = header.length + watchIdField.length + (fragment ? 2 : 0);
  for (const f of eventFields) size += f.length;
  const buf = Buffer.allocUnsafe(size);
  let pos = header.copy(buf, 0);
  pos += watchIdField.copy(buf, pos);
  if (fragment) {
    buf[pos++] = TAG_RESPONSE_FRAGMENT;
    buf[pos++] = 1;
  }
  for (const f of eventFields) pos += f.copy(buf, pos);
  return buf;
}

/** The encoded watch_id field of `id` (empty for 0). */
export function watchIdField(id: bigint): Buffer {
  if (id === 0n) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from([TAG_RESPONSE_WATCH_ID]), int64Varint(id)]);
}

/**
 * Splits a revision's events into fragments as etcd's sendFragments: no split when the whole
 * response is smaller than `maxBytes` or holds one event; otherwise each fragment takes events
 * while it stays under `maxBytes` (always at least one). Returns the event groups in order.
 */
export function fragmentEvents(fixedBytes: number, eventFields: readonly Buffer[], maxBytes: number): Buffer[][] {
  let total = fixedBytes;
  for (const f of eventFields) total += f.length;
  if (total < maxBytes || eventFields.length < 2) return [eventFields.slice()];
  const groups: Buffer[][] = [];
  let current: Buffer[] = [];
  // The fragment flag adds 2 bytes to every fragment.
  let size = fixedBytes + 2;
  for (const f of eventFields) {
    if (current.length > 0 && size + f.length >= maxBytes) {
      groups.push(current);
      current = [];
      size = fixedBytes + 2;
    }
    current.push(f);
    size += f.length;
  }
  groups.push(current);
  return groups;
}
