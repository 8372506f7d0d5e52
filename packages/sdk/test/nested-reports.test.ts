import type { Diagnostic, Reporter } from '../src';
import type { Report } from '@jcs/protocol';
import { errorInput, serverPerTest } from './helpers/harness';

/**
 * Reports made from inside the SDK's own callbacks: one level is kept like any other report; the
 * next level would let callbacks call each other without end, so it is dropped, but aloud (a
 * diagnostic naming the id its caller was given, and flush() answering false), never silently.
 */
const h = serverPerTest();

describe('a report made inside a callback of a report made inside a callback', () => {
  it('is dropped with nested_report_dropped under the id it answered, and flush() says so', async () => {
    const diagnostics: Diagnostic[] = [];
    const ids: string[] = [];
    // A username getter that reports its own failure: each report's username reports again.
    const session = {
      get user(): string {
        const e = new Error('session expired for asmith');
        ids.push(r.captureException(e));
        throw e;
      },
    };
    const r: Reporter = h.reporter(diagnostics, { username: () => session.user });
    ids.push(r.report({ number: 1, module: 'm', procedure: 'p' }));
    // innermost first: the one two levels deep, then the one inside the username, then the host's
    expect(ids).toHaveLength(3);
    const [deepest, nested, outer] = ids;
    expect(await r.flush(2000)).toBe(false);
    expect([...h.server.stored.keys()].sort()).toEqual([nested, outer].sort());
    const dropped = diagnostics.filter((d) => d.code === 'nested_report_dropped');
    expect(dropped).toEqual([expect.objectContaining({ reportId: deepest })]);
    // The nested report's own diagnostics reach the host too (one level is not re-entry of
    // onDiagnostic), and no message repeats what the host's error said.
    expect(diagnostics.filter((d) => d.code === 'username_failed').map((d) => d.reportId)).toEqual([
      nested,
      outer,
    ]);
    expect(JSON.stringify(diagnostics)).not.toMatch(/session expired|asmith/);
    // Answered for once: the next flush with nothing lost since is true again.
    expect(await r.flush(2000)).toBe(true);
  });

  it('from a getter in data: the message names getters, not only the callbacks', async () => {
    const diagnostics: Diagnostic[] = [];
    const ids: string[] = [];
    // A dump value whose getter reports: reading the dump of that report reports again.
    const data = {
      get balance(): number {
        ids.push(r.report({ number: 2, module: 'm', procedure: 'p', data }));
        return 1;
      },
    };
    const r: Reporter = h.reporter(diagnostics, { dumpConsent: true });
    ids.push(r.report({ number: 1, module: 'm', procedure: 'p', data }));
    const [deepest, nested, outer] = ids;
    expect(await r.flush(2000)).toBe(false);
    expect([...h.server.stored.keys()].sort()).toEqual([nested, outer].sort());
    const dropped = diagnostics.filter((d) => d.code === 'nested_report_dropped');
    expect(dropped).toEqual([expect.objectContaining({ reportId: deepest })]);
    expect(dropped[0].message).toMatch(/a getter or toJSON in a report's input or data/);
  });

  it('from beforeSend inside a report made from beforeSend: never sent past beforeSend', async () => {
    const diagnostics: Diagnostic[] = [];
    const ids: string[] = [];
    const scrubbed: string[] = [];
    const r: Reporter = h.reporter(diagnostics, {
      beforeSend: (report: Report) => {
        ids.push(r.report(errorInput(`nested ${ids.length}`)));
        scrubbed.push(report.id);
        return { ...report, username: 'scrubbed' };
      },
    });
    ids.push(r.report(errorInput('outer')));
    const [deepest, nested, outer] = ids;
    expect(await r.close(2000)).toBe(false);
    expect([...h.server.stored.keys()].sort()).toEqual([nested, outer].sort());
    // Every report that went out went through the hook; the dropped one never left the SDK.
    for (const report of h.server.stored.values()) expect(report.username).toBe('scrubbed');
    expect(scrubbed).not.toContain(deepest);
    expect(diagnostics.map((d) => [d.code, d.reportId])).toEqual([
      ['nested_report_dropped', deepest],
    ]);
  });

  it('inside onDiagnostic: the host cannot be told (that would loop), but flush() still answers false', async () => {
    const told: Diagnostic[] = [];
    const ids: string[] = [];
    const r: Reporter = h.reporter([], {
      // a logger that reports what it is told, with a username that reports its own failure
      onDiagnostic: (d: Diagnostic) => {
        told.push(d);
        if (d.code === 'invalid_input') ids.push(r.report(errorInput('from the logger')));
      },
      username: () => {
        if (ids.length > 0) return 'asmith';
        ids.push(r.captureException(new Error('no session')));
        return 'asmith';
      },
    });
    ids.push(r.report({ number: 'x' as never, module: 'm', procedure: 'p' }));
    expect(await r.flush(2000)).toBe(false);
    // The logger's report and the host's went; the one made inside the logger's report did not.
    expect(h.server.stored.size).toBe(2);
    expect(told.map((d) => d.code)).toEqual(['invalid_input']);
  });
});
