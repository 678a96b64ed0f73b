/** Test helpers for the transport: a logger that records, bounded waits, free ports, message builders. */
import * as net from 'node:net';
import { Entry, EntryType, Message, MessageType } from '../../raft/types';
import type { TransportLogger } from '../limits';

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

/** A TransportLogger that keeps every line (set TRANSPORT_TEST_LOG=1 to also print them). */
export class MemoryLogger implements TransportLogger {
  readonly lines: LogLine[] = [];
  constructor(private readonly name = '') {}
  private add(level: LogLine['level'], fields: object, msg?: string): void {
    this.lines.push({ level, msg: msg ?? '', fields: fields as Record<string, unknown> });
    if (process.env.TRANSPORT_TEST_LOG === '1') console.log(this.name, level, msg, JSON.stringify(fields));
  }
  debug(fields: object, msg?: string): void {
    this.add('debug', fields, msg);
  }
  info(fields: object, msg?: string): void {
    this.add('info', fields, msg);
  }
  warn(fields: object, msg?: string): void {
    this.add('warn', fields, msg);
  }
  error(fields: object, msg?: string): void {
    this.add('error', fields, msg);
  }
  has(pattern: RegExp): boolean {
    return this.lines.some((l) => pattern.test(`${l.msg} ${JSON.stringify(l.fields)}`));
  }
}

/** Resolves once `cond()` holds, checking every `intervalMs`; rejects with `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000, intervalMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A port on 127.0.0.1 that was free a moment ago (nothing listens on it on return). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export function message(init: Partial<Message> & { type: MessageType; to: bigint; from: bigint }): Message {
  return { term: 1, logTerm: 0, index: 0, commit: 0, reject: false, rejectHint: 0, entries: [], ...init };
}

export function entries(firstIndex: number, count: number, dataBytes: number): Entry[] {
  const out: Entry[] = [];
  for (let k = 0; k < count; k++) {
    const data = new Uint8Array(dataBytes);
    for (let b = 0; b < dataBytes; b++) data[b] = (firstIndex + k + b) & 0xff;
    out.push({ term: 1, index: firstIndex + k, type: EntryType.Normal, data });
  }
  return out;
}
