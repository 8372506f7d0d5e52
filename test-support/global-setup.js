'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/**
 * One temp folder for the whole Jest run: makeTempDir (test-support/collector.ts) makes every
 * data dir, queue and home inside it, and global-teardown.js removes it once every test file and
 * every collector they started is done. Data dirs hold databases and keys; none is left behind.
 * Workers are started after this runs, so they inherit the variable.
 */
module.exports = function globalSetup() {
  process.env.JCS_TEST_TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-run-'));
};
