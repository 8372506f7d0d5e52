import { validateReport, type Report } from '@jcs/protocol';
import { createReporter, createTransport, type Diagnostic, type ReporterOptions } from '../src';
import { cleanupTempDirs, readAllFiles, tempDir } from './helpers/fixtures';
import nacl from 'tweetnacl';
import { openDump } from '@jcs/protocol';

/** A reporter whose transport records what would go on the wire, without a network. */
function recording(overrides: Partial<ReporterOptions> = {}) {
  const keys = nacl.box.keyPair();
  const sent: Report[] = [];
  const diagnostics: Diagnostic[] = [];
  const reporter = createReporter({
    endpoint: 'https://errors.example/',
    token: 't',
    publicKey: Buffer.from(keys.publicKey).toString('base64'),
    keyId: 'k1',
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000123',
    onDiagnostic: (d) => diagnostics.push(d),
    transport: (o) =>
      createTransport(o, async (req) => {
        sent.push(JSON.parse(req.body));
        return { statusCode: 202 };
      }),
    ...overrides,
  });
  const open = (r: Report) => (r.dump ? JSON.parse(openDump(r.dump, keys.secretKey)!) : undefined);
  return { reporter, sent, diagnostics, open };
}

/** Data that notices any touch at all: property reads, key listing, prototype checks. */
function tripwire() {
  const touched: string[] = [];
  const handler: ProxyHandler<object> = {};
  for (const trap of [
    'get',
    'has',
    'ownKeys',
    'getOwnPropertyDescriptor',
    'getPrototypeOf',
    'defineProperty',
    'set',
  ] as const) {
    (handler as Record<string, unknown>)[trap] = (...args: unknown[]) => {
      touched.push(trap);
      return (Reflect[trap] as (...a: unknown[]) => unknown)(...args);
    };
  }
  return { data: new Proxy({ secret: 1 }, handler), touched };
}

afterAll(cleanupTempDirs);

describe('consent', () => {
  it('is off by default: the data is never touched and the report says user-opt-out', async () => {
    const { reporter, sent } = recording();
    const { data, touched } = tripwire();
    const input = { description: 'x', data };
    reporter.report(input);
    reporter.captureException(new Error('y'), { data });
    expect(await reporter.flush(1000)).toBe(true);
    expect(touched).toEqual([]);
    expect(sent).toHaveLength(2);
    for (const r of sent) {
      expect(r.dump).toBeUndefined();
      expect(r.dumpWithheld).toBe('user-opt-out');
    }
  });

  it('even a getter on the input for data is never called without consent', () => {
    const { reporter } = recording({ dumpConsent: false });
    let called = false;
    reporter.report({
      description: 'x',
      get data() {
        called = true;
        return {};
      },
    });
    expect(called).toBe(false);
  });

  it('setDumpConsent switches it for later reports', async () => {
    const { reporter, sent, open } = recording({ dumpConsent: false });
    reporter.report({ description: 'before', data: { a: 1 } });
    reporter.setDumpConsent(true);
    reporter.report({ description: 'during', data: { a: 2, password: 'hunter2' } });
    expect(await reporter.flush(1000)).toBe(true);
    reporter.setDumpConsent(false);
    reporter.report({ description: 'after', data: { a: 3 } });
    expect(await reporter.flush(1000)).toBe(true);
    expect(sent.map((r) => r.dumpWithheld)).toEqual(['user-opt-out', undefined, 'user-opt-out']);
    expect(open(sent[1])).toEqual({ a: 2, password: '[redacted]' });
  });

  it('setDumpConsent with anything but a boolean withholds the dump and says so', async () => {
    const { reporter, sent, diagnostics } = recording({ dumpConsent: true });
    for (const value of ['yes', 1, 'true', undefined]) {
      reporter.setDumpConsent(value as unknown as boolean);
      reporter.report({ description: 'x', data: { a: 1 } });
    }
    reporter.setDumpConsent(true);
    reporter.report({ description: 'y', data: { a: 2 } });
    expect(await reporter.flush(1000)).toBe(true);
    expect(sent.map((r) => r.dumpWithheld)).toEqual([
      'user-opt-out',
      'user-opt-out',
      'user-opt-out',
      'user-opt-out',
      undefined,
    ]);
    const told = diagnostics.filter((d) => d.code === 'invalid_input');
    expect(told.map((d) => d.message)).toEqual([
      expect.stringMatching(
        /^setDumpConsent takes true or false, not a value of type string: taken as false/,
      ),
      expect.stringMatching(/of type number: taken as false/),
      expect.stringMatching(/of type string: taken as false/),
      expect.stringMatching(/of type undefined: taken as false/),
    ]);
  });

  it('seals each dump with a fresh ephemeral key and nonce', async () => {
    const { reporter, sent, open } = recording({ dumpConsent: true });
    reporter.report({ data: { same: true } });
    reporter.report({ data: { same: true } });
    expect(await reporter.flush(1000)).toBe(true);
    expect(sent[0].dump!.epk).not.toBe(sent[1].dump!.epk);
    expect(sent[0].dump!.nonce).not.toBe(sent[1].dump!.nonce);
    expect(open(sent[0])).toEqual({ same: true });
    expect(open(sent[1])).toEqual({ same: true });
  });

  it('a report without data has neither dump nor dumpWithheld when consent is given', async () => {
    const { reporter, sent } = recording({ dumpConsent: true });
    reporter.report({ description: 'no data' });
    // null (VB's Nothing) is no data either: a sealed "null" reads like a dump that cannot open
    reporter.report({ description: 'null data', data: null });
    reporter.report({ description: 'undefined data', data: undefined });
    expect(await reporter.flush(1000)).toBe(true);
    expect(sent).toHaveLength(3);
    for (const report of sent) {
      expect(report).not.toHaveProperty('dump');
      expect(report).not.toHaveProperty('dumpWithheld');
    }
    expect(reporter.preview({ description: 'null data', data: null })).not.toHaveProperty('dump');
  });

  it('withholds a dump that cannot fit as too-large, and marks a cut one', async () => {
    const { reporter, sent, diagnostics, open } = recording({
      dumpConsent: true,
      dumpLimits: { maxBytes: 300 },
    });
    const cut = reporter.report({
      data: { rows: Array.from({ length: 100 }, (_, i) => `row ${i}`) },
    });
    expect(await reporter.flush(1000)).toBe(true);
    const c = sent.find((r) => r.id === cut)!;
    expect(JSON.stringify(open(c))).toContain('more items');
    expect(diagnostics).toContainEqual(
      expect.objectContaining({ code: 'dump_truncated', reportId: cut }),
    );

    const tiny = recording({ dumpConsent: true, dumpLimits: { maxBytes: 10 } });
    const id = tiny.reporter.report({ data: { a: 'long enough to never fit in ten bytes' } });
    expect(await tiny.reporter.flush(1000)).toBe(true);
    expect(tiny.sent[0]).toMatchObject({ id, dumpWithheld: 'too-large' });
    expect(tiny.sent[0].dump).toBeUndefined();
  });
});

