'use strict';
/**
 * Ingest: the collector (createApp + listen on a temp data dir, in a process of its own) against a
 * bare Express 5 app with express.json() answering 202, both driven by autocannon with 50
 * connections and ~1 KiB reports carrying a 512-byte sealed dump, a fresh id per request, one of
 * 5,000 licences. Rounds alternate A/B (ABAB.., then BABA..) so drift in the machine's load hits
 * both alike. Then a fixed-rate run at 1,000 reports/s for p99 (lib/steady.js: evenly spaced
 * requests, latency from each one's scheduled time), also alternated.
 */
const { initDataDir, tempDir } = require('./lib/datadir');
const { startServer } = require('./lib/procs');
const { reportFactory } = require('./lib/reports');
const { loadReports, floodGets } = require('./lib/load');
const { steadyLoad } = require('./lib/steady');
const { cpuMeter } = require('./lib/cpu');
const os = require('node:os');
const { summarize, range, ratio, fmt } = require('./lib/stats');

async function run(ctx) {
  const quick = ctx.quick;
  const rounds = quick ? 3 : 5;
  const duration = quick ? 2 : 8;
  const rateRounds = quick ? 2 : 3;
  const rateDuration = quick ? 2 : 8;
  const rate = 1000;

  const d = initDataDir('ingest');
  const log = `${tempDir('ingest-log')}/collector.log`;
  const collector = await startServer('collector', { dataDir: d.dataDir, logFile: log });
  const bare = await startServer('bare');
  const factory = reportFactory(d);
  const sample = factory.next().body;
  const targets = {
    collector: { url: collector.url, token: d.tokens.ingest },
    bare: { url: bare.url, token: d.tokens.ingest },
  };
  const pids = { collector: collector.pid, bare: bare.pid };
  const cores = os.availableParallelism();
  try {
    ctx.log(`ingest: warm-up (body ${Buffer.byteLength(sample)} bytes)`);
    for (const t of Object.values(targets)) {
      await loadReports({ ...t, factory, duration: quick ? 1 : 2 });
    }
    const rowsBefore = await collector.call('count');
    const acked = [];

    const res = { collector: [], bare: [] };
    const ratios = [];
    // CPU microseconds per request of each side, and the ratio its cores would allow the collector
    // if no report ever waited: cores over the collector's and the load generator's CPU a
    // request, against the bare app's rate in the same round.
    const cpu = { collector: [], bare: [] };
    const ceilings = [];
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? ['collector', 'bare'] : ['bare', 'collector'];
      const got = {};
      for (const name of order) {
        const meter = cpuMeter(pids[name]);
        got[name] = await loadReports({
          ...targets[name],
          factory,
          duration,
          // both sides parse every answer, so the load generator does the same work for each
          acked: name === 'collector' ? acked : [],
        });
        cpu[name].push(meter.stop(got[name].rps * got[name].durationS));
        res[name].push(got[name]);
      }
      ratios.push(got.collector.rps / got.bare.rps);
      const c = cpu.collector[i];
      if (c.main !== null)
        ceilings.push((cores * 1e6) / (c.main + c.other + c.loadgen) / got.bare.rps);
      ctx.log(
        `ingest round ${i + 1}/${rounds}: collector ${fmt(got.collector.rps)} req/s p99 ${got.collector.p99} ms, ` +
          `bare ${fmt(got.bare.rps)} req/s p99 ${got.bare.p99} ms`,
      );
    }
    const rowsAfter = await collector.call('count');
    const stored = rowsAfter - rowsBefore;
    const found = await collector.call('found', { ids: acked });
    const failures = res.collector.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0);

    const fixed = { collector: [], bare: [] };
    for (let i = 0; i < rateRounds; i++) {
      const order = i % 2 === 0 ? ['collector', 'bare'] : ['bare', 'collector'];
      for (const name of order) {
        const r = await steadyLoad({ ...targets[name], factory, duration: rateDuration, rate });
        fixed[name].push(r);
      }
      ctx.log(
        `ingest at ${rate}/s round ${i + 1}/${rateRounds}: collector p99 ${fixed.collector[i].p99} ms, bare p99 ${fixed.bare[i].p99} ms`,
      );
    }

    // The same fixed rate while 10 connections send GET /v1/groups with a revoked engineer token
    // without pause: each is refused 401 and written to the access log, which must not hold up
    // ingest (docs/performance.md, "Engineers' requests and ingest").
    const flooded = [];
    const refusals = [];
    for (let i = 0; i < rateRounds; i++) {
      const flood = floodGets({
        url: collector.url,
        path: '/v1/groups',
        token: d.tokens.revoked,
        duration: rateDuration,
      });
      flooded.push(
        await steadyLoad({ ...targets.collector, factory, duration: rateDuration, rate }),
      );
      const f = await flood;
      refusals.push({ rps: (f.statuses['401'] ?? 0) / rateDuration });
      ctx.log(
        `ingest at ${rate}/s with a revoked-token flood, round ${i + 1}/${rateRounds}: ` +
          `p99 ${flooded[i].p99} ms, ${fmt(refusals[i].rps)} refusals/s`,
      );
    }

    const s = (list, key) => summarize(list.map((r) => r[key]));
    const cpuRow = (name) =>
      cpu[name][0].main === null
        ? 'n/a (reads /proc: Linux only)'
        : `${range(s(cpu[name], 'main'), 'us')} on the main thread + ` +
          `${range(s(cpu[name], 'other'), 'us')} on its other threads; load generator ${range(s(cpu[name], 'loadgen'), 'us')}`;
    const p99Ratio = summarize(res.collector.map((r, i) => r.p99 / res.bare[i].p99));
    return {
      title: 'Ingest: collector vs bare Express 5 (POST /v1/reports)',
      setup: [
        `autocannon ${rounds} rounds x ${duration} s per side, 50 connections, alternating A/B; ` +
          `${Buffer.byteLength(sample)}-byte reports with a 512-byte sealed dump, a fresh id per request, 5,000 licences, 300 groups`,
        'collector: createApp + listen in its own process, as `serve` runs it (writer thread, background checkpoint), ' +
          'request log at info to a file, no ingest gate (no rate limits: the bench measures the ingest path, not the limiter)',
        'bare: express() + express.json() answering 202 with the id, in its own process',
        `fixed rate: ${rate.toLocaleString('en-US')} reports/s evenly spaced over up to 50 kept-alive connections for ${rateDuration} s per side ` +
          "(lib/steady.js; latency measured from each request's scheduled send time, so falling behind counts)",
        `flood: the collector's fixed rate again, ${rateRounds} rounds, while 10 autocannon connections send GET /v1/groups ` +
          'with a revoked engineer token without pause (each refused 401 and written to the access log)',
      ],
      rows: [
        ['Throughput, collector', range(s(res.collector, 'rps'), 'req/s')],
        ['Throughput, bare Express', range(s(res.bare, 'rps'), 'req/s')],
        ['**Throughput ratio collector / bare** (goal >= 1.0)', ratio(summarize(ratios))],
        [
          'CPU per request, collector (other threads: the writer thread, GC, I/O pool)',
          cpuRow('collector'),
        ],
        ['CPU per request, bare Express', cpuRow('bare')],
        [
          `Ceiling ratio ${cores} cores allow: cores / (collector + load generator CPU a request), over the bare rate`,
          ceilings.length ? ratio(summarize(ceilings)) : 'n/a',
        ],
        ['p99 at saturation, collector', range(s(res.collector, 'p99'), 'ms')],
        ['p99 at saturation, bare Express', range(s(res.bare, 'p99'), 'ms')],
        ['p99 ratio collector / bare', ratio(p99Ratio)],
        [
          'Durable commits',
          `${found.toLocaleString('en-US')} of ${acked.length.toLocaleString('en-US')} reports answered 202 found in the database ` +
            `(${found === acked.length ? 'every acknowledged report on disk' : 'LOST REPORTS'}); ` +
            `${stored.toLocaleString('en-US')} rows written (requests cut off at the end of a run are stored but their answer is not counted); ` +
            `${failures} non-2xx or socket errors`,
        ],
        [
          `p99 at ${rate.toLocaleString('en-US')} reports/s, collector (goal <= 25 ms)`,
          range(s(fixed.collector, 'p99'), 'ms'),
        ],
        [
          `p99 at ${rate.toLocaleString('en-US')} reports/s, bare Express`,
          range(s(fixed.bare, 'p99'), 'ms'),
        ],
        [
          `p99 at ${rate.toLocaleString('en-US')} reports/s during a flood of requests with a revoked token, collector`,
          range(s(flooded, 'p99'), 'ms'),
        ],
        [
          'refusals a second in that flood (each refused 401 and written to the access log)',
          range(s(refusals, 'rps'), '/s'),
        ],
        [
          `achieved rate in the fixed-rate runs, collector`,
          range(s(fixed.collector, 'rps'), 'req/s'),
        ],
      ],
      headline: {
        'Ingest throughput ratio, collector / bare Express 5': ratio(summarize(ratios)),
        'Ingest throughput, collector': range(s(res.collector, 'rps'), 'req/s'),
        'Ingest ratio the cores allow (CPU a request; see the ingest table)': ceilings.length
          ? ratio(summarize(ceilings))
          : 'n/a',
        'Ingest p99 at 1,000 reports/s, collector': range(s(fixed.collector, 'p99'), 'ms'),
      },
    };
  } finally {
    await collector.call('close').catch(() => {});
    await collector.stop();
    await bare.stop();
  }
}

module.exports = { name: 'ingest', run };
