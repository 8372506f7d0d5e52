import { ApiError } from '@jcs/protocol';
import { KEYRING_ERROR_CODE } from '../crypto/master-key';
import { SEALED_FOLDER_GONE_CODE } from '../store/sealed-files';
import { DB_FILE_GONE_CODE } from '../store/db-file-watch';
import { DAY_KEY_GONE_CODE } from '../store/day-key-gone';

/** Seconds a client should wait after the storage refused a write. */
export const STORAGE_RETRY_AFTER_S = 5;

/**
 * SQLite result codes (primary, before any extended suffix) that mean "the storage cannot take
 * this now" rather than "the collector has a bug": a full disk or size limit, a lock held too long,
 * an I/O error, a read-only or vanished file, memory exhaustion.
 */
const SQLITE_STORAGE = new Set([
  'SQLITE_FULL',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_READONLY',
  'SQLITE_CANTOPEN',
  'SQLITE_NOMEM',
  'SQLITE_PROTOCOL',
]);

/** File-system error codes that mean the same for the keys folder. */
const FS_STORAGE = new Set([
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EROFS',
  'EACCES',
  'EPERM',
  'EMFILE',
  'ENFILE',
  // a file or folder of the data dir put where the other was (a key's days/ replaced by a file)
  'ENOTDIR',
  'EISDIR',
  'ELOOP',
]);

/** The collector's own codes for its files gone from under it: the keys, sealed/, the database. */
const JCS_STORAGE = new Set([
  KEYRING_ERROR_CODE,
  SEALED_FOLDER_GONE_CODE,
  DB_FILE_GONE_CODE,
  DAY_KEY_GONE_CODE,
]);

/**
 * True for an error of the storage rather than of the collector's code: SQLite's full, busy,
 * locked and I/O errors, file-system errors writing keys, and a key file that no longer opens.
 *
 * @example
 * isStorageFailure(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })); // true
 */
export function isStorageFailure(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return false;
  if (code.startsWith('SQLITE_')) {
    const primary = /^SQLITE_[A-Z]+/.exec(code)?.[0] ?? code;
    return SQLITE_STORAGE.has(primary);
  }
  return FS_STORAGE.has(code) || JCS_STORAGE.has(code);
}

/**
 * True for a lock held too long: retrying at once, one report at a time, would only wait again.
 *
 * @example
 * isBusy(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })); // true
 */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

/**
 * The 503 answer for a write the storage refused, with Retry-After. The cause rides along for the
 * log (its message and code only), never for the client.
 *
 * @example
 * throw storageUnavailable(err); // 503 {"error":{"code":"unavailable",...}}, Retry-After: 5
 */
export function storageUnavailable(cause?: unknown): ApiError {
  const e = new ApiError(
    'unavailable',
    'Storage cannot take this request now; nothing was stored or changed. Retry after the delay given.',
    { headers: { 'Retry-After': String(STORAGE_RETRY_AFTER_S) } },
  );
  if (cause !== undefined) e.cause = cause;
  return e;
}
