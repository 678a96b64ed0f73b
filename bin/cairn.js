#!/usr/bin/env node
'use strict';
// The `cairn` command: one etcd-compatible member. Takes etcd's flags and ETCD_* variables.
require('../dist/server/main.js').main(process.argv.slice(2));
