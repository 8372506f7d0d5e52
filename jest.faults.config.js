/**
 * The fault-injection suite (faults/*.test.ts): `npm run test:faults` runs it alone
 * (--selectProjects faults); `npm test` (and so CI) runs it together with every other project in
 * one Jest run, so the last line counts both; `npm run test:fast` leaves it out. Faults spawn the
 * real bins, which run from dist/: build first (the scripts do).
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
