#!/usr/bin/env node
// Builds Cairn: generates protobuf codecs from proto/*.proto (only when a .proto changed), then
// compiles the TypeScript to dist/ with tsc (incremental). Generated code is never hand-edited and
// never committed.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const protoDir = path.join(root, 'proto');
const genDir = path.join(protoDir, 'gen');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function mtime(file) {
  try { return fs.statSync(file).mtimeMs; } catch { return 0; }
}

function protoFiles() {
  return fs.readdirSync(protoDir).filter((f) => f.endsWith('.proto')).sort().map((f) => path.join(protoDir, f));
}

function generateProto() {
  const sources = protoFiles();
  if (sources.length === 0) return;
  const outJs = path.join(genDir, 'pb.js');
  const outDts = path.join(genDir, 'pb.d.ts');
  const newest = Math.max(...sources.map(mtime), mtime(__filename));
  if (mtime(outJs) >= newest && mtime(outDts) >= newest) return;
  fs.mkdirSync(genDir, { recursive: true });
  process.stderr.write('cairn build: generating protobuf codecs\n');
  // No service stubs (proto/methods.ts is the method table) and no length-delimited helpers (unused).
  execFileSync(bin('pbjs'), ['-t', 'static-module', '-w', 'commonjs', '--no-beautify', '--no-service', '--no-delimited', '-p', protoDir, '-o', outJs, ...sources], { cwd: root, stdio: 'inherit' });
  fs.writeFileSync(outJs, bindConstructors(fs.readFileSync(outJs, 'utf8')));
  execFileSync(bin('pbts'), ['-o', outDts, outJs], { cwd: root, stdio: 'inherit' });
}

// protobufjs-cli 2.7 expects protobufjs 8's code generator; with protobufjs 7 installed, the static
// decode/fromObject functions come out as `new this.ctor()`, which no generated class defines. Each
// such function is `function <Class>$<method>(...)` inside the IIFE where `<Class>` is the class, so
// point every `this.ctor` at the class of the function it sits in.
function bindConstructors(js) {
  let current = null;
  let count = 0;
  const out = js.replace(/function ([A-Za-z_][\w]*)\$\w+\(|this\.ctor\b/g, (match, cls) => {
    if (cls !== undefined) { current = cls; return match; }
    if (current === null) throw new Error('cairn build: this.ctor outside a generated message function');
    count++;
    return current;
  });
  if (count > 0) process.stderr.write(`cairn build: bound ${count} constructor references in ${path.basename(genDir)}/pb.js\n`);
  return out;
}

function copyGenerated() {
  if (!fs.existsSync(genDir)) return;
  const out = path.join(root, 'dist', 'proto', 'gen');
  fs.mkdirSync(out, { recursive: true });
  for (const f of fs.readdirSync(genDir)) fs.copyFileSync(path.join(genDir, f), path.join(out, f));
}

function build() {
  generateProto();
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
  copyGenerated();
}

module.exports = { build };
if (require.main === module) build();
