import fc from 'fast-check';
import { validateReport, type Report } from '@jcs/protocol';
import { createReporter, createTransport, type Diagnostic } from '../src';
import { DEFAULT_REDACT_KEYS, createRedactor } from '../src/dump/redact';
import { DEFAULT_DUMP_LIMITS, serializeDump } from '../src/dump/serialize';

// JCS_FUZZ_SCALE multiplies every property's runs for a longer hunt (JCS_FUZZ_SCALE=50 npx jest property).
const SCALE = Number(process.env.JCS_FUZZ_SCALE) || 1;
jest.setTimeout(30_000 * SCALE);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Any UTF-16 text, lone surrogates included. */
const anyText = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 80 })
  .map((units) => String.fromCharCode(...units));

const anyValue = fc.oneof(
  fc.anything({
    withBigInt: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withTypedArray: true,
    withSparseArray: true,
    withBoxedValues: true,
    withNullPrototype: true,
    withObjectString: true,
  }),
  anyText,
  fc.double(),
  fc.bigInt(),
);

/** Inputs shaped like report(): every field present or not, each of any type. */
const reportLike = fc.record(
  {
    number: anyValue,
    description: anyValue,
    module: anyValue,
    procedure: anyValue,
    line: anyValue,
    code: anyValue,
    data: anyValue,
  },
  { requiredKeys: [] },
);

function recordingReporter(dumpConsent: boolean) {
  const sent: Report[] = [];
  const invalid: unknown[] = [];
  const diagnostics: Diagnostic[] = [];
  const reporter = createReporter({
    endpoint: 'https://errors.example/',
    token: 't',
    publicKey: Buffer.alloc(32, 9).toString('base64'),
    keyId: 'k1',
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000123',
    dumpConsent,
    floodControl: { maxPerGroup: 1_000_000 },
    // Room for every run at any JCS_FUZZ_SCALE: a drop would be the queue's bound, not a bug.
    maxQueueReports: 100_000 * SCALE,
    maxQueueBytes: 20 * 2 ** 20 * SCALE,
    onDiagnostic: (d) => diagnostics.push(d),
    transport: (o) =>
      createTransport(o, async (req) => {
        const body = JSON.parse(req.body);
        if (validateReport(body).ok) sent.push(body);
        else invalid.push(body);
        return { statusCode: 202 };
      }),
  });
  const internalErrors = () => diagnostics.filter((d) => d.code === 'internal_error');
  return { reporter, sent, invalid, internalErrors };
}

// Sealing runs tweetnacl, which is many times slower inside Jest's VM context than in a real
// process: the runs that seal a dump are fewer, and the dump serialiser gets its own property.
describe('arbitrary input never throws', () => {
  it('report() returns an id for anything, and sends only valid reports', async () => {
    const { reporter, sent, invalid, internalErrors } = recordingReporter(false);
    let calls = 0;
    fc.assert(
      fc.property(fc.oneof(anyValue, reportLike), (input) => {
        calls++;
        expect(reporter.report(input as never)).toMatch(UUID);
      }),
      { numRuns: 300 * SCALE },
    );
    expect(await reporter.close(10_000 * SCALE)).toBe(true);
    expect(invalid).toEqual([]);
    expect(sent).toHaveLength(calls);
    expect(internalErrors()).toEqual([]);
  });

  it('with consent, any data becomes a sealed dump or a reason it was withheld', async () => {
    const { reporter, sent, invalid, internalErrors } = recordingReporter(true);
    const withData = new Set<string>();
    fc.assert(
      fc.property(anyValue, (data) => {
        const id = reporter.report({ description: 'x', data } as never);
        expect(id).toMatch(UUID);
        // null, like undefined, is no data: no dump and nothing withheld
        if (data !== undefined && data !== null) withData.add(id);
      }),
      { numRuns: 25 * SCALE },
    );
    expect(await reporter.close(10_000 * SCALE)).toBe(true);
    expect(invalid).toEqual([]);
    expect(sent).toHaveLength(25 * SCALE);
    for (const r of sent.filter((x) => withData.has(x.id))) {
      expect(r.dump !== undefined || r.dumpWithheld !== undefined).toBe(true);
    }
    expect(internalErrors()).toEqual([]);
  });

  it('the dump serialiser turns anything into bounded JSON', () => {
    const redactor = createRedactor({ keys: DEFAULT_REDACT_KEYS, cardNumbers: true });
    fc.assert(
      fc.property(anyValue, fc.integer({ min: 64, max: 4096 }), (data, maxBytes) => {
        const r = serializeDump(data, { ...DEFAULT_DUMP_LIMITS, maxBytes }, redactor);
        if (!r.ok) {
          expect(r.withheld).toBe('too-large');
          return;
        }
        expect(Buffer.byteLength(r.json)).toBeLessThanOrEqual(maxBytes);
        expect(() => JSON.parse(r.json)).not.toThrow();
      }),
      { numRuns: 300 * SCALE },
    );
  });

  it('captureException() and preview() too', async () => {
    const { reporter, invalid, internalErrors } = recordingReporter(false);
    fc.assert(
      fc.property(anyValue, fc.oneof(anyValue, reportLike), (thrown, extra) => {
        expect(reporter.captureException(thrown, extra as never)).toMatch(UUID);
        const p = reporter.preview(extra as never);
        // what would be sent, the dump aside (it is in clear here)
        const { dump: _dump, ...withoutDump } = p ?? {};
        expect(p === null || validateReport(withoutDump).ok).toBe(true);
      }),
      { numRuns: 200 * SCALE },
    );
    expect(await reporter.close(10_000 * SCALE)).toBe(true);
    expect(invalid).toEqual([]);
    expect(internalErrors()).toEqual([]);
  });
});
