import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../../../test-support/collector';
import { Inbox } from '../src/store/inbox';
import { InboxWriter } from '../src/store/inbox-writer';
import { packBatch } from '../src/store/batch-wire';
import type { IngestWriter, PreparedReport } from '../src/store/ingest-writer';
import { MAX_UNSYNCED_RECORDS } from '../src/store/sealed-files';

/**
 * The inbox writer's own rules (store/inbox-writer.ts), with a real inbox file and a stand-in
 * for the ingest writer whose syncs a test can fail: the writer thread's end-to-end behaviour is
 * in inbox.test.ts.
 */
const DAY = '2026-11-01';

function prepared(id: string, keyDay = DAY): PreparedReport {
  return {
    id,
    groupId: 'g000000000001',
    appName: 'JCS',
    number: 1,
    module: 'm',
    procedure: 'p',
    version: '1',
    license: 'L',
    line: 1,
    repeats: null,
    occurredAt: '2026-11-01T00:00:00Z',
    dumpWithheld: null,
    userHash: null,
    username: null,
    description: Buffer.from('sealed'),
    code: null,
    dump: null,
    keyDay,
    keyTag: 1,
    keyPrint: null,
    receivedAt: Date.parse(`${keyDay}T12:00:00Z`),
  };
}

let dir: string;
let keysDir: string;
let inbox: Inbox;
let writes: { ids: string[]; synced: boolean }[];
let failSyncs: number;

function writerStub(): IngestWriter {
  return {
    stored: (items: PreparedReport[]) => items.map(() => undefined),
    write: (items: PreparedReport[], synced: boolean) => {
      writes.push({ ids: items.map((r) => r.id), synced });
      return items.map((r) => ({ id: r.id, group: r.groupId, created: true }));
    },
    durable: () => {
      if (failSyncs > 0) {
        failSyncs--;
        return Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
      }
      return Promise.resolve();
    },
  } as unknown as IngestWriter;
}

beforeEach(() => {
  dir = makeTempDir();
  keysDir = path.join(dir, 'keys');
  fs.mkdirSync(path.join(keysDir, 'days'), { recursive: true });
  fs.writeFileSync(path.join(keysDir, 'days', `${DAY}.key`), 'wrapped');
  inbox = new Inbox(path.join(dir, 'inbox.db'));
  writes = [];
  failSyncs = 0;
});
const made: InboxWriter[] = [];
afterEach(() => {
  // Their clean-up timers (store/inbox-writer.ts) must not outlive the inbox they clean.
  made.splice(0).forEach((w) => w.close());
  inbox.close();
});

const writerOver = () => {
  const w = new InboxWriter(writerStub(), inbox, {} as never, keysDir);
  made.push(w);
  return w;
};

describe('the inbox writer', () => {
  it('fails the run whose sync failed, and only that one; the next run empties the inbox', async () => {
    const w = writerOver();
    w.start();
    w.write(packBatch([prepared('r1')]));
    failSyncs = 1;
    await expect(w.stop()).rejects.toThrow('EIO');
    // What that sync covered is not known to be on disk: the inbox keeps it.
    w.cleanUp();
    expect(inbox.batches()).toHaveLength(1);
    w.start();
    w.write(packBatch([prepared('r2')]));
    await expect(w.stop()).resolves.toBeGreaterThan(0);
    w.cleanUp();
    expect(inbox.batches()).toHaveLength(0);
    expect(writes.flatMap((x) => x.ids)).toEqual(['r1', 'r2']);
  });

  it('a clean-up that fails on its timer (a full disk) is tried again later, and never throws', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] });
    const w = writerOver();
    w.start();
    w.write(packBatch([prepared('r1')]));
    await w.stop(); // arms the clean-up, 10 s on
    const realRemove = inbox.removeUpTo.bind(inbox);
    let tries = 0;
    // The deletion as SQLite fails it on a full disk; a real full disk cannot be made here.
    inbox.removeUpTo = () => {
      tries++;
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    try {
      // Thrown on the writer thread's timer, this ended the thread, and serve with it.
      expect(() => jest.advanceTimersByTime(10_000)).not.toThrow();
      expect(tries).toBe(1);
      expect(inbox.batches()).toHaveLength(1);
      inbox.removeUpTo = realRemove; // space again
      jest.advanceTimersByTime(10_000);
      expect(tries).toBe(1);
      expect(inbox.batches()).toHaveLength(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('folds nothing, and drops nothing, while the keys folder or its days/ is moved away', async () => {
    const w = writerOver();
    w.start();
    w.write(packBatch([prepared('answered')]));
    for (const away of [path.join(keysDir, 'days'), keysDir]) {
      fs.renameSync(away, `${away}.away`);
      // Not "its day key was shredded": the storage failing, the reports kept in the inbox.
      expect(() => w.fold()).toThrow(/is gone while the collector runs/);
      expect(writes).toEqual([]);
      expect(inbox.batches()).toHaveLength(1);
      fs.renameSync(`${away}.away`, away);
    }
    w.fold();
    expect(writes.flatMap((x) => x.ids)).toEqual(['answered']);
    await w.stop();
  });

  it('syncs a fold before its commit once too many folded reports wait for their sync', async () => {
    const w = writerOver();
    w.start();
    const many = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => prepared(`r${from + i}`));
    w.write(packBatch(many(0, MAX_UNSYNCED_RECORDS / 2)));
    w.fold();
    w.write(packBatch(many(MAX_UNSYNCED_RECORDS / 2, 10)));
    w.fold();
    expect(writes.map((x) => x.synced)).toEqual([false, true]);
    await w.stop();
  });
});
