/**
 * `--auto-compaction-retention` as etcd 3.4 reads it (embed's parseCompactionRetention): a plain
 * non-negative integer is hours in periodic mode and a revision count in revision mode; anything
 * else must be a Go duration (in revision mode etcd then uses the duration's nanoseconds as the
 * count, and so does Cairn). 0 turns auto-compaction off.
 */
import { parseDurationMs } from '../cli/flags';

export type Retention =
  | { readonly mode: 'off' }
  | { readonly mode: 'periodic'; readonly periodMs: number }
  | { readonly mode: 'revision'; readonly revisions: number };

export function parseRetention(mode: 'periodic' | 'revision', text: string): Retention {
  const value = text === '' ? '0' : text;
  let amount: number;
  if (/^\+?\d+$/.test(value)) {
    const n = Number(value);
    amount = mode === 'periodic' ? n * 3_600_000 : n;
  } else {
    const ms = parseDurationMs(value);
    if (ms === undefined) throw new Error(`error parsing CompactionRetention: time: invalid duration "${value}"`);
    amount = mode === 'periodic' ? ms : Math.round(ms * 1e6);
  }
  if (!(amount > 0)) return { mode: 'off' };
  return mode === 'periodic' ? { mode, periodMs: amount } : { mode, revisions: amount };
}
