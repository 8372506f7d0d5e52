'use strict';
/**
 * Creates an initialised collector data dir in-process (what `jcs-collector init` and
 * `token create` do), far faster than spawning the bin three times.
 */
const fs = require('node:fs');
const path = require('node:path');
const { load } = require('./dist');

/** This run's own folder, so two runs at once (in one tree) do not delete each other's data. */
const TMP = path.join(__dirname, '..', '.tmp', `run-${process.pid}`);

function tempDir(prefix) {
  fs.mkdirSync(TMP, { recursive: true });
  return fs.mkdtempSync(path.join(TMP, `${prefix}-`));
}

/**
 * Returns { dataDir, publicKey, keyId, tokens: { ingest, engineer, revoked } }; `revoked` is an
 * engineer token revoked at once, whose requests are refused 401 and logged.
 */
function initDataDir(prefix = 'collector') {
  const { openDatabase } = load('collector', 'store/db.js');
  const { createKeys } = load('collector', 'crypto/keyring.js');
  const { dataPaths } = load('collector', 'paths.js');
  const { openCollector } = load('collector');
  const dataDir = path.join(tempDir(prefix), 'data');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  const paths = dataPaths(dataDir);
  openDatabase(paths.db, { create: true }).close();
  const { keyId, publicKey } = createKeys(paths.keys, {});
  const c = openCollector({ dataDir, env: {} });
  const now = Date.now();
  const tokens = {
    ingest: c.tokens.create('bench-app', 'ingest', now),
    engineer: c.tokens.create('bench-engineer', 'engineer', now),
    revoked: c.tokens.create('bench-revoked', 'engineer', now),
  };
  c.tokens.revoke('bench-revoked', now);
  c.close();
  return { dataDir, dbFile: paths.db, publicKey, keyId, tokens };
}

function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
}

module.exports = { TMP, tempDir, initDataDir, removeDir };