describe('preview', () => {
  it('is exactly what would be sent, the dump in clear, and stores nothing', async () => {
    const queueDir = tempDir();
    const { reporter, sent, open } = recording({ queueDir, dumpConsent: true, username: 'ann' });
    const input = {
      number: 91,
      description: 'Object variable not set',
      module: 'modClients',
      procedure: 'LoadClient',
      line: 120,
      code: 'Set rs = Nothing',
      data: { client: 'Smith', pin: '1234' },
    };
    const before = readAllFiles(queueDir);
    const p = reporter.preview(input)!;
    const { dump, ...withoutDump } = p;
    expect(validateReport(withoutDump).ok).toBe(true);
    expect(dump).toEqual({ client: 'Smith', pin: '[redacted]' });
    expect(p).toMatchObject({
      schema: 1,
      app: { name: 'JCS', version: '5.2.1.345' },
      license: 'JCS-000123',
      username: 'ann',
      error: {
        number: 91,
        description: 'Object variable not set',
        line: 120,
        code: 'Set rs = Nothing',
      },
    });
    expect(readAllFiles(queueDir)).toEqual(before);

    const id = reporter.report(input);
    expect(await reporter.flush(1000)).toBe(true);
    expect(sent).toHaveLength(1);
    const { id: _a, occurredAt: _b, dump: _c, ...wire } = sent[0];
    const { id: _d, occurredAt: _e, ...previewed } = withoutDump;
    expect(wire).toEqual(previewed);
    expect(sent[0].id).toBe(id);
    // the dump sealed is the one shown
    expect(open(sent[0])).toEqual(dump);
  });

  it('follows consent, and can show what consenting would send', () => {
    const { reporter } = recording({ dumpConsent: false });
    const input = { description: 'x', data: { a: 1 } };
    const off = reporter.preview(input)!;
    expect(off.dumpWithheld).toBe('user-opt-out');
    expect(off.dump).toBeUndefined();
    const on = reporter.preview(input, { dumpConsent: true })!;
    expect(on.dump).toEqual({ a: 1 });
    expect(on).not.toHaveProperty('dumpWithheld');
    // the override does not change the choice itself
    expect(reporter.preview(input)!.dumpWithheld).toBe('user-opt-out');
  });

  it('replaces card and NI numbers in the description and the line of code too, unless turned off', async () => {
    const input = {
      number: 5,
      description: `card 4111 1111 1111 1111 of QQ 12 34 56 C declined ${'x'.repeat(4090)}`,
      module: 'modPay',
      procedure: 'Charge',
      code: 'pay "4111111111111111", "QQ123456C"',
    };
    const { reporter, sent } = recording();
    reporter.report(input);
    await reporter.flush(1000);
    const { error } = sent[0];
    expect(error.description).toMatch(
      /^card \[redacted card number\] of \[redacted NI number\] declined x+\[…truncated\]$/,
    );
    expect([...error.description].length).toBe(4096);
    expect(error.code).toBe('pay "[redacted card number]", "[redacted NI number]"');
    expect(validateReport(sent[0]).ok).toBe(true);
    // the preview shows what would go
    expect(reporter.preview(input)!.error.code).toBe(error.code);

    const off = recording({ redactCardNumbers: false, redactNiNumbers: false });
    off.reporter.report(input);
    await off.reporter.flush(1000);
    expect(off.sent[0].error.code).toBe(input.code);
  });

  it("says so when preview's dumpConsent is not true or false, and uses the reporter's own", () => {
    const { reporter, diagnostics } = recording({ dumpConsent: false });
    const p = reporter.preview({ description: 'x', data: { a: 1 } }, {
      dumpConsent: 'yes',
    } as never)!;
    expect(p.dumpWithheld).toBe('user-opt-out');
    expect(diagnostics).toEqual([
      expect.objectContaining({
        code: 'invalid_input',
        message: expect.stringMatching(
          /dumpConsent takes true or false, not a value of type string/,
        ),
      }),
    ]);
  });

  it('applies beforeSend, answering null when it drops the report', () => {
    const { reporter } = recording({
      beforeSend: (r) => (r.error.module === 'drop' ? null : { ...r, license: 'EDITED' }),
    });
    expect(reporter.preview({ module: 'keep' })!.license).toBe('EDITED');
    expect(reporter.preview({ module: 'drop' })).toBeNull();
  });
});
