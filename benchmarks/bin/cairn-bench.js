#!/usr/bin/env node
'use strict';
// `npx cairn-bench`: compares etcd-compatible servers side by side (see benchmarks/README.md).
const { main } = require('../../dist/benchmarks/compare.js');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`cairn-bench: ${err.message}\n`);
    process.exit(2);
  },
);
