import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../../../test-support/collector';
import { runCollector, spawnServe } from './helpers/serve-process';

/**
 * serve checks at start that the access log's newest entry, as the keys folder's head mark names
 * it, is still in the table: the next entries would move the mark past the evidence.
 */
jest.setTimeout(60_000);

function initialised(): string {
  const dataDir = path.join(makeTempDir(), 'data');
  expect(runCollector(['init', '--data-dir', dataDir]).status).toBe(0);
  return dataDir;
}
const token = (dataDir: string, name: string) =>
  runCollector(['token', 'create', '--name', name, '--role', 'engineer', '--data-dir', dataDir]);

async function startLines(dataDir: string): Promise<string[]> {
  const p = await spawnServe(dataDir, ['--no-expiry']);
  p.child.kill('SIGTERM');
  expect(await p.exited).toBe(0);
  return p
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('jcs-collector: '));
}

it('says so at start when the database was put back from a copy older than the head mark', async () => {
  const dataDir = initialised();
  expect(token(dataDir, 'first').status).toBe(0);
  const db = path.join(dataDir, 'collector.db');
  fs.copyFileSync(db, `${db}.old`);
  expect(token(dataDir, 'second').status).toBe(0); // entry 2; the head mark names it
  // intact, as it is: nothing said
  expect(await startLines(dataDir)).toEqual([]);

  fs.copyFileSync(`${db}.old`, db); // the table ends at entry 1 again
  const lines = await startLines(dataDir);
  expect(lines).toEqual([
    expect.stringMatching(
      /^jcs-collector: the access log's newest entries are not as the keys folder's head mark says, from entry 2 \(cut off or changed since the last run.*\); the mark as it was is kept as keys\/audit-head\.at-break-\d{8}T\d{6}\.\d{3}Z\.json: keep it and collector\.db as evidence, and run jcs-collector audit verify$/,
    ),
  ]);
  // the copy is the mark as it stood, whatever the next entries do to the mark itself
  const keys = path.join(dataDir, 'keys');
  const copy = fs.readdirSync(keys).find((f) => f.startsWith('audit-head.at-break-'))!;
  expect(fs.readFileSync(path.join(keys, copy), 'utf8')).toBe(
    fs.readFileSync(path.join(keys, 'audit-head.json'), 'utf8'),
  );
  expect(JSON.parse(fs.readFileSync(path.join(keys, copy), 'utf8'))).toMatchObject({ seq: 2 });
  expect(fs.statSync(path.join(keys, copy)).mode & 0o777).toBe(0o600);
  expect(runCollector(['audit', 'verify', '--data-dir', dataDir]).stdout).toBe(
    'broken at entry 2\n',
  );
});

it('warns at start when the head mark is gone and there are entries', async () => {
  const dataDir = initialised();
  // no entries yet: nothing to say
  expect(await startLines(dataDir)).toEqual([]);
  expect(token(dataDir, 'first').status).toBe(0);
  fs.rmSync(path.join(dataDir, 'keys', 'audit-head.json'));
  expect(await startLines(dataDir)).toEqual([
    'jcs-collector: keys/audit-head.json is missing or unreadable, so access-log entries cut off before this start would not show; serve writes it again with its next entry, and if it was removed, find out who removed it',
  ]);
});
