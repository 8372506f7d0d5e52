'use strict';
/**
 * Report bodies for the load generators: about 1 KiB of JSON each, with a 512-byte sealed dump
 * (a 496-byte plaintext; the box adds 16 bytes), one of many licences and users, a few hundred
 * groups. Dumps are sealed once into a pool (x25519 in pure JS costs about a millisecond, which
 * would make the load generator the bottleneck); every request still gets a fresh id.
 */
const crypto = require('node:crypto');
const { load } = require('./dist');

const LICENCES = 5000;
const USERS = 20000;
const GROUPS = 300;
const VERSIONS = ['5.2.1.345', '5.2.0.310', '5.1.9.288', '5.3.0.12', '5.2.1.344'];

function pick(n) {
  return Math.floor(Math.random() * n);
}

/** Zipf-like index in [0, n): a few groups get most reports, as in real error data. */
function zipf(n) {
  return Math.min(n - 1, Math.floor(n ** Math.random()) - 1);
}

function dumpPlaintext(bytes) {
  const base = { client: 'Smith & Sons', clientId: 4411, balance: 1250.5, note: '' };
  const without = JSON.stringify(base).length;
  base.note = 'x'.repeat(Math.max(0, bytes - without));
  return JSON.stringify(base);
}

/**
 * A generator of request bodies: `next()` returns { id, body } with a fresh UUID.
 * @param {{ publicKey: string, keyId: string, dumpPool?: number }} keys
 */
function reportFactory(keys, dumpPool = 64) {
  const { sealDump, fromBase64 } = load('protocol');
  const pk = fromBase64(keys.publicKey);
  const plain = dumpPlaintext(496);
  const dumps = Array.from({ length: dumpPool }, () => sealDump(plain, pk, keys.keyId));
  const occurredAt = new Date().toISOString();
  return {
    next() {
      const id = crypto.randomUUID();
      const g = zipf(GROUPS);
      const report = {
        schema: 1,
        id,
        occurredAt,
        app: { name: 'JCS', version: VERSIONS[zipf(VERSIONS.length)] },
        license: `JCS-${String(pick(LICENCES)).padStart(6, '0')}`,
        username: `user${pick(USERS)}`,
        error: {
          number: 91 + (g % 7),
          description: 'Object variable or With block variable not set',
          module: `modModule${g % 40}`,
          procedure: `Procedure${g}`,
          line: 100 + (g % 13),
        },
        dump: dumps[pick(dumps.length)],
      };
      return { id, body: JSON.stringify(report) };
    },
  };
}

module.exports = { reportFactory, zipf, pick, LICENCES, USERS, GROUPS, VERSIONS, dumpPlaintext };
