/**
 * One Jest project per package. Tests import the packages' TypeScript sources directly
 * (moduleNameMapper), so a test never runs stale dist/ code; tests that spawn the bins use
 * dist/, which `npm test` builds first (pretest: tsc -b).
 */
const packages = ['protocol', 'sdk', 'collector', 'cli'];

const moduleNameMapper = Object.fromEntries(
  packages.map((p) => [`^@jcs/${p}$`, `<rootDir>/packages/${p}/src/index.ts`]),
);

module.exports = {
  projects: packages.map((p) => ({
    displayName: p,
    rootDir: __dirname,
    testMatch: [`<rootDir>/packages/${p}/test/**/*.test.ts`],
    testEnvironment: 'node',
    moduleNameMapper,
    transform: {
      '^.+\\.ts$': [
        'ts-jest',
        { isolatedModules: true, tsconfig: '<rootDir>/tsconfig.tests.json' },
      ],
    },
  })),
};
