import { createReporter, type Diagnostic, type Reporter } from '../src';
import { cleanupTempDirs, optionsFor, pendingFiles, tempDir } from './helpers/fixtures';
import { deadEndpoint } from './helpers/host';
import { startTestServer, waitFor, type TestServer } from './helpers/test-server';

/**
 * Consent is asked again when a report is sent, not only when it is made: a dump queued before
 * the user said no (or by an earlier run) does not leave the machine once they have.
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

function reporterFor(overrides: Record<string, unknown>, diagnostics: Diagnostic[] = []) {
  const r = createReporter(optionsFor(server, diagnostics, overrides));
  open.push(r);
  return r;
}

const input = {
  number: 91,
  description: 'Object variable not set',
  module: 'modClients',
  procedure: 'LoadClient',
  line: 120,
  data: { client: 'Smith' },
};

describe('consent withdrawn while a dump waits in the queue', () => {
  it('the dump is not sent: the report goes with dumpWithheld "user-opt-out"', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor({ queueDir: tempDir(), dumpConsent: true }, diagnostics);
    server.always({ status: 503 });
    const id = r.report(input);
    await waitFor(() => server.received.length >= 1);
    expect(server.received[0].report!.dump).toBeDefined();

    r.setDumpConsent(false);
    // Once an attempt made after the change has arrived, none still in flight carries the dump.
    await waitFor(() => server.received.some((x) => x.report!.dump === undefined));
    server.always('default');
    expect(await r.flush(3000)).toBe(true);

    const delivered = server.stored.get(id)!;
    expect(delivered.dump).toBeUndefined();
    expect(delivered.dumpWithheld).toBe('user-opt-out');
    const last = JSON.parse(server.received[server.received.length - 1].body);
    expect(last).not.toHaveProperty('dump');
    expect(last.dumpWithheld).toBe('user-opt-out');
    expect(diagnostics.filter((d) => d.code === 'rejected')).toEqual([]);
  });

  it('a reporter made without consent sends what an earlier run queued without the dump', async () => {
    const queueDir = tempDir();
    const before = reporterFor({ queueDir, dumpConsent: true, endpoint: await deadEndpoint() });
    const id = before.report(input);
    await before.close(0);
    await waitFor(() => pendingFiles(queueDir).length === 1);

    const after = reporterFor({ queueDir, dumpConsent: false });
    expect(await after.flush(3000)).toBe(true);
    expect(server.received).toHaveLength(1);
    expect(server.stored.get(id)).toMatchObject({ dumpWithheld: 'user-opt-out' });
    expect(server.stored.get(id)).not.toHaveProperty('dump');
  });
});
