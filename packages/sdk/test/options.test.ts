import { createReporter, type ReporterOptions } from '../src';
import { isLoopbackHost } from '@jcs/protocol';
import path from 'node:path';
import { resolveOptions } from '../src/options';
import { queueDirProblem } from '../src/queue-dir-name';

const valid: ReporterOptions = {
  endpoint: 'https://errors.example/',
  token: 'tok',
  publicKey: Buffer.alloc(32, 7).toString('base64'),
  keyId: 'k1',
  app: { name: 'JCS', version: '5.2.1.345' },
  license: 'JCS-000123',
};

function attempt(overrides: Record<string, unknown>) {
  return () => createReporter({ ...valid, ...overrides } as ReporterOptions);
}

describe('createReporter options', () => {
  it('accepts a valid configuration', async () => {
    const r = createReporter(valid);
    await r.close(0);
  });

  it('takes an optional option set to null, as a configuration read from JSON has it, as not given', async () => {
    const r = createReporter({
      ...valid,
      username: null,
      dumpConsent: null,
      queueDir: null,
      beforeSend: null,
      onDiagnostic: null,
      redactKeys: null,
      dumpLimits: null,
      retry: null,
      floodControl: null,
      requestTimeoutMs: null,
      enabled: null,
    } as unknown as ReporterOptions);
    const sent = r.preview({ number: 5, description: 'd', module: 'M', procedure: 'P', data: 1 });
    expect(sent).not.toHaveProperty('username');
    // dumpConsent left unset is no consent
    expect(sent).toMatchObject({ dumpWithheld: 'user-opt-out' });
    await r.close(0);
    // options read as fields are, a prototype's and getters included
    const defaults = { ...valid, app: { name: 'JCS', version: '5.2' } };
    const inherited = createReporter(
      Object.create(defaults, {
        license: { get: () => 'JCS-9', enumerable: false },
      }) as ReporterOptions,
    );
    expect(
      inherited.preview({ number: 1, description: 'd', module: 'M', procedure: 'P' }),
    ).toMatchObject({
      license: 'JCS-9',
      app: { version: '5.2' },
    });
    await inherited.close(0);
    // a required one set to null is missing, and a null proxy is ambiguous
    expect(attempt({ license: null })).toThrow(/license is required/);
    expect(attempt({ token: null })).toThrow(/token must be/);
    expect(attempt({ proxy: null })).toThrow(/or false for none \(left out, the environment/);
  });

  it.each([
    ['a missing endpoint', { endpoint: undefined }, /endpoint/],
    ['a bad URL', { endpoint: 'not a url' }, /endpoint is not a valid URL/],
    [
      'an ftp URL',
      { endpoint: 'ftp://errors.example/' },
      /must be an https:\/\/ URL, not ftp:\/\//,
    ],
    [
      'plain http to a remote host',
      { endpoint: 'http://errors.example/' },
      /http:\/\/ is allowed only/,
    ],
    ['a public key of 31 bytes', { publicKey: Buffer.alloc(31).toString('base64') }, /32 bytes/],
    ['a public key that is not base64', { publicKey: 'not base64!!' }, /32 bytes/],
    ['a missing licence', { license: undefined }, /license is required/],
    ['an empty licence', { license: '' }, /license is required/],
    ['a licence over 64 characters', { license: 'x'.repeat(65) }, /license must be 1 to 64/],
    // Sent in every report, and refused by the collector: every report would be lost.
    [
      'a licence with a lone surrogate',
      { license: 'JCS-1\ud800' },
      /license must be valid Unicode/,
    ],
    [
      'an app name with a lone surrogate',
      { app: { name: 'JCS\udc00', version: '5.2' } },
      /app.name must be valid Unicode/,
    ],
    ['a key id with a lone surrogate', { keyId: 'k\ud800' }, /keyId must be valid Unicode/],
    ['a missing token', { token: '' }, /token/],
    ['a token with a newline', { token: 'a\nb' }, /token/],
    ['a bad version', { app: { name: 'JCS', version: '5.2-beta' } }, /dotted numbers/],
    ['an unknown option', { queuedir: '/tmp/x' }, /unknown option "queuedir"/],
    // Inside an option's object too: a misspelt field would be ignored unseen.
    [
      'an unknown app field',
      { app: { name: 'JCS', version: '5.2', build: 7 } },
      /unknown option "app.build" \(app takes name, version\)/,
    ],
    ['a misspelt retry field', { retry: { minDelay: 100 } }, /unknown option "retry.minDelay"/],
    [
      'a misspelt flood control field',
      { floodControl: { maxPerGroups: 1 } },
      /unknown option "floodControl.maxPerGroups"/,
    ],
    [
      'a misspelt dump limit',
      { dumpLimits: { maxbytes: 1 } },
      /unknown option "dumpLimits.maxbytes"/,
    ],
    ['a non-boolean consent', { dumpConsent: 'yes' }, /dumpConsent/],
    ['a zero queue bound', { maxQueueReports: 0 }, /maxQueueReports/],
    ['a dump limit over 256 KiB', { dumpLimits: { maxBytes: 300 * 1024 } }, /at most 262144/],
    ['a non-function beforeSend', { beforeSend: 'x' }, /beforeSend must be a function/],
    [
      'a queue key of 16 bytes',
      { queueKey: Buffer.alloc(16, 1).toString('base64') },
      /queueKey must be base64 of 32 bytes/,
    ],
    ['a queue key that is not base64', { queueKey: 'not base64!!' }, /queueKey must be base64/],
    ['a queue key that is not a string', { queueKey: Buffer.alloc(32) }, /queueKey must be base64/],
  ])('refuses %s with a TypeError', (_name, overrides, message) => {
    expect(attempt(overrides)).toThrow(TypeError);
    expect(attempt(overrides)).toThrow(message);
  });

  it('refuses an endpoint holding user:password, without echoing the password', () => {
    for (const endpoint of [
      'http://user:s3cret-pw@127.0.0.1:8080/',
      'https://user:s3cret-pw@errors.example/',
      'https://justuser@errors.example/',
    ]) {
      let thrown: unknown;
      try {
        createReporter({ ...valid, endpoint });
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as Error).message).toMatch(/must not hold a user name or password/);
      expect((thrown as Error).message).not.toContain('s3cret-pw');
    }
  });

  it.each([-1, 2001, 1.5, '100'])('refuses exitGraceMs %p with a TypeError', (exitGraceMs) => {
    expect(attempt({ exitGraceMs })).toThrow(/exitGraceMs must be a whole number/);
  });

  it('allows http:// to loopback hosts, and elsewhere only with allowInsecureTransport', async () => {
    for (const endpoint of [
      'http://127.0.0.1:8080/',
      'http://localhost:9/',
      'http://[::1]:8080/',
      'http://127.1.2.3/',
    ]) {
      await createReporter({ ...valid, endpoint }).close(0);
    }
    await createReporter({
      ...valid,
      endpoint: 'http://errors.internal/',
      allowInsecureTransport: true,
    }).close(0);
  });

  it('knows what loopback is', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('LOCALHOST')).toBe(true);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
    expect(isLoopbackHost('localhost.evil.example')).toBe(false);
    expect(isLoopbackHost('evil.localhost')).toBe(false);
    // As `serve --host` takes them: no brackets.
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    expect(isLoopbackHost('127.0.0.1.nip.io')).toBe(false);
    // As the URL parser leaves them: 127/8 mapped into IPv6, 127.1.
    for (const url of ['http://[::ffff:127.0.0.1]/', 'http://127.1/']) {
      expect(isLoopbackHost(new URL(url).hostname)).toBe(true);
    }
    // `localhost.` is not in /etc/hosts: it is asked of DNS, which may answer anything.
    for (const url of [
      'http://localhost.:8080/',
      'http://[::ffff:128.0.0.1]/',
      'http://localhost../',
      'http://[::2]/',
    ]) {
      expect(isLoopbackHost(new URL(url).hostname)).toBe(false);
    }
  });

  it('fixes a relative queueDir against the working directory of the moment', () => {
    expect(resolveOptions({ ...valid, queueDir: 'errors/queue' }).queueDir).toBe(
      path.resolve('errors/queue'),
    );
    expect(resolveOptions(valid).queueDir).toBeUndefined();
  });

  it('refuses a queueDir holding a control character: a Windows path written into JSON with single backslashes', () => {
    expect(() => resolveOptions({ ...valid, queueDir: 'D:\\reports\new' })).toThrow(
      /createReporter: queueDir holds a control character: in JSON, write each backslash of a Windows path twice/,
    );
  });

  it('with enabled: false, needs nothing and does nothing', async () => {
    // no cast: the type accepts options of a reporter turned off without the required fields
    const r = createReporter({ enabled: false });
    expect(r.report({ description: 'x' })).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.preview({})).toBeNull();
    await expect(r.flush(10)).resolves.toBe(true);
    expect(() => createReporter({ enabled: 'no' } as unknown as ReporterOptions)).toThrow(
      TypeError,
    );
  });
});

describe('queueDir names', () => {
  it.each([
    ['C:\\Users\\ann\\AppData\\Local\\JCS\\queue', undefined],
    ['\\\\server\\share\\JCS\\queue', undefined],
    ['\\\\?\\C:\\JCS\\queue', undefined],
    ['C:/JCS/queue/', undefined],
    ['..\\queue', undefined],
    ['C:\\JCS\\queue ', /ending in a space or a dot/],
    ['C:\\JCS.\\queue', /ending in a space or a dot/],
    ['C:\\JCS\\que|ue', /does not take/],
    ['C:\\JCS\\a:b', /does not take/],
    ['D:\\reports\new', /control character/],
  ])('on Windows, %j', (dir, problem) => {
    const found = queueDirProblem(dir, 'win32');
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toMatch(problem);
  });

  it('elsewhere, only control characters: a trailing space or a colon is a name Linux keeps', () => {
    expect(queueDirProblem('/var/lib/jcs/queue ', 'linux')).toBeUndefined();
    expect(queueDirProblem('/var/lib/jcs/a:b', 'linux')).toBeUndefined();
    expect(queueDirProblem('/var/lib/jcs/q\tx', 'linux')).toMatch(/control character/);
  });
});
