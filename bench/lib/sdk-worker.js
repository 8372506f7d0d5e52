'use strict';
/**
 * One reporter in a process of its own (the SDK or @sentry/node, never both: Sentry installs
 * process-wide hooks), driven over IPC by bench/sdk.js so the two are measured alternately.
 *
 *   node sdk-worker.js jcs [queueDir] | sentry    (IPC, below)
 *   node --expose-gc sdk-worker.js heap <n> plain|dump <groups>
 *
 * Messages: { seq, cmd: 'batch', mode: 'plain' | 'dump' | 'capture', n } answers
 * { seq, result: { micros: number[], wallMs } }: each call's own time, and the wall time of the
 * batch including the event-loop turns that let background work (sending, Sentry's event
 * pipeline) run, so deferred work is not hidden.
 */
const crypto = require('node:crypto');
const { loadSdk } = require('./dist');

const kind = process.argv[2];
const queueDir = process.argv[3];

/** About 4 KiB of JSON: the data values in use when the error occurred. */
function dumpData() {
  const data = { clientId: 4411, client: 'Smith & Sons Ltd', balance: 1250.5, rows: [] };
  for (let i = 0; JSON.stringify(data).length < 4096 - 60; i++) {
    data.rows.push({ line: i, item: `Item ${i} description`, qty: i % 7, price: 12.5 + i });
  }
  return data;
}

const DATA = dumpData();
/**
 * A fresh Error per call, made before timing: Sentry skips an Error object it has captured once
 * (so reusing one would measure nothing), and the host has its error in hand anyway.
 */
function freshErrors(n) {
  return Array.from({ length: n }, () => {
    const e = new Error('Object variable or With block variable not set');
    e.number = 91;
    return e;
  });
}

function makeJcs() {
  const sdk = loadSdk();
  if (!sdk) throw new Error('the SDK is not built (packages/sdk/dist)');
  const publicKey = Buffer.from(crypto.randomBytes(32)).toString('base64');
  const reporter = sdk.createReporter({
    endpoint: 'http://127.0.0.1:9/',
    token: 'jcs_ingest_bench',
    publicKey,
    keyId: 'k1',
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000123',
    username: 'asmith',
    dumpConsent: true,
    queueDir: queueDir || undefined,
    // Every call takes the full path (no report is folded into `repeats`).
    floodControl: { maxPerGroup: 1_000_000_000 },
    // The no-op transport, as Sentry's below: what is measured is the SDK's own work.
    transport: () => ({
      send: async () => {
        sent++;
        return { kind: 'delivered', status: 202 };
      },
    }),
  });
  let i = 0;
  return {
    plain: () =>
      reporter.report({
        number: 91,
        description: 'Object variable or With block variable not set',
        module: 'modClients',
        procedure: `Procedure${i++ % 64}`,
        line: 120,
      }),
    dump: () =>
      reporter.report({
        number: 91,
        description: 'Object variable or With block variable not set',
        module: 'modClients',
        procedure: `Procedure${i++ % 64}`,
        line: 120,
        data: DATA,
      }),
    capture: (err) => reporter.captureException(err),
  };
}

function makeSentry() {
  const Sentry = require('@sentry/node');
  Sentry.init({
    dsn: 'https://public@example.invalid/1',
    defaultIntegrations: false,
    integrations: [],
    release: '5.2.1.345',
    transport: () => ({
      send: async () => {
        sent++;
        return {};
      },
      flush: async () => true,
    }),
  });
  return {
    plain: (err) => Sentry.captureException(err),
    dump: (err) => Sentry.captureException(err, { extra: { data: DATA } }),
    capture: (err) => Sentry.captureException(err),
  };
}

/** reports (JCS) or envelopes (Sentry) handed to the no-op transport */
let sent = 0;

const turn = () => new Promise((r) => setImmediate(r));

async function batch(api, mode, n) {
  const f = api[mode];
  const micros = new Array(n);
  const errs = freshErrors(n);
  const sentBefore = sent;
  const start = process.hrtime.bigint();
  for (let k = 0; k < n; k++) {
    const err = errs[k];
    const t0 = process.hrtime.bigint();
    f(err);
    micros[k] = Number(process.hrtime.bigint() - t0) / 1000;
    if (k % 50 === 49) await turn();
  }
  for (let k = 0; k < 5; k++) await turn();
  return { micros, wallMs: Number(process.hrtime.bigint() - start) / 1e6, sent: sent - sentBefore };
}

async function main() {
  const api = kind === 'sentry' ? makeSentry() : makeJcs();
  process.on('message', async (msg) => {
    try {
      process.send({ seq: msg.seq, result: await batch(api, msg.mode, msg.n) });
    } catch (e) {
      process.send({ seq: msg.seq, error: String(e?.stack ?? e) });
    }
  });
  process.send({ ready: true });
}

/**
 * The heap after `n` reports with the collector down (an endpoint on a closed port), default
 * options (in-memory queue of at most 1,000 reports, flood control on), spread over `groups`.
 */
async function heap(n, withDump, groups) {
  const sdk = loadSdk();
  const gc = globalThis.gc;
  const server = require('node:net').createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  await new Promise((r) => server.close(r));
  gc();
  const before = process.memoryUsage().heapUsed;
  const reporter = sdk.createReporter({
    endpoint: `http://127.0.0.1:${port}/`,
    token: 'jcs_ingest_bench',
    publicKey: Buffer.from(crypto.randomBytes(32)).toString('base64'),
    keyId: 'k1',
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000123',
    dumpConsent: withDump,
    retry: { minDelayMs: 50, maxDelayMs: 1000 },
  });
  for (let k = 0; k < n; k++) {
    reporter.report({
      number: 91,
      description: 'Object variable or With block variable not set',
      module: 'modClients',
      procedure: `Procedure${k % groups}`,
      line: 120,
      data: withDump ? DATA : undefined,
    });
    if (k % 200 === 199) await turn();
  }
  await new Promise((r) => setTimeout(r, 200));
  gc();
  const after = process.memoryUsage().heapUsed;
  process.stdout.write(JSON.stringify({ before, after, rss: process.memoryUsage().rss }) + '\n');
  process.exit(0);
}

if (kind === 'heap') {
  heap(Number(process.argv[3]), process.argv[4] === 'dump', Number(process.argv[5])).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
