'use strict';
/**
 * Storage: bytes on disk per report (database + WAL after a checkpoint, over the number of
 * reports) as the store grows through real ingest, and the collector's RSS under saturating load
 * beside the bare Express app's under the same load, alternating.
 */
const { initDataDir, tempDir } = require('./lib/datadir');
const { startServer } = require('./lib/procs');
const { reportFactory } = require('./lib/reports');
const { loadReports } = require('./lib/load');
const { rssOf, sampleRss } = require('./lib/machine');
const { summarize, range, ratio, bytes, fmt } = require('./lib/stats');

async function run(ctx) {
  const quick = ctx.quick;
  const rounds = quick ? 3 : 4;
  const duration = quick ? 2 : 5;

  const d = initDataDir('storage');
  const collector = await startServer('collector', {
    dataDir: d.dataDir,
    logFile: `${tempDir('storage-log')}/collector.log`,
  });
  const bare = await startServer('bare');
  const factory = reportFactory(d);
  const sides = {
    collector: { server: collector, peaks: [], medians: [] },
    bare: { server: bare, peaks: [], medians: [] },
  };
  const perReport = [];
  const sizes = [];
  try {
    const idle = { collector: rssOf(collector.pid), bare: rssOf(bare.pid) };
    const empty = await collector.call('storage');
    const emptyBytes = empty.dbBytes + empty.walBytes + empty.sealedBytes;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['collector', 'bare'] : ['bare', 'collector'];
      for (const name of order) {
        const side = sides[name];
        const sampler = sampleRss(side.server.pid);
        await loadReports({ url: side.server.url, token: d.tokens.ingest, factory, duration });
        const samples = sampler.stop();
        side.peaks.push(Math.max(...samples));
        side.medians.push(samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]);
      }
      const st = await collector.call('storage');
      perReport.push((st.dbBytes + st.walBytes + st.sealedBytes - emptyBytes) / st.reports);
      sizes.push(st);
      ctx.log(
        `storage round ${r + 1}/${rounds}: ${fmt(st.reports)} reports, ${bytes(st.dbBytes + st.walBytes + st.sealedBytes)} ` +
          `(${fmt(perReport[r])} B/report); RSS peak collector ${bytes(sides.collector.peaks[r])}, bare ${bytes(sides.bare.peaks[r])}`,
      );
    }
    const mib = (list) => summarize(list.map((b) => b / 1024 / 1024));
    const last = sizes[sizes.length - 1];
    return {
      title: 'Storage and memory',
      setup: [
        `${rounds} rounds of ${duration} s of saturating ingest (autocannon, 50 connections, ~1.2 KiB reports with a 512-byte sealed dump) into one collector, alternating with the bare Express app`,
        'bytes per report: PRAGMA wal_checkpoint(TRUNCATE), then (database + WAL - the same for the empty store) / reports, measured after each round as the store grows; it includes the aggregates, indexes and free pages',
        'RSS from /proc/<pid>/status every 200 ms during each run',
      ],
      rows: [
        [
          `**Bytes on disk per report** (${fmt(sizes[0].reports)} to ${fmt(last.reports)} reports)`,
          range(summarize(perReport), 'B', 0),
        ],
        ['RSS idle, collector / bare Express', `${bytes(idle.collector)} / ${bytes(idle.bare)}`],
        ['RSS peak under load, collector', range(mib(sides.collector.peaks), 'MiB', 1)],
        ['RSS peak under load, bare Express', range(mib(sides.bare.peaks), 'MiB', 1)],
        [
          '**RSS peak ratio collector / bare**',
          ratio(summarize(sides.collector.peaks.map((p, i) => p / sides.bare.peaks[i]))),
        ],
        ['RSS median under load, collector', range(mib(sides.collector.medians), 'MiB', 1)],
      ],
      headline: {
        'Bytes on disk per report': range(summarize(perReport), 'B', 0),
        'Collector RSS peak under load': range(mib(sides.collector.peaks), 'MiB', 1),
      },
    };
  } finally {
    await collector.call('close').catch(() => {});
    await collector.stop();
    await bare.stop();
  }
}

module.exports = { name: 'storage', run };
