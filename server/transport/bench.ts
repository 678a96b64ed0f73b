/**
 * Micro-benchmark of the transport's per-message CPU: what one leader Ready under load costs to
 * encode, frame, decode and merge (server/transport/README.md, "Merging").
 *
 *   node scripts/build.js && node dist/server/transport/bench.js [entriesPerReady] [entryBytes]
 *
 * Prints CPU µs per Ready for each way of carrying it. Single-threaded; run it on a quiet machine
 * and compare ratios between rows rather than absolute numbers.
 */
import { EntryType, Entry, Message, MessageType } from '../raft/types';
import { decodeMessage, encodedMessageBytes, encodeMessageInto } from './codec';
import { FrameReader, writeU32 } from './framing';
import { Mergeable, mergeInto } from './merge';

const entriesPerReady = Number(process.argv[2] ?? 60);
const entryBytes = Number(process.argv[3] ?? 300);

function entry(index: number): Entry {
  return { term: 2, index, type: EntryType.Normal, data: new Uint8Array(entryBytes).fill(index & 0xff) };
}

/** What Raft's core emits for one Ready to one follower: per proposal a MsgApp, then a commit update. */
function readyMessages(first: number): Message[] {
  const out: Message[] = [];
  for (let k = 0; k < entriesPerReady; k++) {
    const index = first + k;
    const base = { to: 2n, from: 1n, term: 2, logTerm: 2, reject: false, rejectHint: 0 };
    out.push({ ...base, type: MessageType.MsgApp, index: index - 1, entries: [entry(index)], commit: index - 2 });
    out.push({ ...base, type: MessageType.MsgApp, index, entries: [], commit: index - 1 });
  }
  return out;
}

/** Frames `messages` into one buffer, as a lane's flush does. */
function frame(messages: readonly Message[]): Buffer {
  const sizes = messages.map(encodedMessageBytes);
  const buf = Buffer.allocUnsafe(sizes.reduce((a, b) => a + b + 4, 0));
  let pos = 0;
  messages.forEach((m, k) => {
    writeU32(buf, pos, sizes[k]);
    pos = encodeMessageInto(m, buf, pos + 4);
  });
  return buf;
}

function merged(messages: readonly Message[]): Message[] {
  const out: Mergeable[] = [];
  for (const m of messages) {
    const bytes = encodedMessageBytes(m);
    const last = out[out.length - 1];
    if (last === undefined || mergeInto(last, m, bytes, 1 << 20) === undefined) out.push({ m, bytes, ownsEntries: false });
  }
  return out.map((s) => s.m);
}

/** Receives `wire` as one chunk, as the receiver does: per-entry copies or one copy per frame. */
function receive(wire: Buffer, wholeFrameCopy: boolean): number {
  let n = 0;
  new FrameReader(1 << 27).push(wire, (f) => {
    const m = wholeFrameCopy && !f.owned ? decodeMessage(new Uint8Array(f.bytes), { copy: false }) : decodeMessage(f.bytes, { copy: !f.owned });
    n += m.entries.length;
  });
  return n;
}

function measure(name: string, fn: () => unknown): void {
  for (let k = 0; k < 200; k++) fn();
  const runs = 2000;
  const start = process.cpuUsage();
  for (let k = 0; k < runs; k++) fn();
  const used = process.cpuUsage(start);
  console.log(`${name.padEnd(52)} ${((used.user + used.system) / runs).toFixed(1).padStart(8)} µs/Ready`);
}

const msgs = readyMessages(1000);
const wireSeparate = frame(msgs);
const wireMerged = frame(merged(msgs));
console.log(`one Ready to one follower: ${entriesPerReady} entries of ${entryBytes} B; ${msgs.length} messages, merged into ${merged(msgs).length}`);
measure('send, one message per Raft message (encode + frame)', () => frame(msgs));
measure('send, merged (merge + encode + frame)', () => frame(merged(msgs)));
measure('receive separate messages, per-entry copies', () => receive(wireSeparate, false));
measure('receive merged message, per-entry copies', () => receive(wireMerged, false));
measure('receive merged message, one copy per frame', () => receive(wireMerged, true));
