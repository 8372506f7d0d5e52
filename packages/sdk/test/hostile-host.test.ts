import fs from 'node:fs';
import path from 'node:path';
import type { ReporterOptions } from '../src';
import { cleanupTempDirs, pendingFiles, tempDir } from './helpers/fixtures';
import { hostOptionsFor, requireBuiltSdk, runHost } from './helpers/host';
import { startTestServer, type TestServer } from './helpers/test-server';

/**
 * Hosts that have done something to the JavaScript world the SDK runs in: a polluted
 * Object.prototype, a setTimeout replaced with one that throws. The SDK must neither lose their
 * reports nor crash them. Real host processes on the built SDK, a real HTTP server as the collector.
 */
jest.setTimeout(30_000);

let server: TestServer;

beforeAll(async () => {
  requireBuiltSdk();
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
  cleanupTempDirs();
});

const hostOptions = (overrides: Partial<ReporterOptions> = {}) => hostOptionsFor(server, overrides);

/** What the host said, its diagnostics aside. */
const said = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter((line) => !line.startsWith('diagnostic '));
/** The codes of the diagnostics the host printed. */
const diagnostics = (stdout: string) =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('diagnostic '))
    .map((line) => line.slice('diagnostic '.length));

describe('a host whose Object.prototype was polluted (a vulnerable deep merge)', () => {
  it.each([
    ['with a queue dir (read back from disk)', true, 'false'],
    ['in memory', false, 'false'],
    // a truthy value broke ajv's compiling even without strict mode
    ['with a queue dir, the value true', true, 'true'],
    ['in memory, the value an object', false, '{"x":1}'],
  ])('delivers its report %s, and prints nothing', async (_name, onDisk, value) => {
    const queueDir = onDisk ? tempDir() : undefined;
    const run = await runHost('report-and-flush', hostOptions({ queueDir }), {
      env: { JCS_TEST_POLLUTE: '1', JCS_TEST_POLLUTE_VALUE: value },
    });
    const [id, flushed] = said(run.stdout);
    expect({ flushed, stderr: run.stderr, code: run.code }).toEqual({
      flushed: 'true',
      stderr: '',
      code: 0,
    });
    expect(server.stored.get(id)?.error.description).toBe('report and flush');
    // nor was it set aside as corrupt
    if (queueDir) {
      expect(pendingFiles(queueDir)).toEqual([]);
      const corrupt = path.join(queueDir, 'corrupt');
      expect(fs.existsSync(corrupt) ? fs.readdirSync(corrupt) : []).toEqual([]);
    }
  });

  it("still drops a beforeSend's report that is not schema 1, never sending it unchecked", async () => {
    const run = await runHost('report-and-flush', hostOptions({ queueDir: tempDir() }), {
      env: { JCS_TEST_POLLUTE: '1', JCS_TEST_BEFORE_SEND_ADDS: '1' },
    });
    const [id] = said(run.stdout);
    expect(diagnostics(run.stdout)).toContain('before_send_failed');
    expect(server.stored.has(id)).toBe(false);
    expect(server.received.filter((r) => r.body.includes('alice@'))).toEqual([]);
  });
});

describe('a host that replaced setTimeout with one that throws, after loading the SDK', () => {
  it('is not crashed by the SDK: its report is sent and the host goes on', async () => {
    server.always({ status: 503, headers: { 'Retry-After': '1' } });
    try {
      const run = await runHost('report-and-flush', hostOptions({ queueDir: tempDir() }), {
        env: { JCS_TEST_PATCH_TIMERS: '1', JCS_TEST_FLUSH_MS: '500' },
      });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout.trim().split('\n').slice(1)).toEqual(['false', 'host still alive']);
    } finally {
      server.always('default');
    }
  });
});
