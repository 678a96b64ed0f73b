/**
 * Coalescing of queued messages that say no more together than one message would. Raft's core
 * emits one MsgApp per proposal and per commit advance, and answers every MsgApp with its own
 * MsgAppResp: under load a Ready holds dozens of messages to one peer that a single message carries
 * as well. A lane merges a message into one it still holds (not yet written) when the receiver,
 * stepping the merged message, ends where stepping both in order would have left it:
 *
 * - **MsgApp** `b` after MsgApp `a` (same term, sender, recipient) when `b` continues exactly where
 *   `a` ends (`b.index = a.index + a.entries.length`, `b.logTerm` = the term of `a`'s last entry, or
 *   `a.logTerm` when `a` is empty): one MsgApp at `a`'s index and log term with both entry lists and
 *   `b`'s commit (commit only grows). The follower appends the same entries, commits to the same
 *   index, and answers once with the last index — which acknowledges everything both acknowledged.
 * - **MsgAppResp** `b` after MsgAppResp `a`, both accepting (not rejections), same term, `b.index ≥
 *   a.index`: `b` alone (the leader's `match` takes the larger index; the smaller one says nothing
 *   more). Both were made durable before either was queued.
 * - **MsgProp** `b` after MsgProp `a`, same term, only normal entries (a configuration change is
 *   never merged, so Raft's one-change-at-a-time check sees it alone): one MsgProp with both entry
 *   lists in order. Raft appends a MsgProp's entries together, or drops them together — and a
 *   proposal may always be dropped (the proposer times out).
 *
 * Messages with a snapshot or a non-empty context (ReadIndex rounds) are never merged.
 */
import { Entry, EntryType, Message, MessageType } from '../raft/types';
import { varintSize } from '../../proto/varint';
import { encodedEntryBytes } from './codec';

/** A message a lane still holds: `m` may be replaced by a merged message, `bytes` is its encoded size. */
export interface Mergeable {
  m: Message;
  bytes: number;
  /**
   * True when `m` (and its `entries` array) was made by a merge for this slot, so later merges may
   * change it in place; false while it is the caller's message, which is never changed.
   */
  ownsEntries: boolean;
}

/** A merged message the slot owns. */
type Owned = { -readonly [K in keyof Message]: Message[K] } & { entries: Entry[] };

/** Whether messages of this type may ever be merged (the lane remembers the last one queued). */
export function isMergeableType(t: MessageType): boolean {
  return t === MessageType.MsgApp || t === MessageType.MsgAppResp || t === MessageType.MsgProp;
}

/**
 * Merges `next` (encoded size `nextBytes`) into `slot` when the rules above allow and the merged
 * message stays within `bytesMax` encoded bytes.
 * @returns the bytes the slot grew by (≥ 0, or a small negative number), or undefined when it did not merge
 */
export function mergeInto(slot: Mergeable, next: Message, nextBytes: number, bytesMax: number): number | undefined {
  const a = slot.m;
  if (a.type !== next.type || a.term !== next.term || a.to !== next.to || a.from !== next.from) return undefined;
  if (a.snapshot !== undefined || next.snapshot !== undefined || hasContext(a) || hasContext(next)) return undefined;
  if (a.reject || next.reject) return undefined;
  switch (next.type) {
    case MessageType.MsgAppResp: {
      if (next.index < a.index) return undefined;
      const grew = nextBytes - slot.bytes;
      slot.m = next;
      slot.bytes = nextBytes;
      slot.ownsEntries = false;
      return grew;
    }
    case MessageType.MsgApp: {
      const n = a.entries.length;
      if (next.index !== a.index + n) return undefined;
      if (next.logTerm !== (n > 0 ? a.entries[n - 1]!.term : a.logTerm)) return undefined;
      if (next.commit < a.commit) return undefined;
      return appendEntries(slot, next, bytesMax, { commit: next.commit });
    }
    case MessageType.MsgProp: {
      for (const e of a.entries) if (e.type !== EntryType.Normal) return undefined;
      for (const e of next.entries) if (e.type !== EntryType.Normal) return undefined;
      return appendEntries(slot, next, bytesMax, {});
    }
    default:
      return undefined;
  }
}

/** A non-empty context (an empty one, as local messages carry, says nothing). */
function hasContext(m: Message): boolean {
  return m.context !== undefined && m.context.length > 0;
}

/** Appends `next`'s entries to the slot's message (and sets `fields`), within `bytesMax`. */
function appendEntries(slot: Mergeable, next: Message, bytesMax: number, fields: { commit?: number }): number | undefined {
  const a = slot.m;
  let added = 0;
  for (const e of next.entries) added += encodedEntryBytes(e);
  const count = a.entries.length + next.entries.length;
  const commit = fields.commit ?? a.commit;
  const bytes =
    slot.bytes + added + varintSize(count) - varintSize(a.entries.length) + varintSize(commit) - varintSize(a.commit);
  if (bytes > bytesMax) return undefined;
  let owned: Owned;
  if (slot.ownsEntries) {
    owned = a as Owned;
  } else {
    owned = { ...a, entries: a.entries.slice() };
    slot.m = owned;
    slot.ownsEntries = true;
  }
  for (const e of next.entries) owned.entries.push(e);
  owned.commit = commit;
  const grew = bytes - slot.bytes;
  slot.bytes = bytes;
  return grew;
}
