import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Report } from '@jcs/protocol';
import { createReporter, createTransport, type Diagnostic, type ReporterOptions } from '../src';

function recording(overrides: Partial<ReporterOptions> = {}) {
  const sent: Report[] = [];
  const diagnostics: Diagnostic[] = [];
  const reporter = createReporter({
    endpoint: 'https://errors.example/',
    token: 't',
    publicKey: Buffer.alloc(32, 1).toString('base64'),
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
  const sentReports = async () => {
    expect(await reporter.flush(1000)).toBe(true);
    return sent;
  };
  return { reporter, sentReports, diagnostics };
}

function loadClient(): never {
  throw new TypeError('client is undefined'); // the throwing line
}

describe('captureException', () => {
  it('takes module, procedure, line and the source line from the first host frame', async () => {
    const { reporter, sentReports } = recording();
    let caught: unknown;
    try {
      loadClient();
    } catch (e) {
      caught = e;
    }
    const id = reporter.captureException(caught);
    const [r] = await sentReports();
    expect(r.id).toBe(id);
    expect(r.error).toMatchObject({
      number: 0,
      description: 'client is undefined',
      module: 'capture.test',
      procedure: 'loadClient',
      code: "throw new TypeError('client is undefined'); // the throwing line",
    });
    expect(r.error.line).toBeGreaterThan(0);
  });

  it('names a function the same whether called directly, by a timer, an immediate or an emitter', async () => {
    const { reporter, sentReports } = recording();
    // Caught where thrown, so the frame is this function's however it was called: V8 names it
    // `Timeout.saveClient [as _onTimeout]` when a timer runs it, `EventEmitter.saveClient` ...
    function saveClient(done: (e: unknown) => void): void {
      try {
        throw new TypeError('disk full');
      } catch (e) {
        done(e);
      }
    }
    const thrown: unknown[] = [];
    saveClient((e) => thrown.push(e));
    await new Promise<void>((resolve) =>
      setTimeout(saveClient, 1, (e: unknown) => resolve(void thrown.push(e))),
    );
    await new Promise<void>((resolve) =>
      setImmediate(saveClient, (e: unknown) => resolve(void thrown.push(e))),
    );
    const emitter = new EventEmitter();
    emitter.on('save', saveClient);
    emitter.emit('save', (e: unknown) => thrown.push(e));
    expect((thrown[1] as Error).stack).toContain('Timeout.saveClient');
    for (const e of thrown) reporter.captureException(e);
    const sent = await sentReports();
    expect(sent.map((r) => r.error.procedure)).toEqual([
      'saveClient',
      'saveClient',
      'saveClient',
      'saveClient',
    ]);
  });

  it('keeps a class of the host in the procedure: Invoices.print', async () => {
    const { reporter, sentReports } = recording();
    class Invoices {
      print(): never {
        throw new Error('printer offline');
      }
    }
    try {
      new Invoices().print();
    } catch (e) {
      reporter.captureException(e);
    }
    const [r] = await sentReports();
    expect(r.error.procedure).toBe('Invoices.print');
  });

  it('leaves the source line out when includeSourceLine is off', async () => {
    const { reporter, sentReports } = recording({ includeSourceLine: false });
    try {
      loadClient();
    } catch (e) {
      reporter.captureException(e);
    }
    const [r] = await sentReports();
    expect(r.error.code).toBeUndefined();
    expect(r.error.procedure).toBe('loadClient');
  });

  it('reads no line of a file that is not source, whatever a stack given as text names', async () => {
    // An error rebuilt from IPC or a worker carries a stack that is only text: its frame may name
    // any file, and error.code goes out without the user's dump consent.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-capture-'));
    try {
      const secret = path.join(dir, 'notes.txt');
      fs.writeFileSync(secret, 'first\nSECRET-LINE-2\n');
      const source = path.join(dir, 'invoices.js');
      fs.writeFileSync(source, 'first\ntotal = lines.reduce(sum);\n');
      const { reporter, sentReports } = recording();
      for (const file of [secret, source]) {
        const e = new Error('rebuilt');
        e.stack = `Error: rebuilt\n    at print (${file}:2:5)`;
        reporter.captureException(e);
      }
      const [fromSecret, fromSource] = await sentReports();
      expect(fromSecret.error).toMatchObject({ module: 'notes', line: 2 });
      expect(fromSecret.error.code).toBeUndefined();
      expect(fromSource.error.code).toBe('total = lines.reduce(sum);');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the number from err.number, a numeric errno or code, else 0', async () => {
    const { reporter, sentReports } = recording();
    reporter.captureException(Object.assign(new Error('vb'), { number: -2147221504 }));
    reporter.captureException(Object.assign(new Error('enoent'), { errno: -2, code: 'ENOENT' }));
    reporter.captureException(Object.assign(new Error('coded'), { code: '1205' }));
    reporter.captureException(Object.assign(new Error('named'), { code: 'E_NAMED' }));
    const sent = await sentReports();
    expect(sent.map((r) => r.error.number)).toEqual([-2147221504, -2, 1205, 0]);
  });

  it('says so when the error number had to be changed to fit (a fraction, an unsigned HRESULT)', async () => {
    const { reporter, sentReports, diagnostics } = recording();
    reporter.captureException(Object.assign(new Error('odd'), { number: 1.5 }));
    reporter.captureException(Object.assign(new Error('hresult'), { number: 0x800a01ad }));
    const sent = await sentReports();
    expect(sent.map((r) => r.error.number)).toEqual([1, 0x800a01ad - 2 ** 32]);
    const mended = diagnostics.filter((d) => d.code === 'invalid_input');
    expect(mended).toHaveLength(2);
    for (const d of mended) expect(d.message).toMatch(/number: coerced to a 32-bit integer/);
  });

  it('notes a typo in extra, and nothing for a numeric code that is the number it spells', async () => {
    const { reporter, sentReports, diagnostics } = recording();
    reporter.captureException(Object.assign(new Error('deadlock'), { code: '1205' }));
    reporter.captureException(new Error('typo'), { procedur: 'Load' } as never);
    const sent = await sentReports();
    expect(sent[0].error.number).toBe(1205);
    const mended = diagnostics.filter((d) => d.code === 'invalid_input');
    expect(mended).toHaveLength(1);
    expect(mended[0].message).toMatch(/extra: procedur: not a field; left out/);
  });

  it('lets the extra fields override, and carries the data', async () => {
    const { reporter, sentReports } = recording({ dumpConsent: true });
    reporter.captureException(new Error('x'), {
      module: 'modOverride',
      procedure: 'ProcOverride',
      line: 42,
      data: { a: 1 },
    });
    const [r] = await sentReports();
    expect(r.error).toMatchObject({ module: 'modOverride', procedure: 'ProcOverride', line: 42 });
    expect(r.error.code).toBeUndefined();
    expect(r.dump).toBeDefined();
  });

  it("keeps the stack's module, procedure and line where extra gives one that is no use, and says so", async () => {
    const { reporter, sentReports, diagnostics } = recording();
    let caught: unknown;
    try {
      loadClient();
    } catch (e) {
      caught = e;
    }
    reporter.captureException(caught, { line: 'abc', module: '  ', procedure: {} } as never);
    reporter.captureException(caught);
    const [mended, plain] = await sentReports();
    expect(mended.error).toEqual(plain.error);
    expect(plain.error.line).toBeGreaterThan(0);
    expect(diagnostics.find((d) => d.code === 'invalid_input')?.message).toMatch(
      /line: not usable; the stack's was used; module: not usable; the stack's was used; procedure: not usable/,
    );
  });

  it('takes a boxed String, Number or Boolean as its value, in extra and in report()', async () => {
    const { reporter, sentReports, diagnostics } = recording();
    reporter.captureException(new Error('x'), {
      module: new String('modBoxed'),
      line: new Number(9),
    } as never);
    reporter.report({
      number: new Number(7),
      description: new String('boxed text'),
      module: new String('modClients'),
      line: new Number(12),
      code: new Boolean(true),
    } as never);
    const [captured, reported] = await sentReports();
    expect(captured.error).toMatchObject({ module: 'modBoxed', line: 9 });
    expect(reported.error).toMatchObject({
      number: 7,
      description: 'boxed text',
      module: 'modClients',
      line: 12,
      code: 'true',
    });
    // A Proxy of a String is no box: nothing of the host's runs, and it is not text.
    const trap = jest.fn(() => 'trap');
    const { reporter: r2, sentReports: sent2 } = recording();
    r2.report({ description: new Proxy(new String('hidden'), { get: trap }) } as never);
    expect((await sent2())[0].error.description).toBe('');
    expect(trap).not.toHaveBeenCalled();
    expect(diagnostics.filter((d) => d.code === 'invalid_input').map((d) => d.message)).toEqual([
      expect.stringMatching(/code: a boolean; sent as text/),
    ]);
  });

  it("takes the description from VB's shape of error, where there is no message", async () => {
    const { reporter, sentReports } = recording();
    reporter.captureException({ number: 91, description: 'Object variable not set' });
    reporter.captureException(
      Object.assign(new Error(''), { description: 'Subscript out of range' }),
    );
    reporter.captureException(Object.assign(new Error('the message'), { description: 'not this' }));
    const sent = await sentReports();
    expect(sent.map((r) => [r.error.number, r.error.description])).toEqual([
      [91, 'Object variable not set'],
      [0, 'Subscript out of range'],
      [0, 'the message'],
    ]);
  });

  it('report() of an Error reads it as captureException does: its place from its stack', async () => {
    const { reporter, sentReports, diagnostics } = recording();
    let caught: unknown;
    try {
      loadClient();
    } catch (e) {
      caught = e;
    }
    const viaReport = reporter.report(caught as never);
    reporter.captureException(caught);
    const [r, c] = await sentReports();
    expect(r.id).toBe(viaReport);
    expect(r.error).toEqual(c.error);
    expect(r.error).toMatchObject({
      description: 'client is undefined',
      module: 'capture.test',
      procedure: 'loadClient',
      code: "throw new TypeError('client is undefined'); // the throwing line",
    });
    // nothing was mended: an Error is a proper input to report()
    expect(diagnostics.filter((d) => d.code === 'invalid_input')).toEqual([]);
  });

  it("report() of a Node error takes errno as its number, never its code ('ENOENT') as the line of code", async () => {
    // ERR_ codes too, and a code given as a number is the error's number
    const { reporter: other, sentReports: otherSent } = recording();
    other.report(Object.assign(new TypeError('bad'), { code: 'ERR_INVALID_ARG_TYPE' }) as never);
    other.report(Object.assign(new Error('deadlock'), { code: 1205 }) as never);
    const [typeError, deadlock] = await otherSent();
    expect(typeError.error.code).toContain("new TypeError('bad')");
    expect(deadlock.error).toMatchObject({ number: 1205, description: 'deadlock' });

    const { reporter, sentReports } = recording();
    let caught: unknown;
    try {
      fs.readFileSync(path.join(os.tmpdir(), 'jcs-no-such-file', 'x')); // the failing read
    } catch (e) {
      caught = e;
    }
    expect((caught as NodeJS.ErrnoException).code).toBe('ENOENT');
    reporter.report(caught as never);
    const [r] = await sentReports();
    expect(r.error.number).toBe((caught as NodeJS.ErrnoException).errno);
    expect(r.error.number).not.toBe(0);
    expect(r.error.module).toBe('capture.test');
    expect(r.error.code).toContain('// the failing read');
  });

  it('report() of an Error keeps the report fields it carries: a VB-style description, a module, its data', async () => {
    const publicKey = Buffer.alloc(32, 1).toString('base64');
    const { reporter, sentReports } = recording({ publicKey, dumpConsent: true });
    const err = Object.assign(new Error('the message'), {
      description: 'Subscript out of range',
      module: 'modClients',
      number: 9,
      code: 'x = a(i)',
      data: { clientId: 42 },
    });
    const preview = reporter.preview(err as never)!;
    reporter.report(err as never);
    const [r] = await sentReports();
    expect(r.error).toMatchObject({
      number: 9,
      description: 'Subscript out of range',
      module: 'modClients',
    });
    // a code that reads as a line of code is one (a Node error's ENOENT is not: above)
    expect(r.error.code).toBe('x = a(i)');
    expect(r.dump).toBeDefined();
    expect(preview.dump).toEqual({ clientId: 42 });
    expect({ ...preview, id: r.id, occurredAt: r.occurredAt, dump: r.dump }).toEqual(r);
  });

  it('places a thrown non-Error where it was caught', async () => {
    const { reporter, sentReports } = recording();
    reporter.captureException('plain string thrown');
    reporter.captureException(42);
    reporter.captureException(null);
    const sent = await sentReports();
    expect(sent.map((r) => r.error.description)).toEqual(['plain string thrown', '42', 'null']);
    for (const r of sent) expect(r.error.module).toBe('capture.test');
  });

  it('returns an id and sends a valid report for hostile thrown values', async () => {
    const { reporter, sentReports } = recording();
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
        getPrototypeOf() {
          throw new Error('trap');
        },
      },
    );
    const noString = Object.create(null);
    expect(reporter.captureException(hostile)).toMatch(/^[0-9a-f-]{36}$/);
    expect(reporter.captureException(noString)).toMatch(/^[0-9a-f-]{36}$/);
    expect(reporter.captureException(new Error('x'), 'not an object' as never)).toMatch(
      /^[0-9a-f-]{36}$/,
    );
    expect(await sentReports()).toHaveLength(3);
  });
});
