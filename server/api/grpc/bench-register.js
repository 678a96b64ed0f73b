// Lets `node -r` load TypeScript (transpile only), for bench.ts and its child processes: through
// @swc/core, or TypeScript's own transpiler if swc is not installed.
'use strict';
const fs = require('node:fs');

let transpile;
try {
  const swc = require('@swc/core');
  transpile = (source, filename) =>
    swc.transformSync(source, { filename, jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }).code;
} catch {
  const ts = require('typescript');
  transpile = (source, fileName) =>
    ts.transpileModule(source, { fileName, compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, esModuleInterop: true } }).outputText;
}

require.extensions['.ts'] = function compileTs(module, filename) {
  module._compile(transpile(fs.readFileSync(filename, 'utf8'), filename), filename);
};
