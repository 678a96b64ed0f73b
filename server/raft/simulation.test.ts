/**
 * Seeded whole-cluster simulation (3 and 5 members) with drops, duplicates, reordering,
 * partitions, crashes, snapshots, leader transfers and membership changes. Checked after every
 * action: one leader per term (§5.2), log matching (§5.3), committed entries never change and
 * leader completeness (§5.4), ReadIndex covers every earlier commit (§8); after healing, the
 * cluster commits a new proposal on every member. A failure names its seed; replay one with
 * RAFT_SIM_SEED=<seed> RAFT_SIM_SIZE=<3|5>.
 */
import { runSimulation } from './testing/simulation';

const SEEDS = Number(process.env.RAFT_SIM_SEEDS ?? 200);
const STEPS = Number(process.env.RAFT_SIM_STEPS ?? 1500);
const onlySeed = process.env.RAFT_SIM_SEED !== undefined ? Number(process.env.RAFT_SIM_SEED) : undefined;
const onlySize = process.env.RAFT_SIM_SIZE !== undefined ? Number(process.env.RAFT_SIM_SIZE) : undefined;

for (const size of [3, 5]) {
  if (onlySize !== undefined && onlySize !== size) continue;
  test(`${size} members: ${onlySeed !== undefined ? `seed ${onlySeed}` : `${SEEDS} seeds`} × ${STEPS} actions keep Raft's safety properties and heal`, () => {
    const seeds = onlySeed !== undefined ? [onlySeed] : Array.from({ length: SEEDS }, (_, i) => i + 1);
    let committed = 0;
    for (const seed of seeds) committed += runSimulation({ seed, size, steps: STEPS }).committed;
    // The faults must not starve the cluster: on average it commits a good share of proposals.
    expect(committed / seeds.length).toBeGreaterThan(5);
  });
}

test('a seed replays exactly', () => {
  const a = runSimulation({ seed: 42, size: 5, steps: 800 });
  const b = runSimulation({ seed: 42, size: 5, steps: 800 });
  expect(b).toEqual(a);
});
