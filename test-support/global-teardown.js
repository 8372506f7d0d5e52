'use strict';
const fs = require('node:fs');

/** Removes the run's temp folder (test-support/global-setup.js). */
module.exports = function globalTeardown() {
  const dir = process.env.JCS_TEST_TMP;
  if (dir) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
};
