import { createReporter, type Diagnostic, type Reporter } from '../src';
import { cleanupTempDirs, optionsFor, pendingFiles, tempDir } from './helpers/fixtures';
import { startTestServer, type TestServer } from './helpers/test-server';

/**
 * flush() answers "was everything queued delivered?": a report the SDK threw away while it waited
 * (refused for good, pushed out of a full queue) makes it false, even though the queue is empty.
 */
let server: TestServer;
const open: Reporter[] = [];

beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  for (const r of open.splice(0)) await r.close(0);
  await server.close();
});
afterAll(cleanupTempDirs);

function reporterFor(diagnostics: Diagnostic[], overrides: Record<string, unknown> = {}) {
  const r = createReporter(optionsFor(server, diagnostics, overrides));
  open.push(r);
  return r;
}

const input = (description = 'Object variable not set') => ({
  number: 91,
  description,
  module: 'modClients',
  procedure: 'LoadClient',
  line: 120,
});

describe('flush', () => {
  it('is true when the collector took every report (202)', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { queueDir });
    const ids = [r.report(input('a')), r.report(input('b'))];
    expect(await r.flush(2000)).toBe(true);
    expect(server.received.map((x) => x.status)).toEqual([202, 202]);
    expect([...server.stored.keys()]).toEqual(ids);
    expect(diagnostics).toEqual([]);
  });

  it('is false when the collector refused a report for good (401), which was deleted', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { queueDir, token: 'revoked-token' });
    const id = r.report(input());
    expect(await r.flush(2000)).toBe(false);
    expect(server.received.map((x) => x.status)).toEqual([401]);
    expect(pendingFiles(queueDir)).toEqual([]);
    expect(diagnostics).toEqual([
      expect.objectContaining({ code: 'rejected', status: 401, reportId: id }),
    ]);
    // Nothing was dropped during this one: true again.
    expect(await r.flush(2000)).toBe(true);
  });

  it('is false when a report was refused as too large even without its dump', async () => {
    const r = reporterFor([], { dumpConsent: true });
    server.script({ status: 413 }, { status: 413 });
    r.report({ ...input(), data: { a: 1 } });
    expect(await r.flush(2000)).toBe(false);
    expect(server.received).toHaveLength(2);
    expect(server.received[1].report!.dumpWithheld).toBe('too-large');
  });

  it('is false when a full queue dropped a report while it waited', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { maxQueueReports: 1 });
    r.report(input('pushed out'));
    const flushed = r.flush(2000);
    // Before the first send: the queue holds one report, so this one pushes the other out.
    const kept = r.report(input('kept'));
    expect(await flushed).toBe(false);
    expect([...server.stored.keys()]).toEqual([kept]);
    expect(diagnostics.map((d) => d.code)).toEqual(['queue_overflow']);
  });

  it('counts only what was dropped after it was called', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics);
    server.script({ status: 400 });
    r.report(input('refused'));
    await server.waitFor(() => diagnostics.length === 1);
    const id = r.report(input('delivered'));
    expect(await r.flush(2000)).toBe(true);
    expect(server.stored.has(id)).toBe(true);
  });

  it('close() answers the same way', async () => {
    const r = reporterFor([], { token: 'revoked-token' });
    r.report(input());
    expect(await r.close(2000)).toBe(false);
  });
});
