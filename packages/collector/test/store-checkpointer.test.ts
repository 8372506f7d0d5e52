import crypto from 'node:crypto';
import fs from 'node:fs';
import { openCollector, type Collector } from '@jcs/collector';
import { makeTestCollector, type TestCollector } from '../../../test-support/app';
import { dataPaths } from '../src/paths';
import { uncleanStop } from '../src/store/recovery';
import { checkpointInBackground } from '../src/store/checkpointer';
import { openDatabase } from '../src/store/db';

/**
 * With backgroundCheckpoint (as `serve` runs), commits never checkpoint; a worker thread does,
 * so the WAL is copied into the database and reused instead of growing.
 */
let t: TestCollector;
let c: Collector;
beforeEach(() => {
  t = makeTestCollector();
  t.close();
  c = openCollector({ dataDir: t.dataDir, env: {}, backgroundCheckpoint: true });
});
afterEach(() => {
  if (c.db.open) c.close();
});

/** About `mib` MiB of rows in one transaction. */
function write(mib: number): void {
  c.db.exec('CREATE TABLE IF NOT EXISTS filler (b BLOB)');
  const insert = c.db.prepare('INSERT INTO filler (b) VALUES (?)');
  c.db.transaction(() => {
    for (let i = 0; i < mib * 256; i++) insert.run(crypto.randomBytes(4000));
  })();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(20);
  }
}

describe('background checkpoint', () => {
  it('turns the connection’s own checkpoint off', () => {
    expect(c.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
  });

  it('copies the WAL into the database in the background, so the WAL is reused', async () => {
    const file = dataPaths(t.dataDir).db;
    const dbSize = () => fs.statSync(file).size;
    const walSize = () => fs.statSync(`${file}-wal`).size;
    const start = dbSize();
    write(8);
    const afterFirst = walSize();
    expect(afterFirst).toBeGreaterThan(8 * 1024 * 1024);
    // The worker copies the pages into the database file: it grows by them.
    await until(() => dbSize() >= start + 8 * 1024 * 1024);
    // The next write starts the WAL over only once the copy is complete.
    await until(() => {
      const { log, checkpointed } = c.checkpointer!.last();
      return log > 2000 && checkpointed === log;
    });
    write(8);
    // Not twice as long: the second batch reused the WAL's frames.
    expect(walSize()).toBeLessThan(afterFirst * 1.5);
  });

  it('caughtUp waits for a long WAL to be copied, and answers at once while it is short', async () => {
    write(8);
    await until(() => c.checkpointer!.last().log > 2000);
    await c.checkpointer!.caughtUp(100, 10_000);
    const { log, checkpointed } = c.checkpointer!.last();
    expect(checkpointed).toBe(log);
    write(0.1);
    const started = Date.now();
    await c.checkpointer!.caughtUp(1_000_000, 10_000);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('checkpoints at once for whoever waits, without waiting for its interval', async () => {
    c.close();
    const file = dataPaths(t.dataDir).db;
    const db = openDatabase(file);
    // an interval no test waits out: only the request can make the checkpoint run
    const checkpointer = checkpointInBackground(db, file, () => {}, 600_000);
    try {
      db.exec('CREATE TABLE filler (b BLOB)');
      const insert = db.prepare('INSERT INTO filler (b) VALUES (?)');
      db.transaction(() => {
        for (let i = 0; i < 3000; i++) insert.run(crypto.randomBytes(4000));
      })();
      const started = Date.now();
      await checkpointer.caughtUp(0, 20_000);
      expect(Date.now() - started).toBeLessThan(10_000);
      const { log, checkpointed } = checkpointer.last();
      expect(log).toBeGreaterThan(2000);
      expect(checkpointed).toBe(log);
    } finally {
      checkpointer.stop();
      db.close();
    }
  });

  it('starts a long WAL over once it is copied, though writers never pause (RESTART)', async () => {
    c.close();
    const file = dataPaths(t.dataDir).db;
    const db = openDatabase(file);
    const warnings: string[] = [];
    const checkpointer = checkpointInBackground(db, file, (m) => warnings.push(m), 20, 500);
    try {
      db.exec('CREATE TABLE filler (b BLOB)');
      const insert = db.prepare('INSERT INTO filler (b) VALUES (?)');
      db.transaction(() => {
        for (let i = 0; i < 1000; i++) insert.run(crypto.randomBytes(4000));
      })();
      // A PASSIVE checkpoint alone would keep reporting the 1,000 frames copied: the WAL starts
      // over only when a write begins with all of it copied, a moment a busy writer never leaves.
      await until(() => checkpointer.restarts() > 0);
      insert.run(crypto.randomBytes(4000));
      const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
      expect(r.log).toBeLessThan(10);
      expect(warnings).toEqual([]);
    } finally {
      checkpointer.stop();
      db.close();
    }
  });

  it('stops with the collector, which closes cleanly', () => {
    write(1);
    c.close();
    expect(uncleanStop(dataPaths(t.dataDir).db)).toBe(false);
  });
});
