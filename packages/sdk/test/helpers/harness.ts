import { createReporter, type Diagnostic, type Reporter } from '../../src';
import { cleanupTempDirs, optionsFor } from './fixtures';
import { startTestServer, type TestServer } from './test-server';

/**
 * A fresh test collector for every test of the file, and reporters on it that are closed after
 * each test. Call at the top of a test file.
 *
 * @example
 * const h = serverPerTest();
 * it('...', async () => { const r = h.reporter([], { queueDir }); ... h.server.stored ... });
 */
export function serverPerTest(): {
  readonly server: TestServer;
  reporter(diagnostics?: Diagnostic[], overrides?: Record<string, unknown>): Reporter;
} {
  let server: TestServer | undefined;
  const open: Reporter[] = [];
  beforeEach(async () => {
    server = await startTestServer();
  });
  afterEach(async () => {
    for (const r of open.splice(0)) await r.close(0);
    await server?.close();
  });
  afterAll(cleanupTempDirs);
  return {
    get server() {
      if (!server) throw new Error('the test server starts in beforeEach');
      return server;
    },
    reporter(diagnostics = [], overrides = {}) {
      const r = createReporter(optionsFor(this.server, diagnostics, overrides));
      open.push(r);
      return r;
    },
  };
}

/** The error most tests report: one group, with an optional description and data. */
export function errorInput(description = 'Object variable not set', data?: unknown) {
  return {
    number: 91,
    description,
    module: 'modClients',
    procedure: 'LoadClient',
    line: 120,
    ...(data === undefined ? {} : { data }),
  };
}
