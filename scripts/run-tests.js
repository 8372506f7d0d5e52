#!/usr/bin/env node
/**
 * Runs Jest (all projects, or the arguments given) and ends with one plain line,
 * `tests: N passed, N failed`, computed from Jest's JSON results rather than its console summary.
 * Suites that fail to run count their tests as failed, and a suite that could not even load counts
 * as one failure, so a broken file can never look like a smaller green run.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const resultsFile = path.join(root, '.jest-results.json');
fs.rmSync(resultsFile, { force: true });

const jestBin = require.resolve('jest/bin/jest');
const args = [jestBin, '--json', `--outputFile=${resultsFile}`, ...process.argv.slice(2)];
const run = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });

let passed = 0;
let failed = 0;
try {
  const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
  passed = results.numPassedTests;
  failed = results.numFailedTests;
  for (const suite of results.testResults) {
    if (suite.status === 'failed' && suite.assertionResults.length === 0) failed += 1;
  }
} catch {
  failed += 1;
}
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
