/**
 * The collector restarted while the SDK is sending: killed outright (SIGKILL, so an answer can be
 * lost after its report was committed) and later stopped gracefully (SIGTERM), each time started
 * again on the same port. The SDK's disk queue must deliver every report exactly once.
 */
import path from 'node:path';
import { createReporter, type Diagnostic } from '@jcs/sdk';
import { makeTempDir } from '../test-support/collector';
import {
  countReports,
  initDataDir,
  inspect,
  killAll,
  queueFiles,
  serve,
  storedIds,
  waitFor,
} from './helpers';

jest.setTimeout(180_000);
afterAll(killAll);

const N = 300;

test('restarts while the SDK sends: every report delivered exactly once', async () => {
  const d = initDataDir();
  let s = await serve(d.dataDir);
  const port = s.port;
  const queueDir = path.join(makeTempDir('jcs-faults-queue-'), 'queue');
  const diagnostics: Diagnostic[] = [];
  const reporter = createReporter({
    endpoint: s.url,
    token: d.token,
    publicKey: d.publicKey,
    keyId: d.keyId,
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000888',
    queueDir,
    retry: { minDelayMs: 50, maxDelayMs: 500 },
    floodControl: { maxPerGroup: 10_000 },
    onDiagnostic: (x) => diagnostics.push(x),
  });

  const ids: string[] = [];
  const producing = (async () => {
    for (let i = 0; i < N; i++) {
      ids.push(
        reporter.report({
          number: 13,
          description: 'Type mismatch',
          module: 'modRestart',
          procedure: `Proc${i % 30}`,
          line: i,
        }),
      );
      if (i % 10 === 9) await new Promise((r) => setImmediate(r));
    }
  })();

  await waitFor(() => countReports(d.dbFile) >= N / 3, 60_000, 'a third delivered');
  s.signal('SIGKILL');
  await s.exited;
  await new Promise((r) => setTimeout(r, 300));
  s = await serve(d.dataDir, { port });

  await waitFor(() => countReports(d.dbFile) >= (2 * N) / 3, 60_000, 'two thirds delivered');
  s.signal('SIGTERM');
  expect(await s.exited).toBe(0);
  await new Promise((r) => setTimeout(r, 300));
  s = await serve(d.dataDir, { port });

  await producing;
  expect(await reporter.flush(60_000)).toBe(true);
  await reporter.close(5000);
  s.signal('SIGTERM');
  expect(await s.exited).toBe(0);

  const end = inspect(d.dbFile);
  expect(storedIds(d.dbFile, ids).size).toBe(N);
  expect(end.count).toBe(N);
  expect(end.distinctIds).toBe(N);
  expect(end.counted).toBe(N);
  expect(end.integrity).toBe('ok');
  expect(queueFiles(queueDir, 'pending')).toEqual([]);
  expect(queueFiles(queueDir, 'claimed')).toEqual([]);
  // The restarts did reach the SDK mid-delivery.
  const failures = diagnostics.filter((x) => x.code === 'send_failed').length;
  expect(failures).toBeGreaterThan(0);
  expect(diagnostics.filter((x) => x.code === 'internal_error')).toEqual([]);
  console.log(
    `SDK across restarts: ${N} reports, ${failures} failed attempts retried, ${end.count} stored, each once`,
  );
});
