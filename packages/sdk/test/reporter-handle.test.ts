import { createReporter } from '../src';
import { optionsFor, pendingFiles, tempDir } from './helpers/fixtures';
import { errorInput, serverPerTest } from './helpers/harness';

/** The reporter as a host holds it: methods passed on their own, odd timeouts, a hasty close. */
const h = serverPerTest();

describe('the reporter handle', () => {
  it('works with its methods detached from it (passed as callbacks)', async () => {
    const r = h.reporter([], { dumpConsent: true });
    const { report, captureException, preview, setDumpConsent, installGlobalHandlers, flush } = r;
    const a = report(errorInput('detached report'));
    const b = await Promise.reject(new Error('detached capture')).catch(captureException);
    expect(preview(errorInput('p', { x: 1 }))?.dump).toEqual({ x: 1 });
    setDumpConsent(false);
    expect(preview(errorInput('p', { x: 1 }))?.dump).toBeUndefined();
    installGlobalHandlers();
    expect(await flush(2000)).toBe(true);
    expect([...h.server.stored.keys()].sort()).toEqual([a, b].sort());
    const { close } = r;
    expect(await close(2000)).toBe(true);
  });

  it('waits as long as asked with a timeout past what a timer holds (Infinity)', async () => {
    const r = h.reporter();
    h.server.script({ status: 503, headers: { 'Retry-After': '1' } });
    const id = r.report(errorInput());
    const started = Date.now();
    // Node fires a timer of 2^31 ms or more after 1 ms: flush gave up at once.
    expect(await r.flush(Infinity)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect([...h.server.stored.keys()]).toEqual([id]);
  });

  it('close() resolves with an aborted report back in the queue, for the next reporter on it', async () => {
    const queueDir = tempDir();
    h.server.always('hang');
    const first = createReporter(optionsFor(h.server, [], { queueDir }));
    const id = first.report(errorInput());
    await h.server.waitFor(() => h.server.received.length === 1);
    expect(await first.close(50)).toBe(false);
    // Back among the pending reports at once, not claimed by this (live) process.
    expect(pendingFiles(queueDir)).toHaveLength(1);
    h.server.always('default');
    const second = h.reporter([], { queueDir });
    expect(await second.flush(2000)).toBe(true);
    expect([...h.server.stored.keys()]).toEqual([id]);
  });
});
