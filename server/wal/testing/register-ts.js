/**
 * Lets a plain `node` child process require the WAL's TypeScript sources: transpiles `.ts` files on
 * load (no type check), with @swc/core when it is installed, else with TypeScript's
 * transpileModule (always present: the project type-checks with it).
 * Usage: node --require ./register-ts.js child.js
 */
'use strict';
const fs = require('node:fs');

function makeTranspiler() {
  try {
    const { transformSync } = require('@swc/core');
    return (source, filename) =>
      transformSync(source, {
        filename,
        jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      }).code;
  } catch {
    const ts = require('typescript');
    return (source, filename) =>
      ts.transpileModule(source, {
        fileName: filename,
        compilerOptions: {
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.CommonJS,
          esModuleInterop: true,
          inlineSourceMap: true,
        },
      }).outputText;
  }
}

const transpile = makeTranspiler();
require.extensions['.ts'] = function compileTypeScript(module, filename) {
  module._compile(transpile(fs.readFileSync(filename, 'utf8'), filename), filename);
};
