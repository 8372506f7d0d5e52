/**
 * One Jest project per package, plus e2e/ for tests that cross packages. Tests import the
 * packages' TypeScript sources directly (moduleNameMapper), so a test never runs stale dist/ code;
 * tests that spawn the bins use dist/, which `npm test` builds first (pretest: tsc -b).
 */
const packages = ['protocol', 'sdk', 'collector', 'cli'];

const moduleNameMapper = Object.fromEntries(
  packages.map((p) => [`^@jcs/${p}$`, `<rootDir>/packages/${p}/src/index.ts`]),
);

const project = (displayName, testMatch) => ({
  displayName,
  rootDir: __dirname,
  testMatch: [testMatch],
  testEnvironment: 'node',
  moduleNameMapper,
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.tests.json' }],
  },
});

module.exports = {
  // Tests that spawn the real bins run on busy 2-core machines: generous, never a speed check.
  // A global option: Jest ignores it inside a project (which left 5 s, and a CI run failed).
  testTimeout: 30_000,
  // Jest's default is one worker fewer than the cores: on the 2-core CI machine, one, and the suites
  // ran one after another (14.5 minutes, the CPU half idle while tests waited on children, sockets
  // and fsync). Two workers there: 8 minutes, every test passing.
  maxWorkers: '100%',
  globalSetup: '<rootDir>/test-support/global-setup.js',
  globalTeardown: '<rootDir>/test-support/global-teardown.js',
  projects: [
    ...packages.map((p) => project(p, `<rootDir>/packages/${p}/test/**/*.test.ts`)),
    project('e2e', '<rootDir>/e2e/**/*.test.ts'),
  ],
};
