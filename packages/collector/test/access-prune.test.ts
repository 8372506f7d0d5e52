import fs from 'node:fs';
import path from 'node:path';
import { makeTestCollector, type TestCollector } from '../../../test-support/app';
import { auditCutoff } from '../src/store/audit';
import { makeEntries, tamper } from './access-support';

const DAY = 86_400_000;

let t: TestCollector;
beforeEach(async () => {
  t = makeTestCollector();
  // 4 entries 14 months ago, then 3 now
  await makeEntries(t, 4);
  t.clock.advance(426 * DAY);
  await makeEntries(t, 3);
});
afterEach(() => t.close());

const anchorFile = () => path.join(t.dataDir, 'keys', 'audit-anchor.json');
const metaAnchor = () =>
  (
    t.collector.db.prepare("SELECT value FROM meta WHERE key = 'audit_anchor'").get() as {
      value: string;
    }
  ).value;

describe('pruning the access log after 13 months', () => {
  it('computes the cut-off in calendar months', () => {
    expect(new Date(auditCutoff(Date.parse('2026-11-01T12:00:00Z'))).toISOString()).toBe(
      '2025-10-01T12:00:00.000Z',
    );
  });

  it('removes the old entries and keeps the rest verifiable through an anchor, in the database and the keys folder', () => {
    const hash4 = t.collector.audit.list({ limit: 10 }).find((e) => e.seq === 4)!.hash;
    const result = t.collector.audit.prune();
    expect(result).toEqual({ pruned: 4, anchor: { seq: 4, hash: hash4 } });
    expect(t.collector.audit.list({ limit: 10 }).map((e) => e.seq)).toEqual([7, 6, 5]);
    expect(JSON.parse(metaAnchor())).toEqual({ seq: 4, hash: hash4 });
    expect(JSON.parse(fs.readFileSync(anchorFile(), 'utf8'))).toEqual({ seq: 4, hash: hash4 });
    expect(t.collector.audit.verify()).toEqual({ ok: true, entries: 3 });
    // nothing more to prune; the log goes on from where it was
    expect(t.collector.audit.prune()).toMatchObject({ pruned: 0 });
    t.collector.audit.append({ actor: 'x', action: 'y', target: null, outcome: 'ok' }, t.clock());
    expect(t.collector.audit.verify()).toEqual({ ok: true, entries: 4 });
  });

  it('can prune every entry and still chain the next one from the anchor', () => {
    t.clock.advance(500 * DAY);
    expect(t.collector.audit.prune()).toMatchObject({ pruned: 7, anchor: { seq: 7 } });
    expect(t.collector.audit.verify()).toEqual({ ok: true, entries: 0 });
    const next = t.collector.audit.append(
      { actor: 'x', action: 'y', target: null, outcome: 'ok' },
      t.clock(),
    );
    expect(next.seq).toBe(8);
    expect(t.collector.audit.verify()).toEqual({ ok: true, entries: 1 });
  });

  it('leaves the triggers in force afterwards', () => {
    t.collector.audit.prune();
    expect(() => t.collector.db.prepare('DELETE FROM audit WHERE seq = 5').run()).toThrow(
      /append-only/,
    );
  });

  it('detects entries deleted behind its back after a pruning', () => {
    t.collector.audit.prune();
    tamper(t.dataDir, (db) => db.prepare('DELETE FROM audit WHERE seq = 5').run());
    expect(t.collector.audit.verify()).toEqual({ ok: false, brokenAt: 5 });
  });

  it('detects a pruning forged through the database alone', () => {
    const hash2 = t.collector.audit.list({ limit: 10 }).find((e) => e.seq === 2)!.hash;
    tamper(t.dataDir, (db) => {
      db.prepare('DELETE FROM audit WHERE seq <= 2').run();
      db.prepare("INSERT INTO meta (key, value) VALUES ('audit_anchor', ?)").run(
        JSON.stringify({ seq: 2, hash: hash2 }),
      );
    });
    expect(t.collector.audit.verify()).toEqual({ ok: false, brokenAt: 1 });
  });

  it('reads a pruning interrupted before its commit (keys folder ahead) as intact', () => {
    const hash3 = t.collector.audit.list({ limit: 10 }).find((e) => e.seq === 3)!.hash;
    fs.writeFileSync(anchorFile(), JSON.stringify({ seq: 3, hash: hash3 }));
    expect(t.collector.audit.verify()).toEqual({ ok: true, entries: 7 });
    expect(t.collector.audit.prune()).toMatchObject({ pruned: 4 });
    expect(t.collector.audit.verify()).toEqual({ ok: true, entries: 3 });
  });

  it('checks only the entries it removes: a break among the kept ones is left to verify', () => {
    tamper(t.dataDir, (db) => db.prepare("UPDATE audit SET actor = 'x' WHERE seq = 6").run());
    const result = t.collector.audit.prune();
    expect(result).toMatchObject({ pruned: 4, anchor: { seq: 4 } });
    expect(result).not.toHaveProperty('brokenAt');
    expect(t.collector.audit.verify()).toEqual({ ok: false, brokenAt: 6 });
  });

  it('never prunes from the first broken entry on, so the evidence stays', () => {
    tamper(t.dataDir, (db) => db.prepare("UPDATE audit SET actor = 'x' WHERE seq = 2").run());
    expect(t.collector.audit.prune()).toMatchObject({ pruned: 1, brokenAt: 2 });
    expect(t.collector.audit.verify()).toEqual({ ok: false, brokenAt: 2 });
  });
});
