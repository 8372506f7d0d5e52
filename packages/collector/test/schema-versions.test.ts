import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeTempDir } from '../../../test-support/collector';
import { MIGRATIONS } from '../src/store/schema';
import { runCollector } from './helpers/serve-process';

/**
 * A database this build cannot work with is refused with one line, before anything in it is
 * changed: one written by a newer build, and one of the first schema as it was during
 * development, before 2026-11-29 (it says version 1 but lacks what every later step needs).
 */

jest.setTimeout(60_000);

function initialised(): string {
  const dataDir = path.join(makeTempDir(), 'data');
  expect(runCollector(['init', '--data-dir', dataDir]).status).toBe(0);
  return dataDir;
}

const userVersion = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true });
  } finally {
    db.close();
  }
};

it('a database written by a newer build: refused, unchanged', () => {
  const dataDir = initialised();
  const file = path.join(dataDir, 'collector.db');
  const db = new Database(file);
  db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
  db.close();
  const r = runCollector(['token', 'list', '--data-dir', dataDir]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(
    /^jcs-collector: .*collector\.db was written by a newer jcs-collector \(schema \d+; this one knows up to \d+\): run that version or a later one\n$/,
  );
  expect(userVersion(file)).toBe(MIGRATIONS.length + 1);
});

it('a database of the first schema as it was before 2026-11-29: refused, unchanged', () => {
  const dataDir = initialised();
  const file = path.join(dataDir, 'collector.db');
  const db = new Database(file);
  db.exec('DROP TABLE report_ids');
  db.pragma('user_version = 1');
  db.close();
  const r = runCollector(['serve', '--port', '0', '--data-dir', dataDir]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/development build of jcs-collector from before 2026-11-29/);
  expect(r.stderr).not.toMatch(/unexpected failure/);
  expect(userVersion(file)).toBe(1);
});

it.each([
  ['an empty file', (file: string) => fs.writeFileSync(file, '')],
  [
    "another program's SQLite file",
    (file: string) => {
      const db = new Database(file);
      db.exec('CREATE TABLE notes (x)');
      db.close();
    },
  ],
])('%s in place of collector.db: refused by every command, it and sealed/ untouched', (_, put) => {
  // A restore gone wrong: it was given the schema silently, and serve then took the records of
  // every report in sealed/ for lost and wiped them.
  const dataDir = initialised();
  const file = path.join(dataDir, 'collector.db');
  const sealed = path.join(dataDir, 'sealed');
  fs.mkdirSync(sealed, { recursive: true });
  fs.writeFileSync(path.join(sealed, '2026-11-30.sealed'), 'records');
  fs.rmSync(file);
  put(file);
  const bytes = fs.readFileSync(file);
  for (const args of [
    ['token', 'list'],
    ['serve', '--port', '0'],
    ['expire', '--dry-run'],
  ]) {
    const r = runCollector([...args, '--data-dir', dataDir]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^jcs-collector: .*collector\.db is not a jcs-collector database \(empty, or another program's file\): put back collector\.db from its backup \(with sealed\/\), or run init on a new --data-dir\n$/,
    );
  }
  // not a byte of it changed: no schema, no WAL mode, no page written to an empty file
  expect(fs.readFileSync(file).equals(bytes)).toBe(true);
  expect(fs.readdirSync(sealed)).toEqual(['2026-11-30.sealed']);
});
