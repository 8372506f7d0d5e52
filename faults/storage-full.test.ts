/**
 * Storage full. The database is capped a few dozen pages above its empty size
 * (JCS_COLLECTOR_MAX_PAGES, a fault-injection hook in store/db.ts: PRAGMA max_page_count), as a
 * full disk would cap it. The collector must answer 503 with Retry-After and store nothing half;
 * the SDK must keep what it could not deliver and deliver it, once, when space is back.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createReporter, type Diagnostic } from '@jcs/sdk';
import { makeTempDir } from '../test-support/collector';
import {
  initDataDir,
  inspect,
  killAll,
  manyReports,
  queueFiles,
  sendAll,
  serve,
  storedIds,
} from './helpers';

jest.setTimeout(120_000);
afterAll(killAll);

function pageCount(dbFile: string): number {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.pragma('page_count', { simple: true }) as number;
  } finally {
    db.close();
  }
}

test('a full database answers 503 with Retry-After, stores nothing half, and the SDK delivers once space is back', async () => {
  const d = initDataDir();
  const maxPages = pageCount(d.dbFile) + 40;
  const full = await serve(d.dataDir, { env: { JCS_COLLECTOR_MAX_PAGES: String(maxPages) } });

  // Direct load until the storage refuses.
  const reports = manyReports(600);
  const outcomes = await sendAll(full.url, d.token, reports, { concurrency: 8 });
  const accepted = outcomes.filter((o) => o.status === 202);
  const refused = outcomes.filter((o) => o.status === 503);
  expect(accepted.length).toBeGreaterThan(0);
  expect(refused.length).toBeGreaterThan(0);
  expect(accepted.length + refused.length).toBe(reports.length); // no 500, no dropped socket
  for (const o of refused) {
    expect(o.errorCode).toBe('unavailable');
    expect(Number(o.retryAfter)).toBeGreaterThan(0);
  }
  // The log says why, in a line an operator can act on.
  expect(full.stderr()).toMatch(/SQLITE_FULL|database or disk is full/);

  // Nothing half-stored: each report is all there (row and aggregates) or not at all.
  const whileFull = inspect(d.dbFile);
  expect(whileFull.integrity).toBe('ok');
  expect(
    storedIds(
      d.dbFile,
      accepted.map((o) => o.id),
    ).size,
  ).toBe(accepted.length);
  expect(
    storedIds(
      d.dbFile,
      refused.map((o) => o.id),
    ).size,
  ).toBe(0);
  expect(whileFull.count).toBe(accepted.length);
  expect(whileFull.counted).toBe(whileFull.count);
  expect(whileFull.orphans).toBe(0);

  // The SDK reports while the storage is full: it keeps every report.
  const queueDir = path.join(makeTempDir('jcs-faults-queue-'), 'queue');
  const diagnostics: Diagnostic[] = [];
  const reporter = createReporter({
    endpoint: full.url,
    token: d.token,
    publicKey: d.publicKey,
    keyId: d.keyId,
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000777',
    dumpConsent: true,
    queueDir,
    retry: { minDelayMs: 100, maxDelayMs: 1000 },
    floodControl: { maxPerGroup: 1000 },
    onDiagnostic: (x) => diagnostics.push(x),
  });
  const ids = Array.from({ length: 20 }, (_, i) =>
    reporter.report({
      number: 5,
      description: 'Invalid procedure call',
      module: 'modFaults',
      procedure: `Full${i}`,
      line: i,
      data: { client: 'Smith', rows: Array.from({ length: 40 }, (_, k) => `row ${k}`) },
    }),
  );
  expect(await reporter.flush(4000)).toBe(false);
  expect(diagnostics.some((x) => x.code === 'collector_busy' && x.status === 503)).toBe(true);
  expect(queueFiles(queueDir, 'pending').length + queueFiles(queueDir, 'claimed').length).toBe(20);
  expect(storedIds(d.dbFile, ids).size).toBe(0);

  // Space is back: the collector restarts without the cap, on the same port.
  full.signal('SIGTERM');
  expect(await full.exited).toBe(0);
  const roomy = await serve(d.dataDir, { port: full.port });
  expect(await reporter.flush(60_000)).toBe(true);
  await reporter.close(5000);
  roomy.signal('SIGTERM');
  expect(await roomy.exited).toBe(0);

  const end = inspect(d.dbFile);
  expect(storedIds(d.dbFile, ids).size).toBe(20);
  expect(end.count).toBe(accepted.length + 20);
  expect(end.distinctIds).toBe(end.count);
  expect(end.counted).toBe(end.count);
  expect(end.integrity).toBe('ok');
  expect(fs.existsSync(path.join(queueDir, 'pending'))).toBe(true);
  expect(queueFiles(queueDir, 'pending')).toEqual([]);
  console.log(
    `storage full: ${accepted.length} accepted, ${refused.length} refused with 503 + Retry-After, ` +
      `none half-stored; the SDK kept its 20 reports and delivered them once after the restart`,
  );
});
