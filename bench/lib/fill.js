'use strict';
/**
 * Stores many reports quickly, for the triage and expiry benchmarks, in this process on its own
 * connection (the collector that serves them starts afterwards, with a cold cache like any other
 * start). Reports are prepared as ingest prepares them (prepareReport: sealed fields under the
 * day key of receipt) and written by IngestWriter itself, in batches of 10,000 sorted by receipt,
 * so every row and aggregate it keeps (groups, group_hours, group_days, group_lines,
 * group_subjects) is what ingest would have written. The one exception, for speed:
 * group_subject_days, which triggers on group_subjects keep row by row, is computed once at the
 * end by rebuildSubjectDays (the same counts; the collector's tests check the two agree), with
 * the triggers dropped meanwhile. Sealed fields come from a pool per day, so no time goes on
 * crypto; ids, groups, versions, licences, users, lines and times vary per report.
 */
const crypto = require('node:crypto');
const { load } = require('./dist');
const { reportFactory, zipf, pick, GROUPS, VERSIONS, LICENCES, USERS } = require('./reports');

const DAY = 86_400_000;

/**
 * @param {string} dataDir an initialised data dir
 * @param {{ n: number, fromMs: number, toMs: number }} o received uniformly in [fromMs, toMs)
 * @returns {{ ms: number, rate: number }}
 */
function fillReports(dataDir, { n, fromMs, toMs }) {
  const { openCollector } = load('collector');
  const { IngestWriter, prepareReport } = load('collector', 'store/ingest-writer.js');
  const { rebuildSubjectDays } = load('collector', 'store/subject-days.js');
  const { groupId } = load('protocol');
  const c = openCollector({ dataDir, env: {} });
  try {
    c.db.pragma('cache_size = -262144');
    const factory = reportFactory({
      publicKey: Buffer.from(c.keyring.transport.publicKey).toString('base64'),
      keyId: c.keyring.transport.keyId,
    });
    const templates = new Map();
    const templatesFor = (receivedAt) => {
      const day = Math.floor(receivedAt / DAY);
      let list = templates.get(day);
      if (!list) {
        list = Array.from({ length: 8 }, () =>
          prepareReport(JSON.parse(factory.next().body), c.keyring, day * DAY + DAY / 2),
        );
        templates.set(day, list);
      }
      return list;
    };
    const userHashes = new Map();
    const userHash = (u) => {
      let h = userHashes.get(u);
      if (!h) userHashes.set(u, (h = c.keyring.userHash(`user${u}`)));
      return h;
    };
    const groups = Array.from({ length: GROUPS }, (_, g) => {
      const number = 91 + (g % 7);
      const module = `modModule${g % 40}`;
      const procedure = `Procedure${g}`;
      return { number, module, procedure, id: groupId('JCS', number, module, procedure) };
    });

    const started = Date.now();
    // Setup, not measurement: no fsync per transaction, a large page cache, and the reports'
    // secondary indexes rebuilt once at the end (a sort) instead of updated at random per row.
    // The unique ones and the one on received_at stay: the writer looks reports up by them (the
    // id, and the range of stored days). The schema ends up as it was.
    c.db.pragma('synchronous = OFF');
    const indexes = c.db
      .prepare(
        `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'reports'
           AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%' AND sql NOT LIKE '%(received_at)'`,
      )
      .all();
    for (const ix of indexes) c.db.exec(`DROP INDEX ${ix.name}`);
    // The distinct-count triggers, likewise: one recount at the end instead of one per row.
    const triggers = c.db
      .prepare(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'group_subjects'",
      )
      .all();
    for (const tr of triggers) c.db.exec(`DROP TRIGGER ${tr.name}`);
    const writer = new IngestWriter(c.db);
    let left = n;
    while (left > 0) {
      const size = Math.min(10_000, left);
      const batch = new Array(size);
      for (let i = 0; i < size; i++) {
        const receivedAt = Math.floor(fromMs + Math.random() * (toMs - fromMs));
        const tpls = templatesFor(receivedAt);
        const g = groups[zipf(GROUPS)];
        batch[i] = {
          ...tpls[pick(tpls.length)],
          id: crypto.randomUUID(),
          groupId: g.id,
          number: g.number,
          module: g.module,
          procedure: g.procedure,
          version: VERSIONS[zipf(VERSIONS.length)],
          license: `JCS-${String(pick(LICENCES)).padStart(6, '0')}`,
          line: 100 + pick(13),
          userHash: userHash(pick(USERS)),
          receivedAt,
        };
      }
      // Sorted by receipt, as ingest sees them: the writer's look-ups span the batch's days.
      batch.sort((a, b) => a.receivedAt - b.receivedAt);
      writer.write(batch);
      left -= size;
    }
    for (const ix of indexes) c.db.exec(ix.sql);
    c.db.transaction(() => {
      rebuildSubjectDays(c.db);
      for (const tr of triggers) c.db.exec(tr.sql);
    })();
    c.db.pragma('synchronous = FULL');
    c.db.pragma('wal_checkpoint(TRUNCATE)');
    const ms = Date.now() - started;
    return { ms, rate: (n / ms) * 1000 };
  } finally {
    c.close();
  }
}

module.exports = { fillReports, DAY };
