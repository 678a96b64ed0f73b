#!/usr/bin/env node
'use strict';
// `npx cairn-bench` / `npm run bench`: compares etcd-compatible servers side by side (see benchmarks/README.md).
// Exit codes: 0 done, 1 the comparison failed midway (outputs still written, marked INCOMPLETE),
// 2 bad input (nothing started), 3 done but some calls failed (every output says so).
const { main } = require('../../dist/benchmarks/compare.js');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (typeof err.code === 'string' && err.code.startsWith('commander.')) process.exit(err.exitCode === 0 ? 0 : 2); // commander printed it
    process.stderr.write(`cairn-bench: ${err.message}\n`);
    process.exit(2);
  },
);
