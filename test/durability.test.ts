/**
 * Crash durability of a single Cairn member on a real-disk data dir (DESIGN.md: "An acknowledged
 * write has been fsynced on a quorum. No exceptions, also on a single member").
 *
 * Each of 3 cycles on the same data dir: 8 concurrent writers put distinct keys whose values encode
 * the key, recording each acknowledged (key, revision); the server is SIGKILLed 300–800 ms into the
 * load; it restarts on the same data dir and ports; then every acknowledged key must be there with its
 * value and with the acknowledged revision as its mod revision, no stored value may be corrupt, and
 * the store's revision must be ≥ every acknowledged revision and never lower than in an earlier cycle.
 * The kill delays are printed on failure; set DURABILITY_SEED to replay a run's delays, and
 * DURABILITY_VERBOSE=1 to print the log of a passing run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { connect, disconnect } from './harness/client';
import { dataDirRoot, Member, startMember } from './harness/member';
import { RawKvClient } from './harness/raw-kv';

const cycles = 3;
const writers = 8;
const killDelayMinMs = 300;
const killDelaySpanMs = 500;

/** mulberry32: a small seeded generator, so a failing run's kill delays can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const valueFor = (key: string): string => `value-of:${key}`;

interface Ack {
  key: string;
  revision: number;
}

/** Runs the writers until the server dies (or a writer fails); returns what was acknowledged. */
async function writeUntilKilled(member: Member, cycle: number, killDelayMs: number): Promise<{ acks: Ack[]; errors: string[] }> {
  const client = new RawKvClient(member.endpoint, 5_000);
  const acks: Ack[] = [];
  const errors: string[] = [];
  let stop = false;
  const writer = async (w: number): Promise<void> => {
    for (let n = 0; !stop; n++) {
      const key = `dur/c${cycle}/w${w}/${String(n).padStart(6, '0')}`;
      try {
        const revision = await client.put(key, valueFor(key));
        acks.push({ key, revision });
      } catch (err) {
        errors.push(`${key}: ${(err as Error).message}`);
        return;
      }
    }
  };
  const running = Array.from({ length: writers }, (_, w) => writer(w));
  await new Promise((resolve) => setTimeout(resolve, killDelayMs));
  await member.kill('SIGKILL');
  stop = true;
  await Promise.all(running);
  client.close();
  return { acks, errors };
}

async function readAll(client: Etcd3): Promise<{ values: Map<string, { value: string; modRevision: number }>; revision: number }> {
  const res = await client.getAll().prefix('dur/').exec();
  const values = new Map<string, { value: string; modRevision: number }>();
  for (const kv of res.kvs) values.set(kv.key.toString(), { value: kv.value.toString(), modRevision: Number(kv.mod_revision) });
  return { values, revision: Number(res.header.revision) };
}

let dataDir: string;
let member: Member | undefined;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(dataDirRoot(), 'cairn-test-durability-'));
});

afterAll(async () => {
  await member?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('every acknowledged put survives SIGKILL and restart, over 3 crash cycles on one data dir', async () => {
  const seed = Number(process.env.DURABILITY_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const random = seeded(seed);
  const log: string[] = [`DURABILITY_SEED=${seed}`];
  const allAcks: Ack[] = [];
  let lastRevision = 0;

  member = await startMember({ kind: 'cairn', dataDir });
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const killDelayMs = killDelayMinMs + Math.floor(random() * killDelaySpanMs);
    const { acks, errors } = await writeUntilKilled(member, cycle, killDelayMs);
    const maxAck = acks.reduce((max, a) => Math.max(max, a.revision), 0);
    log.push(`cycle ${cycle}: SIGKILL after ${killDelayMs} ms; ${acks.length} puts acknowledged (max revision ${maxAck}); first failure: ${errors[0] ?? 'none'}`);
    expect({ log, acknowledged: acks.length > 0 }).toEqual({ log, acknowledged: true });
    allAcks.push(...acks);

    await member.restart();
    const client = connect(member);
    const { values, revision } = await readAll(client);
    disconnect(client);
    log.push(`cycle ${cycle}: after restart revision ${revision}, ${values.size} keys under dur/`);

    const missing = allAcks.filter((a) => values.get(a.key)?.value !== valueFor(a.key)).map((a) => a.key);
    const wrongRevision = allAcks.filter((a) => values.has(a.key) && values.get(a.key)!.modRevision !== a.revision).map((a) => `${a.key}@${a.revision}: ${values.get(a.key)!.modRevision}`);
    const corrupt = [...values].filter(([k, v]) => v.value !== valueFor(k)).map(([k]) => k);
    const globalMaxAck = allAcks.reduce((max, a) => Math.max(max, a.revision), 0);
    expect({ log, missing: missing.slice(0, 20), missingCount: missing.length }).toEqual({ log, missing: [], missingCount: 0 });
    expect({ log, wrongRevision: wrongRevision.slice(0, 20) }).toEqual({ log, wrongRevision: [] });
    expect({ log, corrupt: corrupt.slice(0, 20) }).toEqual({ log, corrupt: [] });
    expect({ log, revisionAtLeastMaxAck: revision >= globalMaxAck, revisionNotBackwards: revision >= lastRevision }).toEqual({
      log,
      revisionAtLeastMaxAck: true,
      revisionNotBackwards: true,
    });
    // Revisions acknowledged to different writers are distinct (one revision per put).
    expect(new Set(acks.map((a) => a.revision)).size).toBe(acks.length);
    lastRevision = revision;
  }
  if (process.env.DURABILITY_VERBOSE === '1') process.stderr.write(`${log.join('\n')}\n`);
}, 60_000);
