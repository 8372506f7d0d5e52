import { createReporter, type Diagnostic, type Reporter } from '../src';
import { cleanupTempDirs, optionsFor, tempDir } from './helpers/fixtures';
import { startTestServer, type TestServer } from './helpers/test-server';

/**
 * What the engineer reads is what the host passed: data that fits the 256 KiB dump limit arrives
 * whole, opened with the collector's secret key; data that cannot be serialised at all is not
 * sent as a placeholder but withheld, and the report says why.
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

function reporterFor(diagnostics: Diagnostic[]) {
  const r = createReporter(
    optionsFor(server, diagnostics, { queueDir: tempDir(), dumpConsent: true }),
  );
  open.push(r);
  return r;
}

const input = (data: unknown) => ({
  number: 91,
  description: 'Object variable not set',
  module: 'modClients',
  procedure: 'LoadClient',
  line: 120,
  data,
});

function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 'bottom', n: levels };
  for (let i = levels - 1; i > 0; i--) value = { level: i, child: value };
  return value;
}

describe('the dump as the engineer reads it', () => {
  it('a 1,000-item array and a 30-level object arrive exactly as given', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics);
    const list = Array.from({ length: 1000 }, (_, i) => i * 1.5);
    const deep = nested(30);
    expect(JSON.stringify(deep).match(/\{/g)).toHaveLength(30);
    const ids = [r.report(input(list)), r.report(input(deep)), r.report(input({ list, deep }))];
    expect(await r.flush(5000)).toBe(true);
    const [a, b, c] = ids.map((id) => server.openDump(server.stored.get(id)!));
    expect(a).toEqual(list);
    expect(b).toEqual(deep);
    expect(c).toEqual({ list, deep });
    expect(diagnostics).toEqual([]);
  });

  it('data that cannot be serialised at all is withheld as unserializable, with no dump', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics);
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const whole = r.report(input(proxy));
    const inside = r.report(input({ ok: 1, proxy }));
    expect(await r.flush(5000)).toBe(true);

    const withheld = server.stored.get(whole)!;
    expect(withheld.dumpWithheld).toBe('unserializable');
    expect(withheld).not.toHaveProperty('dump');
    expect(diagnostics).toEqual([
      expect.objectContaining({ code: 'dump_withheld', reportId: whole }),
    ]);
    // Deep inside, a placeholder stands in and the rest is kept.
    expect(server.openDump(server.stored.get(inside)!)).toEqual({
      ok: 1,
      proxy: '[unserializable]',
    });
  });
});
