import { IngestBatcher, type BatchWriter, type Committed } from '../src/ingest/batcher';
import type { PreparedReport } from '../src/store/ingest-writer';

/**
 * The batcher's order of events, against a writer whose commits and fsyncs the test releases by
 * hand (the real writers are tested in ingest-storage, store-wal-sync and store-writer-thread).
 */
class HandWriter implements BatchWriter {
  readonly batches: string[][] = [];
  private commits: (() => void)[] = [];

  write(items: PreparedReport[]): Promise<Committed> {
    this.batches.push(items.map((r) => r.id));
    return new Promise((resolve) =>
      this.commits.push(() =>
        resolve({
          results: items.map((r) => ({ id: r.id, group: r.groupId, created: true })),
          durable: Promise.resolve(),
        }),
      ),
    );
  }

  /** Commits the oldest batch still waiting. */
  commit(): void {
    this.commits.shift()!();
  }
}

/** Commits at once; each batch's fsync ends when the test says so. */
class SyncByHandWriter implements BatchWriter {
  readonly batches: string[][] = [];
  private syncs: (() => void)[] = [];

  write(items: PreparedReport[]): Promise<Committed> {
    this.batches.push(items.map((r) => r.id));
    const durable = new Promise<void>((resolve) => this.syncs.push(resolve));
    const results = items.map((r) => ({ id: r.id, group: r.groupId, created: true }));
    return Promise.resolve({ results, durable });
  }

  /** The oldest batch still syncing is on disk. */
  synced(): void {
    this.syncs.shift()!();
  }
}

const report = (id: string) => ({ id, groupId: 'g' }) as PreparedReport;
const turnOfLoop = () => new Promise((r) => setImmediate(r));

describe('IngestBatcher', () => {
  it('writes one batch at a time; what arrives meanwhile is the next batch', async () => {
    const w = new HandWriter();
    const b = new IngestBatcher(w, () => {});
    const first = [b.submit(report('a')), b.submit(report('b'))];
    await turnOfLoop();
    const later = [b.submit(report('c')), b.submit(report('d'))];
    await turnOfLoop();
    expect(w.batches).toEqual([['a', 'b']]);
    w.commit();
    await Promise.all(first);
    await turnOfLoop();
    expect(w.batches).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    w.commit();
    expect((await Promise.all(later)).map((r) => r.id)).toEqual(['c', 'd']);
  });

  it('sends no batch while too many committed reports wait for their sync', async () => {
    const w = new SyncByHandWriter();
    // batches of at most 2; none sent while 3 or more are committed and not yet synced
    const b = new IngestBatcher(w, () => {}, { maxBatch: 2, maxUndurable: 3 });
    const answers = ['a', 'b', 'c', 'd', 'e'].map((id) => b.submit(report(id)));
    for (let i = 0; i < 5; i++) await turnOfLoop();
    expect(w.batches).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    w.synced();
    for (let i = 0; i < 5; i++) await turnOfLoop();
    expect(w.batches).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    w.synced();
    w.synced();
    expect((await Promise.all(answers)).map((r) => r.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('settled() waits for the reports submitted before it, not for later ones', async () => {
    const w = new HandWriter();
    const b = new IngestBatcher(w, () => {});
    await b.settled(); // nothing submitted: at once
    void b.submit(report('a'));
    let settled = false;
    void b.settled().then(() => (settled = true));
    await turnOfLoop();
    void b.submit(report('b'));
    await turnOfLoop();
    expect(settled).toBe(false);
    w.commit(); // a's batch
    await turnOfLoop();
    expect(settled).toBe(true);
    expect(w.batches).toEqual([['a'], ['b']]);
  });

  it('turn() resolves between two batches and holds the next one back until the caller is done', async () => {
    const w = new HandWriter();
    const b = new IngestBatcher(w, () => {});
    void b.submit(report('a'));
    await turnOfLoop();
    void b.submit(report('b')); // waits for a's commit
    let sentWhenMyTurnCame = -1;
    const mine = b.turn().then(() => {
      // The caller's synchronous work (an expiry chunk) runs here, with no batch in flight.
      sentWhenMyTurnCame = w.batches.length;
    });
    await turnOfLoop();
    expect(sentWhenMyTurnCame).toBe(-1);
    w.commit();
    await mine;
    expect(sentWhenMyTurnCame).toBe(1);
    await turnOfLoop();
    expect(w.batches).toEqual([['a'], ['b']]);
    // With no batch in flight, a turn comes at once.
    w.commit();
    await turnOfLoop();
    await expect(b.turn()).resolves.toBeUndefined();
  });

  describe('with gatherMs', () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    it('holds a lone report back until it has waited gatherMs, then sends it with those that joined', async () => {
      const w = new SyncByHandWriter();
      const b = new IngestBatcher(w, () => {}, { gatherMs: 300 });
      const started = performance.now();
      const answers = [b.submit(report('a'))];
      await turnOfLoop();
      answers.push(b.submit(report('b')));
      await turnOfLoop();
      expect(w.batches).toEqual([]);
      while (w.batches.length === 0) await sleep(5);
      // A timer may fire up to a millisecond early by the clock read here.
      expect(performance.now() - started).toBeGreaterThanOrEqual(299);
      expect(w.batches).toEqual([['a', 'b']]);
      w.synced();
      expect((await Promise.all(answers)).map((r) => r.id)).toEqual(['a', 'b']);
    });

    it('sends at once when gatherReports are waiting', async () => {
      const w = new SyncByHandWriter();
      const b = new IngestBatcher(w, () => {}, { gatherMs: 60_000, gatherReports: 3 });
      const answers = ['a', 'b'].map((id) => b.submit(report(id)));
      await turnOfLoop();
      expect(w.batches).toEqual([]);
      answers.push(b.submit(report('c')));
      await turnOfLoop();
      expect(w.batches).toEqual([['a', 'b', 'c']]);
      w.synced();
      await Promise.all(answers);
    });

    it('sends what waited behind a batch being written as soon as it is committed', async () => {
      const w = new HandWriter();
      const b = new IngestBatcher(w, () => {}, { gatherMs: 200 });
      void b.submit(report('a'));
      while (w.batches.length === 0) await sleep(5);
      void b.submit(report('b'));
      await sleep(250); // b has now waited longer than gatherMs, behind a's batch
      expect(w.batches).toEqual([['a']]);
      w.commit();
      await turnOfLoop();
      await turnOfLoop();
      expect(w.batches).toEqual([['a'], ['b']]);
      w.commit();
    });
  });
});
