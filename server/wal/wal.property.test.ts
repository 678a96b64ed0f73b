/**
 * Property: for any sequence of saves (appends and suffix overwrites), snapshot markers,
 * releases, reopens and torn final saves, open gives back exactly what was acknowledged, plus
 * (after a torn save) the whole records of that save that were written before the tear.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { EntryType, type Entry, type HardState } from '../raft/types';
import { Wal, type SnapshotMarker } from './index';
import { makeTempDir, payload, removeTempDir } from './testing/fixtures';

const SEGMENT_BYTES = 16 * 1024;

type Command =
  | { kind: 'save'; back: number; count: number; bytes: number; withHardState: boolean; commitStep: number }
  | { kind: 'snapshot'; back: number }
  | { kind: 'release'; extra: number }
  | { kind: 'reopen' }
  | { kind: 'tear'; save: Extract<Command, { kind: 'save' }>; how: 'truncate' | 'zero' | 'garbage'; at: number };

const saveCommand = fc.record({
  kind: fc.constant('save' as const),
  back: fc.oneof(fc.constant(0), fc.constant(0), fc.nat(6)),
  count: fc.nat(12),
  bytes: fc.oneof(fc.nat(64), fc.nat(3000)),
  withHardState: fc.boolean(),
  commitStep: fc.nat(5),
});

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: saveCommand },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), back: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), extra: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('tear' as const),
      save: saveCommand,
      how: fc.constantFrom('truncate' as const, 'zero' as const, 'garbage' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
);

/** What an acknowledged history implies open must return. */
interface Model {
  entries: Entry[];
  snapshot?: SnapshotMarker;
  hardState: HardState;
  term: number;
}

type Op = { entry: Entry } | { hardState: HardState };

function lastIndex(m: Model): number {
  return m.entries.length > 0 ? m.entries[m.entries.length - 1].index : (m.snapshot?.index ?? 0);
}

/** The records a save command turns into, given the model (always valid for the WAL's rules). */
function planSave(m: Model, c: Extract<Command, { kind: 'save' }>): { hardState?: HardState; entries: Entry[]; ops: Op[] } {
  const snapshotIndex = m.snapshot?.index ?? 0;
  const first = Math.max(snapshotIndex + 1, lastIndex(m) + 1 - c.back);
  const overwrite = first <= lastIndex(m);
  if (overwrite) m.term += 1; // a new leader replaces the suffix
  const entries: Entry[] = [];
  for (let i = 0; i < c.count; i++) {
    entries.push({ index: first + i, term: m.term, type: EntryType.Normal, data: payload(first + i, m.term, (c.bytes * (i + 1)) % 3001) });
  }
  const hardState = c.withHardState ? { term: m.term, vote: BigInt(m.term % 3), commit: m.hardState.commit + c.commitStep } : undefined;
  const ops: Op[] = entries.map((entry) => ({ entry }));
  if (hardState !== undefined) ops.push({ hardState });
  return { hardState, entries, ops };
}

function applyOps(m: Model, ops: readonly Op[]): Model {
  const next: Model = { ...m, entries: [...m.entries] };
  for (const op of ops) {
    if ('hardState' in op) {
      next.hardState = op.hardState;
      continue;
    }
    const base = (next.snapshot?.index ?? 0) + 1;
    next.entries.length = op.entry.index - base;
    next.entries.push(op.entry);
  }
  return next;
}

function recordBytes(op: Op): number {
  return 'hardState' in op ? 8 + 1 + 24 : 8 + 1 + 17 + op.entry.data.length;
}

