import Database from 'better-sqlite3';
import { MIGRATIONS } from './schema';

export type Db = Database.Database;

/**
 * Opens (creating when asked) the collector database with the pragmas the guarantees rest on:
 * WAL with synchronous=FULL (the bundled SQLite silently uses NORMAL in WAL mode, which can lose
 * acknowledged commits on power loss), secure_delete so deleted reports leave no bytes in free
 * pages, and incremental auto-vacuum so the file does not grow without bound.
 */
export function openDatabase(
  file: string,
  options: { create?: boolean; readonly?: boolean } = {},
): Db {
  const db = new Database(file, {
    fileMustExist: !options.create,
    readonly: Boolean(options.readonly),
  });
  // Before any pragma that writes (auto_vacuum and WAL would each leave their mark on it).
  if (!options.create && !options.readonly) {
    try {
      refuseUnmade(db);
    } catch (e) {
      db.close();
      throw e;
    }
  }
  if (!options.readonly) {
    // auto_vacuum only takes effect before the first table is created.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
  }
  db.pragma('synchronous = FULL');
  db.pragma('secure_delete = ON');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // 64 MiB of page cache (the default is 2 MiB): the expiry job walks large trees, and every page
  // it must fetch again is a read and a search of the WAL's index. Taken only as pages are used.
  db.pragma('cache_size = -65536');
  if (!options.readonly) {
    try {
      migrate(db);
    } catch (e) {
      db.close();
      throw e;
    }
  }
  limitPages(db, options.readonly);
  return db;
}

/** How long a connection waits for another's write lock before SQLITE_BUSY (a 503 at most). */
export const BUSY_TIMEOUT_MS = 2000;

/**
 * Runs `write` with no wait for another connection's lock: SQLITE_BUSY at once instead. For the
 * event loop's connection, whose wait (up to BUSY_TIMEOUT_MS) would hold every request, reports
 * included, while a lock is held elsewhere: its callers wait off the event loop and try again
 * (store/audit-batch.ts), or give up what can wait (a token's last-used time).
 *
 * @example
 * withoutWaiting(db, () => db.transaction(write).immediate()); // throws SQLITE_BUSY if locked
 */
export function withoutWaiting<T>(db: Db, write: () => T): T {
  db.pragma('busy_timeout = 0');
  try {
    return write();
  } finally {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
}

/**
 * Runs `commit` (one or more transactions) with synchronous=NORMAL, so its commits skip their
 * fsync, then puts FULL back for every other transaction. For callers that make the result
 * durable another way (ingest: store/wal-sync.ts) or can redo it (expiry chunks).
 *
 * @example
 * withoutCommitSync(db, () => writeBatch(items));
 */
export function withoutCommitSync<T>(db: Db, commit: () => T): T {
  const sync = syncStatements(db);
  sync.normal.run();
  try {
    return commit();
  } finally {
    sync.full.run();
  }
}

/**
 * The two pragmas, prepared once per connection: ingest flips them around every batch, and
 * `db.pragma()` prepares its statement on every call.
 */
const syncPragmas = new WeakMap<Db, { normal: Database.Statement; full: Database.Statement }>();
function syncStatements(db: Db) {
  let s = syncPragmas.get(db);
  if (!s) {
    s = {
      normal: db.prepare('PRAGMA synchronous = NORMAL'),
      full: db.prepare('PRAGMA synchronous = FULL'),
    };
    syncPragmas.set(db, s);
  }
  return s;
}

/** Fault injection only (faults/storage-full.test.ts); unset in production. */
const MAX_PAGES_ENV = 'JCS_COLLECTOR_MAX_PAGES';

/**
 * With `JCS_COLLECTOR_MAX_PAGES=n`, caps the database at n pages, as a full disk would: writes
 * that need more fail with SQLITE_FULL. Lets the fault-injection suite fill the storage without
 * mounting a small file system.
 */
function limitPages(db: Db, readonly?: boolean): void {
  const pages = Number(process.env[MAX_PAGES_ENV]);
  if (!readonly && Number.isSafeInteger(pages) && pages > 0) db.pragma(`max_page_count = ${pages}`);
}

/**
 * A database whose schema this build cannot work with, said before anything is changed.
 *
 * @example
 * throw new SchemaError('collector.db was written by a newer jcs-collector ...');
 */
export class SchemaError extends Error {
  override name = 'SchemaError';
}

/**
 * Only init makes a database. An empty file, or another program's SQLite file, in place of
 * collector.db (a restore gone wrong) was given the schema silently, and the start-up checks then
 * took the sealed fields of every report for lost: said instead, with nothing changed.
 */
function refuseUnmade(db: Db): void {
  if (db.pragma('user_version', { simple: true }) === 0) {
    throw new SchemaError(
      `${db.name} is not a jcs-collector database (empty, or another program's file): put back collector.db from its backup (with sealed/), or run init on a new --data-dir`,
    );
  }
}

function migrate(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  // A later build's database: migrating down is not a thing, and reading it as this build's
  // schema could take its rows for damage.
  if (version > MIGRATIONS.length) {
    throw new SchemaError(
      `${db.name} was written by a newer jcs-collector (schema ${version}; this one knows up to ${MIGRATIONS.length}): run that version or a later one`,
    );
  }
  // The first schema was changed in place during development until 2026-11-29: such a
  // database says 1 but lacks what every later step builds on. Refused before any step runs,
  // so that the build that made it can still open it.
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  if (version >= 1 && hasTable.get('report_ids') === undefined) {
    throw new SchemaError(
      `${db.name} was made by a development build of jcs-collector from before 2026-11-29, whose schema this one cannot upgrade: keep running that build on it, or start this one on a new --data-dir`,
    );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      const step = MIGRATIONS[v];
      if (typeof step === 'string') db.exec(step);
      else step(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export function getMeta(db: Db, key: string): string | undefined {
  return metaStatements(db).get.get(key) as string | undefined;
}

export function setMeta(db: Db, key: string, value: string): void {
  metaStatements(db).set.run(key, value);
}

export function deleteMeta(db: Db, key: string): void {
  metaStatements(db).delete.run(key);
}

/** Prepared once per connection: ingest reads and moves a day file's end in every batch. */
const metaPrepared = new WeakMap<
  Db,
  { get: Database.Statement; set: Database.Statement; delete: Database.Statement }
>();
function metaStatements(db: Db) {
  let s = metaPrepared.get(db);
  if (!s) {
    s = {
      get: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      set: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      delete: db.prepare('DELETE FROM meta WHERE key = ?'),
    };
    metaPrepared.set(db, s);
  }
  return s;
}

const prepared = new WeakMap<Db, Map<string, Database.Statement>>();

/**
 * A statement prepared once per connection: triage runs the same few shapes on every request,
 * and preparing one costs more than running it over a small range.
 *
 * @example
 * statement(db, 'SELECT * FROM groups WHERE id = ?').get(id);
 */
export function statement(db: Db, sql: string): Database.Statement {
  let byText = prepared.get(db);
  if (!byText) prepared.set(db, (byText = new Map()));
  let s = byText.get(sql);
  if (!s) byText.set(sql, (s = db.prepare(sql)));
  return s;
}
