import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createReporter } from '../src';
import { installProcessHandlers, unhandledRejectionsMode } from '../src/global-handlers';

/** A reporter that never gets to send: these tests only count process listeners. */
const OPTIONS = {
  endpoint: 'https://errors.example/',
  token: 't',
  publicKey: Buffer.alloc(32, 3).toString('base64'),
  keyId: 'k1',
  app: { name: 'JCS', version: '1' },
  license: 'L',
};

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

  it('lets the command line win over NODE_OPTIONS, as Node does', () => {
    expect(
      unhandledRejectionsMode(
        ['--unhandled-rejections=throw'],
        '--unhandled-rejections=warn',
        undefined,
      ),
    ).toBe('throw');
    expect(
      unhandledRejectionsMode(
        ['--unhandled-rejections=warn-with-error-code'],
        '--unhandled-rejections=throw',
        undefined,
      ),
    ).toBe('warn-with-error-code');
  });

  it("takes Electron's default, warn, when no flag is given; run as Node, Node's", () => {
    expect(unhandledRejectionsMode([], '', '30.0.0', undefined)).toBe('warn');
    expect(unhandledRejectionsMode(['--unhandled-rejections=strict'], '', '30.0.0')).toBe('strict');
    expect(unhandledRejectionsMode([], '', '30.0.0', '1')).toBe('throw');
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
    const r = createReporter(OPTIONS);
    r.installGlobalHandlers();
    r.installGlobalHandlers();
    expect(counts().monitor).toBe(before.monitor + 1);
    await r.close(0);
    expect(counts()).toEqual(before);
  });

  it('tells the host, once, when a crash report could not outlive the process (no queueDir)', async () => {
    const seen: { code: string; message: string }[] = [];
    const inMemory = createReporter({ ...OPTIONS, onDiagnostic: (d) => seen.push(d) });
    inMemory.installGlobalHandlers();
    inMemory.installGlobalHandlers();
    expect(seen).toEqual([
      expect.objectContaining({
        code: 'queue_unavailable',
        message: expect.stringMatching(/queueDir/),
      }),
    ]);
    await inMemory.close(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-handlers-'));
    const onDisk = createReporter({ ...OPTIONS, queueDir: dir, onDiagnostic: (d) => seen.push(d) });
    onDisk.installGlobalHandlers();
    expect(seen).toHaveLength(1);
    await onDisk.close(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shares one set of process listeners among any number of reporters: no warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const before = {
      ...counts(),
      newListener: process.listenerCount('newListener'),
      removeListener: process.listenerCount('removeListener'),
    };
    const reporters = Array.from({ length: 12 }, () => createReporter(OPTIONS));
    for (const r of reporters) r.installGlobalHandlers();
    expect(process.listenerCount('uncaughtExceptionMonitor')).toBe(before.monitor + 1);
    expect(process.listenerCount('newListener')).toBe(before.newListener + 1);
    expect(process.listenerCount('removeListener')).toBe(before.removeListener + 1);
    // close() takes one reporter out; the listeners stay for the others, and go with the last
    for (const r of reporters.slice(1)) await r.close(0);
    expect(process.listenerCount('uncaughtExceptionMonitor')).toBe(before.monitor + 1);
    await reporters[0].close(0);
    expect(counts()).toEqual({
      monitor: before.monitor,
      rejection: before.rejection,
      uncaught: before.uncaught,
    });
    expect(process.listenerCount('newListener')).toBe(before.newListener);
    await new Promise((r) => setImmediate(r));
    process.removeListener('warning', onWarning);
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });

  it('hands a fatal error to every installed handler, and none after it was removed', () => {
    const seen: string[] = [];
    // What Node does on a fatal error (the typings do not list this event for emit).
    const emit = process.emit.bind(process) as (event: string, ...args: unknown[]) => boolean;
    const offA = installProcessHandlers(() => seen.push('a'));
    const offB = installProcessHandlers(() => seen.push('b'));
    emit('uncaughtExceptionMonitor', new Error('x'), 'uncaughtException');
    offA();
    emit('uncaughtExceptionMonitor', new Error('y'), 'uncaughtException');
    offB();
    emit('uncaughtExceptionMonitor', new Error('z'), 'uncaughtException');
    expect(seen).toEqual(['a', 'b', 'b']);
  });
});
