import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { openDatabase } from '../src/store/db';
import { AuditBatcher } from '../src/store/audit-batch';
import { WalSync } from '../src/store/wal-sync';
import { makeTestCollector, type TestCollector } from '../../../test-support/app';
import { auditCount, tamper } from './access-support';

let t: TestCollector;
beforeEach(() => (t = makeTestCollector()));
afterEach(() => t.close());

/** A real WalSync that counts its fsyncs. */
class CountingWalSync extends WalSync {
  syncs = 0;
  override sync(): Promise<void> {
    this.syncs++;
    return super.sync();
  }
}

const entry = (n: number) => ({
  actor: 'alice',
  action: 'groups.list',
  target: null,
  outcome: n % 2 === 0 ? 'ok' : 'rate_limited',
});

/** The entries as another connection sees them: what is committed. */
function committed(t: TestCollector): { seq: number; outcome: string }[] {
  const db = openDatabase(path.join(t.dataDir, 'collector.db'), { readonly: true });
  try {
    return db.prepare('SELECT seq, outcome FROM audit ORDER BY seq').all() as {
      seq: number;
      outcome: string;
    }[];
  } finally {
    db.close();
  }
}

describe('access-log group commit (store/audit-batch.ts)', () => {
  it('commits the entries asked for in one turn together, one fsync for all, each on disk before it resolves', async () => {
    const c = t.collector;
    const wal = new CountingWalSync(path.join(t.dataDir, 'collector.db-wal'));
    const batcher = new AuditBatcher(c.db, c.audit, wal, c.clock);
    const seen: number[] = [];
    const all = Array.from({ length: 40 }, (_, i) =>
      batcher.append(entry(i)).then(() => seen.push(committed(t).length)),
    );
    expect(committed(t)).toHaveLength(0); // nothing before the batch's turn
    await Promise.all(all);
    expect(wal.syncs).toBe(1);
    expect(seen.every((n) => n === 40)).toBe(true);
    expect(committed(t).map((e) => e.outcome)).toEqual(
      Array.from({ length: 40 }, (_, i) => entry(i).outcome),
    );
    expect(c.audit.verify()).toEqual({ ok: true, entries: 40 });
    // The next turn's entries are a batch of their own, chained on.
    await Promise.all([batcher.append(entry(0)), batcher.append(entry(1))]);
    expect(wal.syncs).toBe(2);
    expect(c.audit.verify()).toEqual({ ok: true, entries: 42 });
    wal.close();
  });

  it('rejects every entry of a batch that cannot be committed, and stores none of it', async () => {
    const c = t.collector;
    tamper(t.dataDir, (db) =>
      db.exec(
        "CREATE TRIGGER audit_jammed BEFORE INSERT ON audit WHEN NEW.seq = 2 BEGIN SELECT RAISE(ABORT, 'jammed'); END",
      ),
    );
    const results = await Promise.allSettled([0, 1, 2].map((i) => c.auditBatcher.append(entry(i))));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(auditCount(t)).toBe(0);
  });

  it('commits what is still waiting when the collector closes', async () => {
    const waiting = [0, 1, 2].map((i) => t.collector.auditBatcher.append(entry(i)));
    t.collector.close();
    await Promise.all(waiting);
    expect(committed(t)).toHaveLength(3);
  });

  it('never marks the head (keys folder) ahead of entries not yet on disk', async () => {
    const audit = t.collector.audit;
    const head = path.join(t.dataDir, 'keys', 'audit-head.json');
    const db = t.collector.db;
    let seq = 0;
    db.transaction(() => (seq = audit.insert(entry(0), t.clock()).seq)).immediate();
    audit.unsynced(seq);
    audit.flushHead();
    await audit.headWritten();
    expect(fs.existsSync(head)).toBe(false);
    audit.synced(seq);
    await audit.headWritten();
    expect(JSON.parse(fs.readFileSync(head, 'utf8'))).toMatchObject({ seq });
  });

  it("logs every one of a flood of a revoked token's requests, each refused only once logged", async () => {
    const c = t.collector;
    const old = c.tokens.create('old-eng-2', 'engineer', t.clock());
    c.tokens.revoke('old-eng-2', t.clock());
    const server = t.app.listen(0);
    try {
      const answers = await Promise.all(
        Array.from({ length: 30 }, () =>
          request(server).get('/v1/groups').set('Authorization', `Bearer ${old}`),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(30).fill(401));
      const entries = c.audit.list({ limit: 100 });
      expect(entries).toHaveLength(30);
      expect(new Set(entries.map((e) => `${e.actor} ${e.outcome}`))).toEqual(
        new Set(['old-eng-2 unauthorized']),
      );
      expect(c.audit.verify()).toEqual({ ok: true, entries: 30 });
    } finally {
      server.close();
    }
  });
});
