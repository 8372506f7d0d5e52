import fs from 'node:fs';
import path from 'node:path';
import { makeTestCollector, type TestCollector } from '../../../test-support/app';
import { makeTempDir } from '../../../test-support/collector';
import { makeReport } from '../../../test-support/reports';
import { IngestBatcher, inProcess } from '../src/ingest/batcher';
import { IngestWriter, prepareReport } from '../src/store/ingest-writer';
import { WalSync } from '../src/store/wal-sync';

let t: TestCollector;
beforeEach(() => (t = makeTestCollector()));
afterEach(() => t.close());

describe('WAL sync', () => {
  it('answers every caller, however many ask while an fsync runs', async () => {
    const file = path.join(makeTempDir(), 'wal');
    fs.writeFileSync(file, 'x');
    const wal = new WalSync(file);
    await expect(Promise.all(Array.from({ length: 50 }, () => wal.sync()))).resolves.toHaveLength(
      50,
    );
    wal.close();
  });

  it('rejects when the fsync cannot be done, and the batcher then answers 503', async () => {
    const wal = new WalSync(path.join(makeTempDir(), 'missing-wal'));
    await expect(wal.sync()).rejects.toThrow(/ENOENT/);
    const errors: unknown[] = [];
    const batcher = new IngestBatcher(inProcess(new IngestWriter(t.collector.db), wal), (err) =>
      errors.push(err),
    );
    const report = makeReport();
    await expect(
      batcher.submit(prepareReport(report, t.collector.keyring, t.clock())),
    ).rejects.toMatchObject({ code: 'unavailable' });
    expect(errors).toHaveLength(1);
  });

  it('is what the collector answers ingest after: the commit itself skips its fsync', async () => {
    const db = t.collector.db;
    const report = makeReport();
    const stored = await t.collector.batcher.submit(
      prepareReport(report, t.collector.keyring, t.clock()),
    );
    expect(stored.created).toBe(true);
    // The connection is left as it was: FULL for every other transaction.
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
  });
});
