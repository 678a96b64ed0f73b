/**
 * In-process measurements of the store (not a test). Build and run:
 *   npx tsc -p tsconfig.json --outDir /tmp/cairn-mvcc-bench && node --expose-gc /tmp/cairn-mvcc-bench/server/mvcc/bench.js [keys]
 * Phases: key index alone (bytes/key); load `keys` keys of 8 B with 256 B values through a
 * classic-level store, one write transaction per put, one awaited flush per 256 puts (as the host
 * applies one Ready); 1-key range latency; RSS; close and reopen (rebuild) time. The data directory
 * is a fresh one under os.tmpdir(), removed at the end.
 *
 * Measured 2026-11-22 on the 2-core machine while other work ran (load average 8-16, so times are
 * upper bounds), 1,000,000 keys: index 50.8 B/key (52.1 in random insertion order; 106.9 for keys
 * compacted to one revision with history); puts 64k-110k/s; range 1 key p50 7 µs, p99 18-32 µs;
 * RSS 235 MiB after load (V8 heap 93 MiB of which 52 used); reopen 4.1-4.6 s, 180 MiB RSS in a
 * fresh process; compaction of 1M keys: index 130-270 ms blocking, backend 2.2-2.4 s.
 */
import assert from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyIndex } from './key-index';
import { openMvccStore } from './store';

const gc = (globalThis as { gc?: () => void }).gc;

