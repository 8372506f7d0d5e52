import type { Diagnostic } from '../src';
import { tempDir } from './helpers/fixtures';
import { errorInput, serverPerTest } from './helpers/harness';

/**
 * What the engineer reads is what the host passed: data that fits the 256 KiB dump limit arrives
 * whole, opened with the collector's secret key; data that cannot be serialised at all is not
 * sent as a placeholder but withheld, and the report says why.
 */
const h = serverPerTest();
const reporterFor = (diagnostics: Diagnostic[]) =>
  h.reporter(diagnostics, { queueDir: tempDir(), dumpConsent: true });
const input = (data: unknown) => errorInput(undefined, data);

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
    const [a, b, c] = ids.map((id) => h.server.openDump(h.server.stored.get(id)!));
    expect(a).toEqual(list);
    expect(b).toEqual(deep);
    expect(c).toEqual({ list, deep });
    expect(diagnostics).toEqual([]);
  });

  it('boxed primitives arrive as their values, and a card number used as a key is redacted', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics);
    const boxed = { n: new Number(5), b: new Boolean(false), s: new String('hi') };
    const ids = [
      r.report(input(boxed)),
      r.report(input({ '4111111111111111': 'v', byMap: new Map([['4111111111111111', 'v']]) })),
    ];
    expect(await r.flush(5000)).toBe(true);
    const [a, b] = ids.map((id) => h.server.openDump(h.server.stored.get(id)!));
    expect(JSON.stringify(a)).toBe(JSON.stringify(boxed)); // {"n":5,"b":false,"s":"hi"}
    expect(b).toEqual({
      '[redacted card number]': 'v',
      byMap: { $type: 'Map', size: 1, entries: [['[redacted card number]', 'v']] },
    });
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

    const withheld = h.server.stored.get(whole)!;
    expect(withheld.dumpWithheld).toBe('unserializable');
    expect(withheld).not.toHaveProperty('dump');
    expect(diagnostics).toEqual([
      expect.objectContaining({ code: 'dump_withheld', reportId: whole }),
    ]);
    // Deep inside, a placeholder stands in and the rest is kept.
    expect(h.server.openDump(h.server.stored.get(inside)!)).toEqual({
      ok: 1,
      proxy: '[unserializable]',
    });
  });
});
