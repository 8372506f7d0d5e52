'use strict';
/**
 * Expiry: the retention job (runExpiry, in the collector's own process as `serve` runs it) deletes
 * 1,000,000 expired reports (quick: 50,000) with secure_delete on, while autocannon posts reports
 * at a fixed rate; the ingest p99 during the run is compared with the p99 at the same rate with
 * no expiry running, on the same collector in the same round (order alternating by round).
 */
const fs = require('node:fs');
const path = require('node:path');
const { initDataDir, tempDir, removeDir } = require('./lib/datadir');
const { startServer } = require('./lib/procs');
const { fillReports, DAY } = require('./lib/fill');
const { reportFactory } = require('./lib/reports');
const { steadyLoad } = require('./lib/steady');
const { loadExpiry } = require('./lib/dist');
const { summarize, range, ratio, fmt } = require('./lib/stats');

/**
 * Copies a data dir and syncs every file: otherwise the kernel writes the copy's gigabyte back
 * while the round runs, and every fsync of the collector waits behind it.
 */
function copySynced(from, to) {
  fs.cpSync(from, to, { recursive: true });
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const fd = fs.openSync(p, 'r+');
        fs.fsyncSync(fd);
        fs.closeSync(fd);
      }
    }
  };
  walk(to);
}

async function duringExpiry(server, target, factory, rate, capMs) {
  const olderThan = Date.now() - 42 * DAY;
  // Counted before the load starts: the count is the bench's own work on the server's event loop.
  const before = await server.call('countExpired', { olderThan });
  const stop = new globalThis.AbortController();
  const load = steadyLoad({ ...target, factory, duration: 600, rate, signal: stop.signal });
  const expired = await server.call('expire', { now: Date.now(), capMs, olderThan, before });
  stop.abort();
  return { expired, load: await load };
}

async function run(ctx) {
  if (!loadExpiry()) {
    throw new Error(
      'the retention job is not built yet (packages/collector/dist/retention/expire.js)',
    );
  }
  const quick = ctx.quick;
  const n = quick ? 50_000 : 1_000_000;
  // Four in full mode: with two, one slow round on a shared machine decided the p99 ratio.
  const rounds = quick ? 2 : 4;
  const rate = 200;
  // The whole run must fit the bench's time budget on a loaded 2-core machine: a run still going
  // at the cap is stopped between two chunks (its AbortSignal) and its rate so far reported.
  const capMs = quick ? 5_000 : 60_000;

  const res = { rate: [], idle: [], during: [], ratio: [], secs: [] };
  let pragmas;
  const finished = [];
  // Stored once, copied for each later round (a copy is far quicker than storing a million again).
  const master = initDataDir('expiry');
  const now = Date.now();
  const filled = fillReports(master.dataDir, { n, fromMs: now - 48 * DAY, toMs: now - 43 * DAY });
  ctx.log(`expiry: ${fmt(n)} expired reports stored in ${fmt(filled.ms / 1000)} s`);
  for (let r = 0; r < rounds; r++) {
    const d = { ...master, dataDir: path.join(tempDir('expiry-round'), 'data') };
    copySynced(master.dataDir, d.dataDir);
    const server = await startServer('collector', { dataDir: d.dataDir });
    const target = { url: server.url, token: d.tokens.ingest };
    const factory = reportFactory(d);
    try {
      pragmas ??= await server.call('pragmas');
      await steadyLoad({ ...target, factory, duration: 1, rate }); // warm-up
      let idle;
      let during;
      if (r % 2 === 0) {
        during = await duringExpiry(server, target, factory, rate, capMs);
        idle = await steadyLoad({ ...target, factory, duration: quick ? 2 : 8, rate });
      } else {
        idle = await steadyLoad({ ...target, factory, duration: quick ? 2 : 8, rate });
        during = await duringExpiry(server, target, factory, rate, capMs);
      }
      const { expired } = during;
      if (expired.finished && expired.deleted < n) {
        throw new Error(
          `expiry finished having deleted ${expired.deleted} of ${n} expired reports`,
        );
      }
      finished.push(expired.finished);
      res.rate.push(expired.deleted / (expired.ms / 1000));
      res.secs.push(expired.ms / 1000);
      res.idle.push(idle.p99);
      res.during.push(during.load.p99);
      res.ratio.push(during.load.p99 / idle.p99);
      ctx.log(
        `expiry round ${r + 1}/${rounds}: ${fmt(expired.deleted)} deleted in ${fmt(expired.ms / 1000)} s${expired.finished ? '' : ' (stopped at the cap)'} ` +
          `(${fmt(res.rate[r])}/s); ingest p99 ${during.load.p99} ms during vs ${idle.p99} ms idle`,
      );
    } finally {
      await server.call('close').catch(() => {});
      await server.stop();
      removeDir(path.dirname(d.dataDir));
    }
  }
  const label = n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`;
  const capped = finished.filter((f) => !f).length;
  const cappedNote = capped
    ? `${capped} of ${rounds} runs did not finish within the ${capMs / 1000} s cap and were stopped between two chunks: ` +
      'their rate is reports deleted so far over the time so far (the vacuum and WAL truncation at the end not reached)'
    : `every run finished within the ${capMs / 1000} s cap`;
  return {
    title: 'Expiry: deleting expired reports while ingest goes on',
    setup: [
      `${rounds} rounds, each on a fresh data dir holding ${n.toLocaleString('en-US')} reports received 43 to 48 days ago; ` +
        `runExpiry(c, { now }) in the collector's process (default chunks), pragmas ${JSON.stringify(pragmas)}`,
      `ingest at ${rate} reports/s (lib/steady.js: evenly spaced, up to 50 connections, latency from the scheduled send time) for the whole expiry run, and for ${quick ? 2 : 8} s with no expiry; order alternating by round`,
      'reports per second = reports deleted / the run time, which includes the day keys shredded, the incremental vacuum and the WAL truncation',
      cappedNote,
    ],
    rows: [
      [
        `Expiry of ${label} reports, run time${capped ? ' (capped)' : ''}`,
        range(summarize(res.secs), 's'),
      ],
      [`**Reports deleted per second** (goal >= 50,000)`, range(summarize(res.rate), '/s')],
      [`Ingest p99 at ${rate}/s, idle`, range(summarize(res.idle), 'ms')],
      [`Ingest p99 at ${rate}/s, during expiry`, range(summarize(res.during), 'ms')],
      ['**Ingest p99 ratio during / idle** (goal <= 2)', ratio(summarize(res.ratio))],
    ],
    headline: {
      [`Expiry of ${label} reports, reports deleted per second${capped ? ' (run capped)' : ''}`]:
        range(summarize(res.rate), '/s'),
      'Ingest p99 during expiry / idle': ratio(summarize(res.ratio)),
    },
  };
}

module.exports = { name: 'expiry', run };
