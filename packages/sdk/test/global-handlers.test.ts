import { createReporter } from '../src';
import { installProcessHandlers, unhandledRejectionsMode } from '../src/global-handlers';

describe('unhandledRejectionsMode', () => {
  it('reads the flag from execArgv or NODE_OPTIONS, the last one winning', () => {
    expect(unhandledRejectionsMode([], '', undefined)).toBe('throw');
    expect(unhandledRejectionsMode(['--unhandled-rejections=warn'], '', undefined)).toBe('warn');
    expect(unhandledRejectionsMode(['--unhandled-rejections', 'strict'], '', undefined)).toBe(
      'strict',
    );
    expect(
      unhandledRejectionsMode(
        [],
        '--max-old-space-size=100 --unhandled-rejections=none',
        undefined,
      ),
    ).toBe('none');
    expect(unhandledRejectionsMode(['--unhandled-rejections=bogus'], '', undefined)).toBe('throw');
  });

  it("takes Electron's default, warn, when no flag is given", () => {
    expect(unhandledRejectionsMode([], '', '30.0.0')).toBe('warn');
    expect(unhandledRejectionsMode(['--unhandled-rejections=strict'], '', '30.0.0')).toBe('strict');
  });
});

describe('installProcessHandlers', () => {
  const counts = () => ({
    monitor: process.listenerCount('uncaughtExceptionMonitor'),
    rejection: process.listenerCount('unhandledRejection'),
    uncaught: process.listenerCount('uncaughtException'),
  });

  it('adds no uncaughtException listener, and removes everything it added', () => {
    const before = counts();
    const uninstall = installProcessHandlers(() => undefined);
    expect(counts().monitor).toBe(before.monitor + 1);
    expect(counts().uncaught).toBe(before.uncaught);
    uninstall();
    expect(counts()).toEqual(before);
  });

  it('joins a host unhandledRejection listener in throw mode, and leaves with it', () => {
    const seen: unknown[] = [];
    const base = process.listenerCount('unhandledRejection');
    const uninstall = installProcessHandlers((e) => seen.push(e));
    const hostListener = () => undefined;
    process.on('unhandledRejection', hostListener);
    // ours joined: with a host listener present the rejection no longer reaches the monitor
    expect(process.listenerCount('unhandledRejection')).toBe(base + 2);
    process.removeListener('unhandledRejection', hostListener);
    expect(process.listenerCount('unhandledRejection')).toBe(base);
    uninstall();
  });

  it('is installed once per reporter and removed by close()', async () => {
    const before = counts();
    const r = createReporter({
      endpoint: 'https://errors.example/',
      token: 't',
      publicKey: Buffer.alloc(32, 3).toString('base64'),
      keyId: 'k1',
      app: { name: 'JCS', version: '1' },
      license: 'L',
    });
    r.installGlobalHandlers();
    r.installGlobalHandlers();
    expect(counts().monitor).toBe(before.monitor + 1);
    await r.close(0);
    expect(counts()).toEqual(before);
  });
});
