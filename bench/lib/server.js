'use strict';
/**
 * A server process for the benchmarks, forked with IPC so it has a core of its own and the load
 * generator's CPU is not counted against it.
 *
 *   node server.js collector <dataDir> <logFile>   the collector as `serve` runs it: createApp +
 *        listen on the data dir, the request log at info level to a file (serve writes it to
 *        stderr); no ingest gate, so no rate limits
 *   node server.js bare                            a bare Express 5 app: express.json(), 202
 *
 * Answers IPC messages { seq, cmd, ...args } with { seq, result } or { seq, error }.
 */
const fs = require('node:fs');
const path = require('node:path');
const { load, loadExpiry, ROOT } = require('./dist');

const [mode, dataDir, logFile] = process.argv.slice(2);
const fromCollector = (name) =>
  require(require.resolve(name, { paths: [path.join(ROOT, 'packages', 'collector')] }));

async function main() {
  const { listen } = load('collector');
  // How long the event loop was held up: the server's own share of a request's latency.
  const loopDelay = require('node:perf_hooks').monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const commands = {
    rss: () => process.memoryUsage().rss,
    /** event-loop delay since the last call, in ms: p50, p99, max */
    loopDelay: () => {
      const ms = (ns) => Math.round(ns / 1e4) / 100;
      const r = {
        p50: ms(loopDelay.percentile(50)),
        p99: ms(loopDelay.percentile(99)),
        max: ms(loopDelay.max),
      };
      loopDelay.reset();
      return r;
    },
  };
  let url;
  if (mode === 'bare') {
    const express = fromCollector('express');
    const app = express();
    app.use(express.json({ limit: '512kb' }));
    app.post('/v1/reports', (req, res) => {
      res.status(202).json({ id: req.body.id });
    });
    url = (await listen(app, { host: '127.0.0.1', port: 0 })).url;
  } else {
    const { openCollector, createApp } = load('collector');
    const { createLogger } = load('collector', 'log.js');
    const pino = fromCollector('pino');
    const logger = createLogger({ destination: pino.destination({ dest: logFile, sync: false }) });
    const c = openCollector({
      dataDir,
      logger,
      env: {},
      backgroundCheckpoint: true,
      writerThread: process.env.JCS_BENCH_WRITER_THREAD !== '0',
      triageThread: true,
    });
    const server = await listen(createApp(c), { host: '127.0.0.1', port: 0 });
    url = server.url;
    Object.assign(commands, collectorCommands(c));
    commands.close = async () => {
      await server.close();
      await c.batcher.drain();
      c.close();
      return true;
    };
  }
  // A normal exit on SIGTERM, so that --cpu-prof (and other exit hooks) write their output.
  process.on('SIGTERM', () => process.exit(0));
  process.on('message', async (msg) => {
    try {
      const fn = commands[msg.cmd];
      if (!fn) throw new Error(`no command ${msg.cmd}`);
      process.send({ seq: msg.seq, result: await fn(msg) });
    } catch (e) {
      process.send({ seq: msg.seq, error: String(e?.stack ?? e) });
    }
  });
  process.send({ ready: true, url, pid: process.pid });
}

function collectorCommands(c) {
  const expired = c.db.prepare('SELECT COUNT(*) AS n FROM reports WHERE received_at < ?').pluck();
  const countExpired = (olderThan) => expired.get(olderThan);
  return {
    count: () => c.db.prepare('SELECT COUNT(*) AS n FROM reports').get().n,
    /** how many of these ids are stored */
    found: ({ ids }) => {
      // One pass over the table: ids are indexed under their day of receipt, not alone.
      const stored = new Set(c.db.prepare('SELECT id FROM reports').pluck().all());
      return ids.reduce((n, id) => n + (stored.has(id) ? 1 : 0), 0);
    },
    pragmas: () => ({
      secureDelete: c.db.pragma('secure_delete', { simple: true }),
      synchronous: c.db.pragma('synchronous', { simple: true }),
      journalMode: c.db.pragma('journal_mode', { simple: true }),
    }),
    /** bytes on disk: checkpoint the WAL, then database + WAL over the number of reports */
    storage: () => {
      c.db.pragma('wal_checkpoint(TRUNCATE)');
      const size = (f) => (fs.existsSync(f) ? fs.statSync(f).size : 0);
      const db = path.join(c.dataDir, 'collector.db');
      const sealed = path.join(c.dataDir, 'sealed');
      return {
        dbBytes: size(db),
        walBytes: size(`${db}-wal`),
        // The reports' sealed fields, in a file per day beside the database.
        sealedBytes: fs.existsSync(sealed)
          ? fs.readdirSync(sealed).reduce((n, f) => n + size(path.join(sealed, f)), 0)
          : 0,
        reports: c.db.prepare('SELECT COUNT(*) AS n FROM reports').get().n,
      };
    },
    hasExpiry: () => loadExpiry() !== null,
    /**
     * Runs the retention job once, as `serve` would, in this process; stopped between two chunks
     * (its AbortSignal) after capMs. Deleted = expired rows (received before olderThan) gone.
     */
    countExpired: ({ olderThan }) => countExpired(olderThan),
    /**
     * `before`: the count of expired reports, taken by countExpired before the load starts (a
     * count of a million rows here holds the event loop for a fifth of a second, which the load
     * would charge to the run).
     */
    expire: async ({ now, capMs, olderThan, before = countExpired(olderThan) }) => {
      const { runExpiry } = loadExpiry();
      const abort = new globalThis.AbortController();
      const timer = setTimeout(() => abort.abort(), capMs);
      const t0 = process.hrtime.bigint();
      let summary = null;
      try {
        summary = await runExpiry(c, { now, dryRun: false, signal: abort.signal });
      } catch (e) {
        if (!abort.signal.aborted) throw e;
      } finally {
        clearTimeout(timer);
      }
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      return { ms, deleted: before - countExpired(olderThan), finished: summary !== null, summary };
    },
  };
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
