/**
 * The fault-injection suite (faults/*.test.ts): `npm run test:faults` runs it alone
 * (--selectProjects faults); CI runs it together with every other project in one Jest run
 * (`npm test -- --config jest.faults.config.js`) so the last line counts both. Faults spawn the
 * real bins, which run from dist/: build first (both scripts do).
 */
const base = require('./jest.config.js');

const faults = {
  ...base.projects[0],
  displayName: 'faults',
  testMatch: ['<rootDir>/faults/**/*.test.ts'],
};

module.exports = {
  ...base,
  projects: [...base.projects, faults],
};
