#!/usr/bin/env node
// Makes a checkout ready to run: installs npm packages when node_modules is missing or older than
// package-lock.json, then builds (scripts/build.js). `npm start` and `npm test` call this first, so
// each works by itself on a fresh clone.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const lock = path.join(root, 'package-lock.json');
const stamp = path.join(root, 'node_modules', '.package-lock.json');

function mtime(file) {
  try { return fs.statSync(file).mtimeMs; } catch { return 0; }
}

if (mtime(stamp) === 0 || mtime(stamp) < mtime(lock)) {
  process.stderr.write('cairn setup: installing npm packages (npm ci)\n');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}
require('./build.js').build();