function settle(): void {
  assert(gc !== undefined, 'run node with --expose-gc');
  for (let i = 0; i < 3; i++) gc();
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function keyOf(i: number): string {
  return String(i).padStart(8, '0');
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function measureIndex(keys: number): void {
  settle();
  const before = process.memoryUsage().heapUsed;
  const index = new KeyIndex();
  for (let i = 0; i < keys; i++) index.put(keyOf(i), 2 + i, 0);
  settle();
  const single = process.memoryUsage().heapUsed - before;
  console.log(`index, ${keys} keys written once (sequential insert): ${(single / keys).toFixed(1)} B/key (${mib(single)})`);
  // The same keys each updated once more, then compacted: the SingleRevision form.
  for (let i = 0; i < keys; i++) index.put(keyOf(i), 2 + keys + i, 0);
  settle();
  const updated = process.memoryUsage().heapUsed - before;
  console.log(`index, each key updated once, not compacted: ${(updated / keys).toFixed(1)} B/key`);
  index.compact(2 + 2 * keys);
  settle();
  const compacted = process.memoryUsage().heapUsed - before;
  console.log(`index, after compaction: ${(compacted / keys).toFixed(1)} B/key`);
  assert(index.size === keys);
}

function measureIndexRandomOrder(keys: number): void {
  settle();
  const before = process.memoryUsage().heapUsed;
  const index = new KeyIndex();
  // A fixed pseudo-random permutation order (as a rebuild sees keys: in revision order).
  const order = new Uint32Array(keys);
  for (let i = 0; i < keys; i++) order[i] = i;
  let seed = 12345;
  for (let i = keys - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const j = seed % (i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (let i = 0; i < keys; i++) index.put(keyOf(order[i]), 2 + i, 0);
  settle();
  const used = process.memoryUsage().heapUsed - before;
  console.log(`index, ${keys} keys inserted in random order: ${(used / keys).toFixed(1)} B/key`);
  assert(index.size === keys); // keeps the index alive until measured
}

async function measureStore(keys: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-mvcc-bench-'));
  try {
    settle();
    const rssStart = process.memoryUsage().rss;
    let store = await openMvccStore({ dir });
    const value = Buffer.alloc(256, 'v');
    const batch = 256;
    const started = process.hrtime.bigint();
    for (let i = 0; i < keys; i += batch) {
      for (let j = i; j < Math.min(keys, i + batch); j++) {
        const txn = store.write();
        txn.put(Buffer.from(keyOf(j), 'latin1'), value, 0n);
        txn.end();
      }
      store.setConsistentIndex(Math.min(keys, i + batch));
      await store.flush();
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    settle();
    const loaded = process.memoryUsage();
    console.log(`after puts: rss ${mib(loaded.rss)}, heapTotal ${mib(loaded.heapTotal)}, heapUsed ${mib(loaded.heapUsed)}, external ${mib(loaded.external)}`);
    console.log(`put: ${keys} puts in ${seconds.toFixed(2)} s = ${Math.round(keys / seconds)} puts/s (one txn per put, awaited flush per ${batch})`);

    // Range of one key, random existing keys, reading through classic-level's getSync.
    const samples = 200_000;
    const latencies = new Float64Array(samples);
    let seed = 7;
    for (let s = 0, read = store.read(); s < samples; s++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const key = Buffer.from(keyOf(seed % keys), 'latin1');
      const t0 = process.hrtime.bigint();
      const r = read.range(key, undefined);
      latencies[s] = Number(process.hrtime.bigint() - t0) / 1000;
      assert(r.count === 1 && r.kvs[0].value.length === 256);
    }
    latencies.sort();
    const mean = latencies.reduce((a, b) => a + b, 0) / samples;
    console.log(`range 1 key: mean ${mean.toFixed(2)} µs, p50 ${percentile(latencies, 0.5).toFixed(2)} µs, p99 ${percentile(latencies, 0.99).toFixed(2)} µs (${samples} random keys)`);

    settle();
    const mem = process.memoryUsage();
    console.log(`after load and reads: rss ${mib(mem.rss)} (process start ${mib(rssStart)}), heapTotal ${mib(mem.heapTotal)}, heapUsed ${mib(mem.heapUsed)}, external ${mib(mem.external)}`);
    // Overwrite a tenth of the keys, then compact at the current revision: the index part blocks,
    // the backend part runs in batches.
    for (let i = 0; i < keys; i += 10) {
      const txn = store.write();
      txn.put(Buffer.from(keyOf(i), 'latin1'), value, 0n);
      txn.end();
    }
    await store.flush();
    const compactStart = process.hrtime.bigint();
    const compaction = store.compact(store.currentRevision);
    const compactIndexMs = Number(process.hrtime.bigint() - compactStart) / 1e6;
    await compaction.done;
    const compactMs = Number(process.hrtime.bigint() - compactStart) / 1e6;
    console.log(`compaction after ${keys / 10} overwrites: index ${compactIndexMs.toFixed(0)} ms (blocking), backend done after ${compactMs.toFixed(0)} ms`);
    const hashStart = process.hrtime.bigint();
    const hash = await store.hashKV(0);
    console.log(`hashKV over ${keys} keys: ${(Number(process.hrtime.bigint() - hashStart) / 1e6).toFixed(0)} ms (hash ${hash.hash.toString(16)})`);
    const size = await store.dbSize();
    console.log(`db size: ${mib(size.sizeBytes)} (in use ${mib(size.sizeInUseBytes)})`);
    await store.close();

    settle();
    const reopenStart = process.hrtime.bigint();
    store = await openMvccStore({ dir });
    const reopenSeconds = Number(process.hrtime.bigint() - reopenStart) / 1e9;
    assert(store.currentRevision === keys + 1 + keys / 10);
    settle();
    const after = process.memoryUsage();
    console.log(`reopen (rebuild ${keys} keys): ${reopenSeconds.toFixed(2)} s; rss ${mib(after.rss)}, heapTotal ${mib(after.heapTotal)}, heapUsed ${mib(after.heapUsed)}`);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const keys = Number(process.argv[2] ?? 1_000_000);
  const phase = process.argv[3] ?? 'all';
  if (phase === 'all' || phase === 'index') measureIndex(keys);
  if (phase === 'all' || phase === 'index-random') measureIndexRandomOrder(keys);
  if (phase === 'all' || phase === 'store') await measureStore(keys);
}

void main();
