/**
 * The store against a naive model (fast-check): random write transactions (puts and range
 * deletes), compactions, flushes and restarts, run on the in-memory backend and on classic-level
 * side by side; every range at every revision not compacted must equal the model's answer, and
 * both stores must report the same hashKV.
 */
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactedError } from './errors';
import { MemoryBackend } from './memory-backend';
import { openMvccStore, openMvccStoreOnBackend } from './store';
import type { MvccStore } from './types';

interface ModelEvent {
  key: string;
  main: number;
  value: string | undefined; // undefined: deletion
}

type Row = [key: string, value: string, create: number, mod: number, version: number];

/** Every change ever made; queries scan them. */
class Model {
  events: ModelEvent[] = [];
  revision = 1;
  compacted = 0;

  at(key: string, rev: number): Row | undefined {
    const mine = this.events.filter((e) => e.key === key && e.main <= rev);
    const last = mine[mine.length - 1];
    if (last === undefined || last.value === undefined) return undefined;
    let start = mine.length - 1;
    while (start > 0 && mine[start - 1].value !== undefined) start--;
    return [key, last.value, mine[start].main, last.main, mine.length - start];
  }

  range(key: string, end: string | undefined, rev: number): Row[] {
    const keys = [...new Set(this.events.map((e) => e.key))].sort();
    return keys
      .filter((k) => (end === undefined ? k === key : end === '\x00' ? k >= key : k >= key && k < end))
      .flatMap((k) => {
        const row = this.at(k, rev);
        return row === undefined ? [] : [row];
      });
  }
}

const KEYS = ['a', 'b', 'ba', 'c', 'd'];
const keyArb = fc.constantFrom(...KEYS);
const endArb = fc.constantFrom(undefined, '\x00', 'b', 'c', 'z');
const changeArb = fc.oneof(
  fc.record({ op: fc.constant('put' as const), key: keyArb, value: fc.string({ maxLength: 5 }) }),
  fc.record({ op: fc.constant('delete' as const), key: keyArb, end: endArb }),
);
const stepArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('txn' as const), changes: fc.array(changeArb, { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat({ max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const) }) },
);

function rows(store: MvccStore, key: string, end: string | undefined, rev: number): Row[] {
  const result = store.read().range(Buffer.from(key, 'latin1'), end === undefined ? undefined : Buffer.from(end, 'latin1'), { revision: rev });
  return result.kvs.map((kv) => [kv.key.toString('latin1'), kv.value.toString('latin1'), kv.createRevision, kv.modRevision, kv.version]);
}

type Change = { op: 'put'; key: string; value: string } | { op: 'delete'; key: string; end: string | undefined };

/** Applies one transaction to the model; returns the deletions each change makes, in order. */
function applyToModel(model: Model, changes: Change[]): number[] {
  const main = model.revision + 1;
  const deletedCounts: number[] = [];
  for (const c of changes) {
    if (c.op === 'put') {
      model.events.push({ key: c.key, main, value: c.value });
    } else {
      // Inside the transaction, its earlier changes are visible.
      const live = model.range(c.key, c.end, main).map((r) => r[0]);
      for (const key of live) model.events.push({ key, main, value: undefined });
      deletedCounts.push(live.length);
    }
  }
  if (model.events.some((e) => e.main === main)) model.revision = main;
  return deletedCounts;
}

function applyToStore(store: MvccStore, changes: Change[], expectedDeleted: number[]): void {
  const txn = store.write();
  const deleted: number[] = [];
  for (const c of changes) {
    if (c.op === 'put') txn.put(Buffer.from(c.key, 'latin1'), Buffer.from(c.value, 'latin1'), 0n);
    else deleted.push(txn.deleteRange(Buffer.from(c.key, 'latin1'), c.end === undefined ? undefined : Buffer.from(c.end, 'latin1')));
  }
  txn.end();
  expect(deleted).toEqual(expectedDeleted);
}

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('mvcc store against a naive model', () => {
  test('ranges at every live revision, across compactions, flushes and restarts, on both backends', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 25 }), async (steps) => {
        const dir = await mkdtemp(join(tmpdir(), 'cairn-mvcc-prop-'));
        dirs.push(dir);
        const memoryBackend = new MemoryBackend();
        let memory = await openMvccStoreOnBackend(memoryBackend);
        let level = await openMvccStore({ dir, compactionBatchLimit: 3 });
        const model = new Model();
        try {
          for (const step of steps) {
            if (step.kind === 'txn') {
              const expectedDeleted = applyToModel(model, step.changes);
              applyToStore(memory, step.changes, expectedDeleted);
              applyToStore(level, step.changes, expectedDeleted);
            } else if (step.kind === 'compact') {
              const rev = model.revision - step.back;
              if (rev <= model.compacted) {
                expect(() => level.compact(rev)).toThrow(CompactedError);
                continue;
              }
              await Promise.all([memory.compact(rev).done, level.compact(rev).done]);
              model.compacted = rev;
            } else if (step.kind === 'flush') {
              await Promise.all([memory.flush(), level.flush()]);
            } else {
              await memory.flush();
              memory = await openMvccStoreOnBackend(memoryBackend);
              await level.close();
              level = await openMvccStore({ dir, compactionBatchLimit: 3 });
            }
            for (const store of [memory, level]) {
              expect(store.currentRevision).toBe(model.revision);
              expect(store.compactRevision).toBe(model.compacted);
            }
          }
          for (let rev = Math.max(1, model.compacted); rev <= model.revision; rev++) {
            for (const [key, end] of [
              ['\x00', '\x00'],
              ['b', 'c'],
              ['b', undefined],
            ] as [string, string | undefined][]) {
              const expected = model.range(key, end, rev);
              expect([rev, key, end, rows(memory, key, end, rev)]).toEqual([rev, key, end, expected]);
              expect([rev, key, end, rows(level, key, end, rev)]).toEqual([rev, key, end, expected]);
            }
          }
          expect(await level.hashKV(0)).toEqual(await memory.hashKV(0));
        } finally {
          await level.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
