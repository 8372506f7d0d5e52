/**
 * A damaged SDK queue: files cut short, binary garbage, JSON that is not a report, a stray file.
 * The SDK must set each aside with a diagnostic that says what happened, deliver the good
 * reports, and start cleanly next time (no crash, no loop over the same bad file).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createReporter, type Diagnostic, type Reporter } from '@jcs/sdk';
import { makeTempDir } from '../test-support/collector';
import { makeReport } from '../test-support/reports';
import { initDataDir, inspect, killAll, queueFiles, serve, storedIds } from './helpers';

jest.setTimeout(120_000);
afterAll(killAll);

function queueName(seq: number, id: string, bytes: number): string {
  return `${String(Date.now() - 60_000).padStart(13, '0')}-${String(seq).padStart(6, '0')}-${id}-${bytes}.json`;
}

test('corrupt queue files are set aside with a clear diagnostic; good reports still go; the next start is clean', async () => {
  const d = initDataDir();
  const s = await serve(d.dataDir);
  const queueDir = path.join(makeTempDir('jcs-faults-queue-'), 'queue');
  const pending = path.join(queueDir, 'pending');
  fs.mkdirSync(pending, { recursive: true });

  const good = makeReport();
  const goodJson = JSON.stringify(good);
  const truncated = JSON.stringify(makeReport()).slice(0, 90);
  const files: [string, string | Buffer][] = [
    [queueName(1, crypto.randomUUID(), truncated.length), truncated],
    [queueName(2, crypto.randomUUID(), 64), crypto.randomBytes(64)],
    [queueName(3, crypto.randomUUID(), 17), '{"hello":"world"}'],
    [queueName(4, good.id, Buffer.byteLength(goodJson)), goodJson],
    ['stray.tmp', 'left by something else'],
  ];
  for (const [name, content] of files) fs.writeFileSync(path.join(pending, name), content);

  const open = (diagnostics: Diagnostic[]): Reporter =>
    createReporter({
      endpoint: s.url,
      token: d.token,
      publicKey: d.publicKey,
      keyId: d.keyId,
      app: { name: 'JCS', version: '5.2.1.345' },
      license: 'JCS-000999',
      queueDir,
      retry: { minDelayMs: 50, maxDelayMs: 500 },
      onDiagnostic: (x) => diagnostics.push(x),
    });

  const first: Diagnostic[] = [];
  const reporter = open(first);
  const ids = [1, 2, 3].map((i) =>
    reporter.report({
      number: 9,
      description: 'Subscript out of range',
      module: 'modQ',
      procedure: 'Fill',
      line: i,
    }),
  );
  // False: four queued files could not be read (set aside, not delivered); the good ones went.
  expect(await reporter.flush(30_000)).toBe(false);
  await reporter.close(5000);

  const corrupt = first.filter((x) => x.code === 'queue_corrupt');
  expect(corrupt).toHaveLength(4);
  for (const x of corrupt) expect(x.message).toMatch(/not a valid report.*corrupt/);
  expect(first.filter((x) => x.code === 'internal_error')).toEqual([]);
  expect(queueFiles(queueDir, 'corrupt')).toHaveLength(4);
  expect(queueFiles(queueDir, 'pending')).toEqual([]);
  expect(storedIds(d.dbFile, [good.id, ...ids]).size).toBe(4);

  // The next start of the host: nothing left to trip over, reports flow.
  const second: Diagnostic[] = [];
  const again = open(second);
  const id = again.report({
    number: 9,
    description: 'x',
    module: 'modQ',
    procedure: 'Fill',
    line: 9,
  });
  expect(await again.flush(30_000)).toBe(true);
  await again.close(5000);
  expect(second.filter((x) => x.code === 'queue_corrupt' || x.code === 'internal_error')).toEqual(
    [],
  );
  expect(storedIds(d.dbFile, [id]).size).toBe(1);
  expect(inspect(d.dbFile).count).toBe(5);

  s.signal('SIGTERM');
  expect(await s.exited).toBe(0);
  console.log(
    `corrupt queue: 4 bad files moved to corrupt/ with "${corrupt[0].message}"; 4 good reports delivered; next start clean`,
  );
});