async function runCommands(dir: string, commands: readonly Command[]): Promise<void> {
  let wal = await Wal.create(dir, { metadata: Uint8Array.of(1, 2, 3), segmentBytes: SEGMENT_BYTES });
  let model: Model = { entries: [], hardState: { term: 0, vote: 0n, commit: 0 }, term: 1 };

  const reopenAndCheck = async (candidates: Model[]): Promise<void> => {
    await wal.close();
    const result = await Wal.open(dir, { segmentBytes: SEGMENT_BYTES });
    wal = result.wal;
    const got = { entries: result.entries, snapshot: result.snapshot, hardState: result.hardState };
    const match = candidates.find((c) => {
      try {
        expect(got).toEqual({ entries: c.entries, snapshot: c.snapshot, hardState: c.hardState });
        return true;
      } catch {
        return false;
      }
    });
    if (match === undefined) expect(got).toEqual({ entries: candidates[0].entries, snapshot: candidates[0].snapshot, hardState: candidates[0].hardState });
    model = { ...match!, term: Math.max(model.term, match!.term) };
  };

  for (const c of commands) {
    switch (c.kind) {
      case 'save': {
        const plan = planSave(model, c);
        await wal.save(plan.hardState, plan.entries);
        model = applyOps(model, plan.ops);
        break;
      }
      case 'snapshot': {
        const index = Math.max(model.snapshot?.index ?? 0, lastIndex(model) - c.back);
        if (index === 0 || index === model.snapshot?.index) break;
        const entry = model.entries.find((e) => e.index === index)!;
        const marker = { index, term: entry.term };
        await wal.saveSnapshot(marker);
        model = { ...model, snapshot: marker, entries: model.entries.filter((e) => e.index > index) };
        break;
      }
      case 'release':
        await wal.releaseTo((model.snapshot?.index ?? 0) + c.extra);
        break;
      case 'reopen':
        await reopenAndCheck([model]);
        break;
      case 'tear': {
        const plan = planSave(model, c.save);
        if (plan.ops.length === 0) break;
        const before = wal.tail();
        await wal.save(plan.hardState, plan.entries);
        const after = wal.tail();
        const full = applyOps(model, plan.ops);
        if (after.file !== before.file) {
          model = full; // rolled over: the save is whole in a synced segment; no tear here
          break;
        }
        const cut = before.offset + Math.floor(c.at * (after.offset - before.offset));
        await wal.close();
        tearFile(after.file, c.how, cut, after.offset);
        // Whole records ending at or before the cut survive; the record across the cut survives too
        // if the bytes it lost were equal to what replaced them (zeros over zeros).
        let end = before.offset;
        let survivors = 0;
        while (survivors < plan.ops.length && end + recordBytes(plan.ops[survivors]) <= cut) end += recordBytes(plan.ops[survivors++]);
        const candidates = [applyOps(model, plan.ops.slice(0, survivors))];
        if (survivors < plan.ops.length) candidates.push(applyOps(model, plan.ops.slice(0, survivors + 1)));
        const reopened = await Wal.open(dir, { segmentBytes: SEGMENT_BYTES });
        wal = reopened.wal;
        model = { ...model, term: full.term };
        await reopenAndCheck(candidates.map((m) => ({ ...m, term: full.term })));
        break;
      }
    }
  }
  await reopenAndCheck([model]);
  await wal.close();
}

function tearFile(file: string, how: 'truncate' | 'zero' | 'garbage', cut: number, end: number): void {
  if (how === 'truncate') return fs.truncateSync(file, cut);
  const fd = fs.openSync(file, 'r+');
  try {
    const bytes = how === 'zero' ? Buffer.alloc(end - cut) : Buffer.from(Array.from({ length: end - cut + 64 }, (_, i) => (i * 131 + cut) & 0xff));
    fs.writeSync(fd, bytes, 0, bytes.length, cut);
  } finally {
    fs.closeSync(fd);
  }
}

test('open returns exactly what was acknowledged, through saves, snapshots, releases, reopens and torn saves', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 30 }), async (commands) => {
      const root = makeTempDir('cairn-wal-prop-');
      try {
        await runCommands(path.join(root, 'wal'), commands);
      } finally {
        removeTempDir(root);
      }
    }),
    { numRuns: Number(process.env.WAL_PROPERTY_RUNS ?? 40) },
  );
}, 600_000);
