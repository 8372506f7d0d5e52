import crypto from 'node:crypto';
import fs from 'node:fs';
import { openCollector, type Collector } from '@jcs/collector';
import { makeTestCollector, type TestCollector } from '../../../test-support/app';
import { dataPaths } from '../src/paths';
import { uncleanStop } from '../src/store/recovery';
import {
  checkpointInBackground,
  checkpointInterval,
  walRestartFrames,
} from '../src/store/checkpointer';
import { mountTmpfs } from '../../../test-support/tmpfs';
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
    const checkpointer = checkpointInBackground(db, file, {
      onError: () => {},
      intervalMs: 600_000,
    });
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
    const checkpointer = checkpointInBackground(db, file, {
      onError: (m) => warnings.push(m),
      intervalMs: 20,
      restartFrames: 500,
    });
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

  it('lets the WAL hold a sixteenth of the disk (4 to 256 MiB), checkpointed in proportion more often', () => {
    const MIB = 2 ** 20;
    expect(walRestartFrames(48 * MIB, 4096)).toBe(1024);
    expect(walRestartFrames(1024 * MIB, 4096)).toBe(16_384);
    expect(walRestartFrames(100 * 1024 * MIB, 4096)).toBe(65_536);
    expect(walRestartFrames(Infinity, 4096)).toBe(65_536);
    expect(checkpointInterval(65_536)).toBe(2000);
    expect(checkpointInterval(16_384)).toBe(500);
    expect(checkpointInterval(1024)).toBe(100);
  });

  const asRoot = process.platform === 'linux' && process.getuid?.() === 0 ? it : it.skip;
  asRoot(
    'a run that fails on a full disk is said, and tried again, without giving the thread up',
    async () => {
      c.close();
      const disk = mountTmpfs(8);
      if (!disk) return; // root without the right to mount: nothing to test with
      const file = `${disk.dir}/c.db`;
      const failures: string[] = [];
      const errors: string[] = [];
      let db: ReturnType<typeof openDatabase> | undefined;
      let checkpointer: ReturnType<typeof checkpointInBackground> | undefined;
      try {
        db = openDatabase(file, { create: true });
        db.pragma('journal_mode = WAL');
        checkpointer = checkpointInBackground(db, file, {
          onError: (m) => errors.push(m),
          onRunFailed: (m) => failures.push(m),
          intervalMs: 20,
        });
        const cp = checkpointer;
        db.exec('CREATE TABLE filler (b BLOB)');
        const insert = db.prepare('INSERT INTO filler (b) VALUES (?)');
        // All but 3 MiB of the disk taken, then 2 MiB of new pages in the WAL: copying them into
        // the database, which must grow by as much, fails
        await cp.caughtUp(0);
        const hog = `${disk.dir}/hog`;
        fs.writeFileSync(hog, Buffer.alloc(disk.free() - 3 * 2 ** 20, 1));
        db.transaction(() => {
          for (let i = 0; i < 512; i++) insert.run(crypto.randomBytes(4000));
        })();
        await until(() => failures.length > 0);
        expect(failures[0]).toMatch(/full/);
        expect(errors).toEqual([]);
        // room again: the next run copies it all
        fs.rmSync(hog);
        await until(() => cp.last().log > 0 && cp.last().checkpointed === cp.last().log);
        expect(errors).toEqual([]);
        expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      } finally {
        checkpointer?.stop();
        db?.close();
        disk.unmount();
      }
    },
  );

  it('stops with the collector, which closes cleanly', () => {
    write(1);
    c.close();
    expect(uncleanStop(dataPaths(t.dataDir).db)).toBe(false);
  });
});
