/**
 * Crash-test child: appends entries to the WAL in `dir` forever and prints the last index of each
 * acknowledged save on its own stdout line (stdout to a pipe is synchronous on Linux, so a line
 * printed is a line the parent receives). The parent kills it with SIGKILL at a random moment.
 * Entry i has term 1 and payloadBytes(i) bytes of payload(i, 1). Every 40 saves it records a
 * snapshot 100 entries back and releases segments below it.
 * Usage: node --require ./register-ts.js crash-child.js <dir> <segmentBytes> <seed>
 */
'use strict';
const path = require('node:path');
const { Wal } = require(path.join(__dirname, '..', 'index.ts'));
const { payload } = require(path.join(__dirname, 'fixtures.ts'));

const [dir, segmentBytesArg, seedArg] = process.argv.slice(2);
const segmentBytes = Number(segmentBytesArg);
let seed = Number(seedArg) >>> 0 || 1;
function random(n) {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed % n;
}
const payloadBytes = (index) => (index * 37) % 1500;

async function main() {
  const metadata = Buffer.from('crash-test');
  let wal;
  let last;
  let snapshotIndex = 0;
  if (Wal.exists(dir)) {
    const opened = await Wal.open(dir, { segmentBytes });
    wal = opened.wal;
    last = wal.lastIndex();
    snapshotIndex = opened.snapshot ? opened.snapshot.index : 0;
  } else {
    wal = await Wal.create(dir, { metadata, segmentBytes });
    last = 0;
  }
  process.stdout.write(`ready ${last}\n`);
  for (let save = 1; ; save++) {
    const count = 1 + random(20);
    const batch = [];
    for (let i = 1; i <= count; i++) {
      const index = last + i;
      batch.push({ index, term: 1, type: 0, data: payload(index, 1, payloadBytes(index)) });
    }
    await wal.save({ term: 1, vote: 0n, commit: last }, batch);
    last += count;
    process.stdout.write(`${last}\n`);
    if (save % 40 === 0 && last - 100 > snapshotIndex) {
      snapshotIndex = last - 100;
      await wal.saveSnapshot({ index: snapshotIndex, term: 1 });
      await wal.releaseTo(snapshotIndex);
    }
  }
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
