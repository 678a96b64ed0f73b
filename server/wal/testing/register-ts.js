/**
 * Lets a plain `node` child process require the WAL's TypeScript sources: compiles `.ts` files on
 * load with @swc/core (transpile only, as jest does). Usage: node --require ./register-ts.js child.js
 */
'use strict';
const fs = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
