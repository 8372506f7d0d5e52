import fs from 'node:fs';
import path from 'node:path';
import type { Diagnostic } from '../src';
import { DiskQueue } from '../src/queue/disk-queue';
import { makeReport, pendingFiles, tempDir } from './helpers/fixtures';
import { errorInput, serverPerTest } from './helpers/harness';

/**
 * flush() answers "was everything queued delivered?": a report the SDK threw away since the last
 * flush() answered (refused for good, pushed out of a full queue) makes it false, even though the
 * queue is empty.
 */
const h = serverPerTest();
const reporterFor = (diagnostics: Diagnostic[], overrides: Record<string, unknown> = {}) =>
  h.reporter(diagnostics, overrides);
const input = errorInput;

describe('flush', () => {
  it('is true when the collector took every report (202)', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { queueDir });
    const ids = [r.report(input('a')), r.report(input('b'))];
    expect(await r.flush(2000)).toBe(true);
    expect(h.server.received.map((x) => x.status)).toEqual([202, 202]);
    expect([...h.server.stored.keys()]).toEqual(ids);
    expect(diagnostics).toEqual([]);
  });

  it('delivers a report that another process sharing the queue died holding, before answering', async () => {
    const queueDir = tempDir();
    const r = reporterFor([], { queueDir });
    // After the reporter's own look at start: another process claims a report, then dies.
    const other = new DiskQueue(
      queueDir,
      { maxReports: 100, maxBytes: 1 << 20 },
      { onOverflow: () => undefined, onCorrupt: () => undefined },
    );
    const orphan = makeReport('left claimed by a process that died');
    other.add(orphan);
    expect(other.claimNext()!.report.id).toBe(orphan.id);
    const claimed = path.join(queueDir, 'claimed');
    const [name] = fs.readdirSync(claimed);
    const parts = name.split('~');
    fs.renameSync(
      path.join(claimed, name),
      path.join(claimed, [parts[0], '999999', 'dead', parts[3]].join('~')),
    );
    expect(await r.flush(2000)).toBe(true);
    expect([...h.server.stored.keys()]).toEqual([orphan.id]);
    expect(fs.readdirSync(claimed)).toEqual([]);
  });

  it('is false when the collector refused a report for good (401), which was deleted', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { queueDir, token: 'revoked-token' });
    const id = r.report(input());
    expect(await r.flush(2000)).toBe(false);
    expect(h.server.received.map((x) => x.status)).toEqual([401]);
    expect(pendingFiles(queueDir)).toEqual([]);
    expect(diagnostics).toEqual([
      expect.objectContaining({ code: 'rejected', status: 401, reportId: id }),
    ]);
    // Nothing was dropped during this one: true again.
    expect(await r.flush(2000)).toBe(true);
  });

  it('is false when a report was refused as too large even without its dump', async () => {
    const r = reporterFor([], { dumpConsent: true });
    h.server.script({ status: 413 }, { status: 413 });
    r.report({ ...input(), data: { a: 1 } });
    expect(await r.flush(2000)).toBe(false);
    expect(h.server.received).toHaveLength(2);
    expect(h.server.received[1].report!.dumpWithheld).toBe('too-large');
  });

  it('is false when a full queue dropped a report before it was called, true again after', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { maxQueueReports: 1 });
    r.report(input('pushed out'));
    // Before the first send: this one pushes the other out of the one-report queue.
    const kept = r.report(input('kept'));
    expect(diagnostics.map((d) => d.code)).toEqual(['queue_overflow']);
    expect(await r.flush(2000)).toBe(false);
    expect([...h.server.stored.keys()]).toEqual([kept]);
    expect(await r.flush(2000)).toBe(true);
  });

  it('is false when a failing beforeSend dropped a report, not when it dropped one on purpose', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, {
      beforeSend: (report: { error: { description: string } }) => {
        if (report.error.description === 'throws') throw new Error('hook bug');
        return report.error.description === 'dropped' ? null : report;
      },
    });
    r.report(input('dropped'));
    const sent = r.report(input('sent'));
    expect(await r.flush(2000)).toBe(true);
    r.report(input('throws'));
    expect(await r.flush(2000)).toBe(false);
    expect(await r.flush(2000)).toBe(true);
    expect([...h.server.stored.keys()]).toEqual([sent]);
    expect(diagnostics.map((d) => d.code)).toEqual(['before_send_dropped', 'before_send_failed']);
  });

  it('is false when a full queue dropped a report while it waited', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { maxQueueReports: 1 });
    r.report(input('pushed out'));
    const flushed = r.flush(2000);
    // Before the first send: the queue holds one report, so this one pushes the other out.
    const kept = r.report(input('kept'));
    expect(await flushed).toBe(false);
    expect([...h.server.stored.keys()]).toEqual([kept]);
    expect(diagnostics.map((d) => d.code)).toEqual(['queue_overflow']);
  });

  it('counts what was dropped before it was called, until one flush() has answered for it', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics);
    h.server.script({ status: 400 });
    r.report(input('refused'));
    await h.server.waitFor(() => diagnostics.length === 1);
    const id = r.report(input('delivered'));
    expect(await r.flush(2000)).toBe(false);
    expect(h.server.stored.has(id)).toBe(true);
    expect(await r.flush(2000)).toBe(true);
  });

  it('is false when a queued file could not be read and went to corrupt/', async () => {
    const queueDir = tempDir();
    const first = reporterFor([], { queueDir, endpoint: 'http://127.0.0.1:1/' });
    first.report(input('a'));
    first.report(input('b'));
    await first.close(0);
    const [victim] = pendingFiles(queueDir);
    fs.writeFileSync(path.join(queueDir, 'pending', victim), 'cut short');
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { queueDir });
    expect(await r.flush(2000)).toBe(false);
    expect(diagnostics.map((d) => d.code)).toEqual(['queue_corrupt']);
    expect(h.server.received.map((x) => x.status)).toEqual([202]);
    expect(await r.flush(2000)).toBe(true);
  });

  it('is false after report() on a closed reporter without a queue dir dropped it', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics);
    await r.close(1000);
    r.report(input());
    expect(diagnostics.map((d) => d.code)).toEqual(['closed']);
    expect(await r.flush(100)).toBe(false);
  });

  it('close() leaves no timer behind that would hold the host open', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const r = reporterFor([]);
    expect(await r.close(5000)).toBe(true);
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('a flush() waiting when close() ends answers with it, not at its own deadline', async () => {
    h.server.always({ status: 503, headers: { 'Retry-After': '30' } });
    for (const closeFirst of [false, true]) {
      const r = reporterFor([]);
      r.report(input());
      const started = Date.now();
      let flushed: Promise<boolean>;
      let closed: Promise<boolean>;
      if (closeFirst) {
        closed = r.close(300);
        flushed = r.flush(20_000);
      } else {
        flushed = r.flush(20_000);
        closed = r.close(300);
      }
      expect(await closed).toBe(false);
      expect(await flushed).toBe(false);
      // close()'s 300 ms and a little: never the flush's 20 s
      expect(Date.now() - started).toBeLessThan(5_000);
    }
  });

  it('close() answers the same way', async () => {
    const r = reporterFor([], { token: 'revoked-token' });
    r.report(input());
    expect(await r.close(2000)).toBe(false);
  });
});
