/** Jest runs the TypeScript sources through swc (transpile only); `npm test` type-checks and builds
 * first (scripts/setup.js), and tests that start server processes run the built `dist/` code. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/proto', '<rootDir>/server', '<rootDir>/client', '<rootDir>/k8s-layer', '<rootDir>/benchmarks', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }] },
  testTimeout: 60000,
  maxWorkers: 2,
};
