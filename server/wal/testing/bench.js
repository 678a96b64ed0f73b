/**
 * WAL micro-benchmark: saves per second and save latency for a given batch shape, on a real disk.
 * Usage: node --require server/wal/testing/register-ts.js server/wal/testing/bench.js [dir]
 * Prints, for 1 × 256 B and 256 × 256 B entries per save: saves/s, entries/s, MB/s, p50/p99 latency;
 * and a raw `write 300 B + fdatasync` loop on a preallocated file as the disk's floor.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Wal } = require(path.join(__dirname, '..', 'index.ts'));

const DURATION_MS = Number(process.env.WAL_BENCH_MS ?? 3000);

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function benchSaves(root, entriesPerSave, entryBytes) {
  const dir = fs.mkdtempSync(path.join(root, 'wal-bench-'));
  const wal = await Wal.create(path.join(dir, 'wal'), { metadata: Buffer.from('bench') });
  const data = Buffer.alloc(entryBytes, 7);
  let index = 0;
  const makeBatch = () => {
    const batch = new Array(entriesPerSave);
    for (let i = 0; i < entriesPerSave; i++) batch[i] = { index: ++index, term: 1, type: 0, data };
    return batch;
  };
  for (let i = 0; i < 200; i++) await wal.save({ term: 1, vote: 0n, commit: index }, makeBatch()); // warm up
  const latencies = [];
  const start = process.hrtime.bigint();
  let now = start;
  while (Number(now - start) / 1e6 < DURATION_MS) {
    const batch = makeBatch();
    await wal.save({ term: 1, vote: 0n, commit: index }, batch);
    const t = process.hrtime.bigint();
    latencies.push(Number(t - now) / 1e3);
    now = t;
  }
  const seconds = Number(now - start) / 1e9;
  await wal.close();
  const segments = fs.readdirSync(path.join(dir, 'wal')).length;
  fs.rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const saves = latencies.length;
  return {
    shape: `${entriesPerSave} × ${entryBytes} B`,
    savesPerSecond: Math.round(saves / seconds),
    entriesPerSecond: Math.round((saves * entriesPerSave) / seconds),
    mbPerSecond: +((saves * entriesPerSave * (entryBytes + 26)) / seconds / 1e6).toFixed(1),
    p50us: Math.round(percentile(latencies, 0.5)),
    p99us: Math.round(percentile(latencies, 0.99)),
    segments,
  };
}

async function benchRawFsync(root) {
  const file = path.join(fs.mkdtempSync(path.join(root, 'fsync-bench-')), 'f');
  const fd = fs.openSync(file, 'w+');
  fs.writeSync(fd, Buffer.alloc(16 * 1024 * 1024));
  fs.fdatasyncSync(fd);
  const buf = Buffer.alloc(300, 1);
  let pos = 0;
  const latencies = [];
  const start = process.hrtime.bigint();
  let now = start;
  while (Number(now - start) / 1e6 < DURATION_MS) {
    await new Promise((res, rej) => fs.write(fd, buf, 0, buf.length, pos, (e) => (e ? rej(e) : res())));
    await new Promise((res, rej) => fs.fdatasync(fd, (e) => (e ? rej(e) : res())));
    pos += buf.length;
    const t = process.hrtime.bigint();
    latencies.push(Number(t - now) / 1e3);
    now = t;
  }
  fs.closeSync(fd);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return { shape: 'raw write 300 B + fdatasync', savesPerSecond: Math.round(latencies.length / (Number(now - start) / 1e9)), p50us: Math.round(percentile(latencies, 0.5)), p99us: Math.round(percentile(latencies, 0.99)) };
}

(async () => {
  const root = process.argv[2] ?? os.tmpdir();
  console.log(JSON.stringify(await benchRawFsync(root)));
  console.log(JSON.stringify(await benchSaves(root, 1, 256)));
  console.log(JSON.stringify(await benchSaves(root, 256, 256)));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
