'use strict';
/**
 * Triage: `GET /v1/groups` (the default query: last 7 days, unresolved, by count, 20 groups) on
 * collectors holding 10k, 100k and 1M stored reports (quick: 10k and 50k), each its own data dir
 * and process, queried alternately round by round. Reports are stored beforehand by
 * lib/fill.js (the rows and aggregates ingest writes), received uniformly over the last 41 days,
 * 300 groups (Zipf), 5 versions, 5,000 licences.
 */
const fs = require('node:fs');
const path = require('node:path');
const { initDataDir, tempDir } = require('./lib/datadir');
const { startServer } = require('./lib/procs');
const { fillReports, DAY } = require('./lib/fill');
const { summarize, median, range, ratio, fmt } = require('./lib/stats');

async function timeGet(url, token) {
  const t0 = process.hrtime.bigint();
  const res = await globalThis.fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.json();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.status !== 200)
    throw new Error(`GET /v1/groups answered ${res.status}: ${JSON.stringify(body)}`);
  return { ms, groups: body.groups.length };
}

/** The message of the last error line in a collector log, for a failed query. */
function lastError(logFile) {
  try {
    const lines = fs.readFileSync(logFile, 'utf8').trim().split('\n').reverse();
    for (const line of lines) {
      const entry = JSON.parse(line);
      if (entry.level >= 50) {
        const frame = /\n\s+at ([^\n]+)/.exec(entry.err?.stack ?? '')?.[1] ?? '';
        const at = /\(([^)]+)\)$/.exec(frame)?.[1] ?? frame;
        return `${entry.err?.message ?? entry.msg}${at ? ` (at ${at.replace(/^.*\/dist\//, 'dist/')})` : ''}`;
      }
    }
  } catch {
    // no log to read
  }
  return 'see the collector log';
}

async function run(ctx) {
  const quick = ctx.quick;
  const sizes = quick ? [10_000, 50_000] : [10_000, 100_000, 1_000_000];
  const rounds = quick ? 3 : 5;
  const perRound = 3;
  const queries = [
    { name: 'default (7 days)', path: '/v1/groups' },
    { name: '6 weeks', path: '/v1/groups?since=6w' },
  ];

  const servers = [];
  try {
    const logDir = tempDir('triage-logs');
    for (const n of sizes) {
      const d = initDataDir(`triage-${n}`);
      const now = Date.now();
      const filled = fillReports(d.dataDir, { n, fromMs: now - 41 * DAY, toMs: now - 60_000 });
      ctx.log(
        `triage: ${n.toLocaleString('en-US')} reports stored in ${(filled.ms / 1000).toFixed(1)} s`,
      );
      const logFile = path.join(logDir, `${n}.log`);
      const s = await startServer('collector', { dataDir: d.dataDir, logFile });
      servers.push({ n, s, token: d.tokens.engineer, logFile });
    }
    // Warm the page cache and the statements. A query the collector fails is recorded with the
    // reason from its log, and left out of the rounds, rather than ending the benchmark.
    const broken = new Map(); // `${query} ${n}` -> reason
    for (const { n, s, token, logFile } of servers) {
      for (const q of queries) {
        try {
          await timeGet(s.url + q.path, token);
        } catch (e) {
          broken.set(`${q.name} ${n}`, `${e.message.split(':')[0]}: ${lastError(logFile)}`);
        }
      }
    }

    const times = {}; // query -> n -> [round medians]
    let groupsShown = 0;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? servers : [...servers].reverse();
      for (const q of queries) {
        for (const { n, s, token } of order) {
          if (broken.has(`${q.name} ${n}`)) continue;
          const ms = [];
          for (let k = 0; k < perRound; k++) {
            const got = await timeGet(s.url + q.path, token);
            ms.push(got.ms);
            groupsShown = got.groups;
          }
          times[q.name] ??= {};
          (times[q.name][n] ??= []).push(median(ms));
        }
      }
      ctx.log(
        `triage round ${r + 1}/${rounds}: ` +
          sizes.map((n) => `${fmt(n)}: ${fmt(times[queries[0].name]?.[n]?.[r])} ms`).join(', '),
      );
    }

    const big = sizes[sizes.length - 1];
    const mid = sizes[sizes.length - 2];
    const label = (n) => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`);
    const rows = [];
    const headline = {};
    const timesOf = (q, n) => times[q.name]?.[n] ?? [];
    for (const q of queries) {
      for (const n of sizes) {
        const why = broken.get(`${q.name} ${n}`);
        rows.push([
          `GET /v1/groups ${q.name}, ${label(n)} stored reports${q === queries[0] ? ' (goal < 50 ms)' : ''}`,
          why ? `**fails**: ${why}` : range(summarize(timesOf(q, n)), 'ms'),
        ]);
      }
      const rs = summarize(timesOf(q, big).map((t, i) => t / timesOf(q, mid)[i]));
      rows.push([
        `**ratio ${label(big)} / ${label(mid)}, ${q.name}**${q === queries[0] && !quick ? ' (goal <= 2)' : ''}`,
        ratio(rs),
      ]);
      if (q === queries[0]) {
        headline[`Triage GET /v1/groups at ${label(big)} reports`] = range(
          summarize(timesOf(q, big)),
          'ms',
        );
        headline[`Triage ratio ${label(big)} / ${label(mid)} reports`] = ratio(rs);
      }
    }
    for (const [key, why] of broken) {
      headline[
        `Triage GET /v1/groups ${key.replace(/ (\d+)$/, (_, n) => ` at ${label(Number(n))}`)}`
      ] = `fails: ${why}`;
    }
    return {
      title: 'Triage: GET /v1/groups against stored reports',
      setup: [
        `${rounds} rounds; in each, every collector answers ${perRound} requests per query in turn (order alternating), and the round's figure is their median`,
        `reports received uniformly over the last 41 days, 300 groups (Zipf), 5 versions; ${groupsShown} groups per answer; each request also writes its access-log entry (a committed transaction)`,
      ],
      rows,
      headline,
    };
  } finally {
    for (const { s } of servers) {
      await s.call('close').catch(() => {});
      await s.stop();
    }
  }
}

module.exports = { name: 'triage', run };
