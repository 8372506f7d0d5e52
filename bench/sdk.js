'use strict';
/**
 * SDK: `report()` against @sentry/node's `captureException` with a no-op transport, each in a
 * process of its own, driven alternately; the heap after 100,000 reports with the collector down;
 * installed size of each with its dependency closure.
 */
const { fork, execFileSync } = require('node:child_process');
const path = require('node:path');
const { loadSdk, ROOT } = require('./lib/dist');
const { tempDir } = require('./lib/datadir');
const { installedSize, findPackageDir } = require('./lib/size');
const { summarize, percentile, median, range, ratio, bytes, fmt } = require('./lib/stats');

const WORKER = path.join(__dirname, 'lib', 'sdk-worker.js');

function startWorker(kind, extra = []) {
  const child = fork(WORKER, [kind, ...extra], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let seq = 0;
  const waiting = new Map();
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} worker exited with ${code}`)));
    child.on('message', (msg) => {
      if (msg.ready) {
        resolve({
          batch: (mode, n) =>
            new Promise((res, rej) => {
              const id = ++seq;
              waiting.set(id, { res, rej });
              child.send({ seq: id, cmd: 'batch', mode, n });
            }),
          stop: () => {
            child.removeAllListeners('exit');
            child.kill();
          },
        });
        return;
      }
      const w = waiting.get(msg.seq);
      waiting.delete(msg.seq);
      if (msg.error) w.rej(new Error(msg.error));
      else w.res(msg.result);
    });
  });
}

/** Heap groups: without a dump 1,000 groups (10,000 reports admitted, the queue overflows); with
 * one 100 groups (1,000 admitted: each costs a sealing, about as many as fill the queue). */
const HEAP_GROUPS = { plain: 1000, dump: 100 };

function heapRun(n, withDump) {
  const out = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      WORKER,
      'heap',
      String(n),
      withDump ? 'dump' : 'plain',
      String(HEAP_GROUPS[withDump ? 'dump' : 'plain']),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split('\n').pop());
}

async function run(ctx) {
  if (!loadSdk()) throw new Error('the SDK is not built yet (packages/sdk/dist/index.js)');
  const quick = ctx.quick;
  const rounds = quick ? 3 : 5;
  const sizes = {
    plain: quick ? 1000 : 5000,
    capture: quick ? 1000 : 5000,
    dump: quick ? 50 : 300,
  };
  const heapReports = quick ? 20_000 : 100_000;
  const heapRounds = quick ? 1 : 3;

  const jcs = await startWorker('jcs');
  const sentry = await startWorker('sentry');
  const diskQueue = tempDir('sdk-queue');
  const jcsDisk = await startWorker('jcs', [diskQueue]);
  const per = {}; // mode -> side -> { median: [], p99: [], wall: [] }
  const ratios = {};
  const handed = { jcs: { sent: 0, calls: 0 }, sentry: { sent: 0, calls: 0 } };
  try {
    ctx.log('sdk: warm-up');
    for (const w of [jcs, sentry]) {
      for (const mode of Object.keys(sizes)) await w.batch(mode, sizes[mode]);
    }
    await jcsDisk.batch('plain', 50);
    for (let i = 0; i < rounds; i++) {
      for (const mode of Object.keys(sizes)) {
        const order =
          i % 2 === 0
            ? [
                ['jcs', jcs],
                ['sentry', sentry],
              ]
            : [
                ['sentry', sentry],
                ['jcs', jcs],
              ];
        const got = {};
        for (const [name, w] of order) {
          const r = await w.batch(mode, sizes[mode]);
          handed[name].sent += r.sent;
          handed[name].calls += sizes[mode];
          got[name] = {
            median: median(r.micros),
            p99: percentile(r.micros, 99),
            wall: (r.wallMs * 1000) / sizes[mode],
          };
          per[mode] ??= { jcs: [], sentry: [] };
          per[mode][name].push(got[name]);
        }
        ratios[mode] ??= { median: [], p99: [], wall: [] };
        for (const k of ['median', 'p99', 'wall']) ratios[mode][k].push(got.jcs[k] / got.sentry[k]);
      }
      const disk = await jcsDisk.batch('plain', quick ? 50 : 300);
      per.disk ??= { jcs: [] };
      per.disk.jcs.push({ median: median(disk.micros), p99: percentile(disk.micros, 99) });
      ctx.log(
        `sdk round ${i + 1}/${rounds}: report() ${fmt(per.plain.jcs[i].median)} us vs Sentry ${fmt(per.plain.sentry[i].median)} us`,
      );
    }
  } finally {
    jcs.stop();
    sentry.stop();
    jcsDisk.stop();
  }

  ctx.log(`sdk: heap after ${heapReports} reports, collector down`);
  const heaps = { plain: [], dump: [] };
  for (let i = 0; i < heapRounds; i++) {
    for (const mode of ['plain', 'dump']) {
      const h = heapRun(heapReports, mode === 'dump');
      heaps[mode].push(h);
    }
  }

  const jcsSize = installedSize(path.join(ROOT, 'packages', 'sdk'));
  const sentryDir = findPackageDir('@sentry/node', ROOT);
  const sentrySize = installedSize(sentryDir);
  const sentryVersion = sentrySize.packages[0].version;

  const col = (mode, side, key) => summarize(per[mode][side].map((r) => r[key]));
  const us = (mode, side, key) => range(col(mode, side, key), 'us');
  const heapRange = (mode, key) =>
    range(summarize(heaps[mode].map((h) => h[key] / 1024 / 1024)), 'MiB', 1);
  const labels = {
    plain: '`report()` without a dump / Sentry `captureException(err)`',
    capture: '`captureException(err)` / Sentry `captureException(err)`',
    dump: '`report()` with a 4 KiB dump (sealed) / Sentry `captureException(err, { extra })`',
  };
  const rows = [];
  for (const mode of Object.keys(sizes)) {
    rows.push([
      `${labels[mode]}: median`,
      `${us(mode, 'jcs', 'median')} vs ${us(mode, 'sentry', 'median')}`,
    ]);
    rows.push([
      `${labels[mode]}: p99`,
      `${us(mode, 'jcs', 'p99')} vs ${us(mode, 'sentry', 'p99')}`,
    ]);
    rows.push([
      `**ratio JCS / Sentry, ${mode === 'plain' ? 'no dump' : mode === 'dump' ? '4 KiB dump' : 'captureException'}** (median; p99; per report incl. background work)`,
      `${ratio(summarize(ratios[mode].median))}; ${ratio(summarize(ratios[mode].p99))}; ${ratio(summarize(ratios[mode].wall))}`,
    ]);
  }
  const pct = (h) => `${((100 * h.sent) / h.calls).toFixed(1)}%`;
  rows.push([
    'Calls whose event reached the no-op transport within the batch (checks nothing was skipped)',
    `JCS ${pct(handed.jcs)}, Sentry ${pct(handed.sentry)}`,
  ]);
  rows.push([
    '`report()` without a dump, disk queue (queueDir: one fsynced file per report): median; p99',
    `${us('disk', 'jcs', 'median')}; ${us('disk', 'jcs', 'p99')}`,
  ]);
  rows.push([
    `Heap after ${heapReports.toLocaleString('en-US')} reports, collector down, no dump (before: ${heapRange('plain', 'before')})`,
    heapRange('plain', 'after'),
  ]);
  rows.push([
    `Heap after ${heapReports.toLocaleString('en-US')} reports, collector down, 4 KiB dump (before: ${heapRange('dump', 'before')})`,
    heapRange('dump', 'after'),
  ]);
  rows.push([
    'Installed size, @jcs/sdk with dependencies',
    `${bytes(jcsSize.bytes)}, ${jcsSize.packages.length} packages (${jcsSize.packages.map((p) => p.name).join(', ')})`,
  ]);
  rows.push([
    `Installed size, @sentry/node ${sentryVersion} with dependencies`,
    `${bytes(sentrySize.bytes)}, ${sentrySize.packages.length} packages`,
  ]);
  rows.push([
    '**Installed size ratio JCS / Sentry**',
    `${fmt(jcsSize.bytes / sentrySize.bytes, 3)}x`,
  ]);

  return {
    title: 'SDK: report() vs @sentry/node captureException',
    setup: [
      `${rounds} rounds, alternating JCS and Sentry, each in its own process; per round ${sizes.plain.toLocaleString('en-US')} calls without a dump, ` +
        `${sizes.dump} with a 4 KiB dump; an event-loop turn every 50 calls lets background work run`,
      `JCS: createReporter with dump consent, in-memory queue, a no-op transport answering 202, flood control raised so every call takes the full path`,
      `Sentry ${sentryVersion}: Sentry.init({ defaultIntegrations: false, transport: no-op }); the Error objects are made before timing for both`,
      '"per report incl. background work" is the wall time of a batch over its size, so work either SDK defers is counted',
      `heap: default options (in-memory queue bounded at 1,000 reports, flood control 3 per group per minute), reports spread over 1,000 groups (100 with a dump), endpoint on a closed port, heapUsed after gc`,
      'installed size: every file of each package in the dependency closure, one copy per name@version; for @jcs/sdk and @jcs/protocol the published dist/',
    ],
    rows,
    headline: {
      'SDK report() time ratio JCS / Sentry, no dump (goal <= 0.5)': ratio(
        summarize(ratios.plain.median),
      ),
      'SDK report() time ratio JCS / Sentry, 4 KiB dump': ratio(summarize(ratios.dump.median)),
      [`SDK heap after ${heapReports.toLocaleString('en-US')} reports, collector down`]: heapRange(
        'plain',
        'after',
      ),
      'SDK installed size ratio JCS / Sentry': `${fmt(jcsSize.bytes / sentrySize.bytes, 3)}x (${bytes(jcsSize.bytes)} vs ${bytes(sentrySize.bytes)})`,
    },
  };
}

module.exports = { name: 'sdk', run };
