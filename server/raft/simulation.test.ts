/**
 * Seeded whole-cluster simulation of 3 and 5 members (testing/simulation.ts): drops, duplicates,
 * reordering and delays of messages; symmetric and one-way partitions; crashes that lose the
 * unsynced tail of a member's disk and may tear its last record, and restarts from what recovery
 * reads; snapshots; leader transfers; membership changes (learners added and promoted, voters
 * added and removed). Checked after every action (testing/cluster.ts): one leader per term, log
 * matching, committed entries never change, leader completeness, every member applies the same
 * entry at each index in order and once, ReadIndex freshness, and that no message or apply
 * depends on unsynced state; after healing, the cluster commits a new proposal on every member.
 *
 * RAFT_SIM_SEED=<seed> RAFT_SIM_SIZE=<3|5> [RAFT_SIM_STEPS=<n>] replays one seed (a failure
 * prints this line) and shows the last events of its trace. RAFT_SIM_LONG=1 is the long mode (5000 seeds per size, 3000 actions each);
 * RAFT_SIM_SEEDS, RAFT_SIM_FIRST_SEED and RAFT_SIM_STEPS change any sweep;
 * RAFT_SIM_INSTALL_RECORD=wal-marker records a received snapshot as server/node's WAL does.
 */
import { addEvents, noEvents, runSimulation, SimulationEvents } from './testing/simulation';

const LONG = process.env.RAFT_SIM_LONG === '1';
const SEEDS = Number(process.env.RAFT_SIM_SEEDS ?? (LONG ? 5000 : 300));
const FIRST_SEED = Number(process.env.RAFT_SIM_FIRST_SEED ?? 1);
const STEPS = Number(process.env.RAFT_SIM_STEPS ?? (LONG ? 3000 : 1500));
/** RAFT_SIM_INSTALL_RECORD=wal-marker records received snapshots as server/node does (see ClusterOptions). */
const INSTALL_RECORD = process.env.RAFT_SIM_INSTALL_RECORD === 'wal-marker' ? 'wal-marker' : undefined;
const onlySeed = process.env.RAFT_SIM_SEED !== undefined ? Number(process.env.RAFT_SIM_SEED) : undefined;
const onlySize = process.env.RAFT_SIM_SIZE !== undefined ? Number(process.env.RAFT_SIM_SIZE) : undefined;
/** Failures collected before the sweep stops (a long run reports many seeds at once). */
const FAILURES_MAX = 20;
/** Events of the trace shown with a replayed seed's failure. */
const TRACE_TAIL = 80;

for (const size of [3, 5]) {
  if (onlySize !== undefined && onlySize !== size) continue;
  const seeds = onlySeed !== undefined ? [onlySeed] : Array.from({ length: SEEDS }, (_, i) => FIRST_SEED + i);
  const name = onlySeed !== undefined ? `seed ${onlySeed}` : `${SEEDS} seeds from ${FIRST_SEED}`;
  test(`${size} members: ${name} × ${STEPS} actions keep Raft's safety properties and heal`, () => {
    let committed = 0;
    const events = noEvents();
    const net = { dropped: 0, duplicated: 0, delayed: 0 };
    const failures: string[] = [];
    const started = Date.now();
    for (const seed of seeds) {
      // Replaying one seed keeps the event trace and shows its end with the failure.
      const trace: string[] | undefined = onlySeed !== undefined ? [] : undefined;
      try {
        const r = runSimulation({ seed, size, steps: STEPS, trace, installRecord: INSTALL_RECORD });
        committed += r.committed;
        addEvents(events, r.events);
        net.dropped += r.stats.dropped;
        net.duplicated += r.stats.duplicated;
        net.delayed += r.stats.delayed;
      } catch (err) {
        const tail = trace !== undefined ? `\nlast events:\n${trace.slice(-TRACE_TAIL).join('\n')}` : '';
        failures.push((err as Error).message + tail);
        if (failures.length >= FAILURES_MAX) break;
      }
    }
    if (LONG) {
      // eslint-disable-next-line no-console
      console.log(`${size} members: ${seeds.length} seeds × ${STEPS} actions in ${((Date.now() - started) / 1000).toFixed(1)} s, ` +
        `${failures.length} failed; ${committed} entries committed; ${JSON.stringify({ ...events, ...net })}`);
    }
    if (failures.length > 0) throw new Error(`${failures.length} seed(s) failed:\n\n${failures.join('\n\n')}`);
    if (onlySeed !== undefined) return;
    // The faults must not starve the cluster: on average it commits a good share of proposals.
    expect(committed / seeds.length).toBeGreaterThan(20);
    // Every kind of fault and change happened somewhere in the sweep.
    const never = (Object.keys(events) as (keyof SimulationEvents)[]).filter((k) => events[k] === 0);
    expect(never).toEqual([]);
    expect(net.dropped).toBeGreaterThan(0);
    expect(net.duplicated).toBeGreaterThan(0);
    expect(net.delayed).toBeGreaterThan(0);
  }, 60_000 + seeds.length * STEPS * 0.2);
}

test('a seed replays exactly', () => {
  const a = runSimulation({ seed: 42, size: 5, steps: 800 });
  const b = runSimulation({ seed: 42, size: 5, steps: 800 });
  expect(b).toEqual(a);
  const t1: string[] = [];
  const t2: string[] = [];
  runSimulation({ seed: 7, size: 3, steps: 800, trace: t1 });
  runSimulation({ seed: 7, size: 3, steps: 800, trace: t2 });
  expect(t2).toEqual(t1);
  expect(t1.length).toBeGreaterThan(100);
});
