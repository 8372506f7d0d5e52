import type { Diagnostic } from '../src';
import { pendingFiles, tempDir } from './helpers/fixtures';
import { errorInput, serverPerTest } from './helpers/harness';
import { deadEndpoint } from './helpers/host';
import { waitFor } from './helpers/test-server';

/**
 * Consent is asked again when a report is sent, not only when it is made: a dump queued before
 * the user said no (or by an earlier run) does not leave the machine once they have.
 */
const h = serverPerTest();
const reporterFor = (overrides: Record<string, unknown>, diagnostics: Diagnostic[] = []) =>
  h.reporter(diagnostics, overrides);

const input = errorInput(undefined, { client: 'Smith' });

describe('consent withdrawn while a dump waits in the queue', () => {
  it('the dump is not sent: the report goes with dumpWithheld "user-opt-out"', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor({ queueDir: tempDir(), dumpConsent: true }, diagnostics);
    h.server.always({ status: 503 });
    const id = r.report(input);
    await waitFor(() => h.server.received.length >= 1);
    expect(h.server.received[0].report!.dump).toBeDefined();

    r.setDumpConsent(false);
    // Once an attempt made after the change has arrived, none still in flight carries the dump.
    await waitFor(() => h.server.received.some((x) => x.report!.dump === undefined));
    h.server.always('default');
    expect(await r.flush(3000)).toBe(true);

    const delivered = h.server.stored.get(id)!;
    expect(delivered.dump).toBeUndefined();
    expect(delivered.dumpWithheld).toBe('user-opt-out');
    const last = JSON.parse(h.server.received[h.server.received.length - 1].body);
    expect(last).not.toHaveProperty('dump');
    expect(last.dumpWithheld).toBe('user-opt-out');
    expect(diagnostics.filter((d) => d.code === 'rejected')).toEqual([]);
  });

  it('reports made with consent but without a dump also say "user-opt-out" once it is withdrawn', async () => {
    const r = reporterFor({
      queueDir: tempDir(),
      dumpConsent: true,
      floodControl: { maxPerGroup: 1, windowMs: 60_000 },
    });
    h.server.always({ status: 503 });
    // no data; then the same error twice more, held back for a carrier with repeats
    const noData = r.report(errorInput());
    r.report(errorInput());
    r.report(errorInput());
    await waitFor(() => h.server.received.length >= 1);
    expect(h.server.received[0].report).not.toHaveProperty('dumpWithheld');

    r.setDumpConsent(false);
    h.server.always('default');
    expect(await r.flush(3000)).toBe(true);
    const stored = [...h.server.stored.values()];
    // the first as it happened, and a carrier standing for the other two (itself and 1 repeat)
    expect(stored.map((x) => x.repeats ?? 0).sort()).toEqual([0, 1]);
    for (const report of stored) expect(report.dumpWithheld).toBe('user-opt-out');
    expect(h.server.stored.get(noData)!.dumpWithheld).toBe('user-opt-out');
  });

  it('a reporter made without consent sends what an earlier run queued without the dump', async () => {
    const queueDir = tempDir();
    const before = reporterFor({ queueDir, dumpConsent: true, endpoint: await deadEndpoint() });
    const id = before.report(input);
    await before.close(0);
    await waitFor(() => pendingFiles(queueDir).length === 1);

    const after = reporterFor({ queueDir, dumpConsent: false });
    expect(await after.flush(3000)).toBe(true);
    expect(h.server.received).toHaveLength(1);
    expect(h.server.stored.get(id)).toMatchObject({ dumpWithheld: 'user-opt-out' });
    expect(h.server.stored.get(id)).not.toHaveProperty('dump');
  });
});
