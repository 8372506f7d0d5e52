'use strict';
/**
 * The built packages the benchmarks run against (`npx tsc -b` first). Internals the benchmarks
 * need to set up data quickly (the data dir, the ingest writer) are loaded from dist/ paths too.
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const dist = (pkg, file = 'index.js') => path.join(ROOT, 'packages', pkg, 'dist', file);

function assertBuilt() {
  const needed = [
    dist('protocol'),
    dist('collector'),
    dist('collector', 'store/db.js'),
    dist('collector', 'crypto/keyring.js'),
  ];
  const missing = needed.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) {
    throw new Error(`not built: ${missing.join(', ')}. Run \`npx tsc -b\` first.`);
  }
}

const load = (pkg, file) => require(dist(pkg, file));

/** The retention job, once it exists (packages/collector/src/retention/expire.ts). */
function loadExpiry() {
  const file = dist('collector', 'retention/expire.js');
  if (!fs.existsSync(file)) return null;
  const mod = require(file);
  return typeof mod.runExpiry === 'function' ? mod : null;
}

/** The SDK, once it is built. */
function loadSdk() {
  const file = dist('sdk');
  if (!fs.existsSync(file)) return null;
  const mod = require(file);
  return typeof mod.createReporter === 'function' ? mod : null;
}

module.exports = { ROOT, dist, assertBuilt, load, loadExpiry, loadSdk };
