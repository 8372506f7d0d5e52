import fs from 'node:fs';
import path from 'node:path';
import nacl from 'tweetnacl';
import { toBase64 } from '@jcs/protocol';

/**
 * The master key, and the key files it wraps: every key in the keys folder but the master key
 * itself is sealed (secretbox) under it, so a copy of the folder without the master key (kept
 * in JCS_COLLECTOR_MASTER_KEY, off the disk) opens nothing.
 */

export const MASTER_FILE = 'master.key';
export const MASTER_KEY_ENV = 'JCS_COLLECTOR_MASTER_KEY';

/**
 * A readable failure of the keys folder, for `serve` and the other commands to print.
 *
 * @example
 * throw new KeyringError(`the keys folder ${dir} is missing: restore the keys folder`);
 */
export class KeyringError extends Error {
  /**
   * Met while serving (a key file damaged, or the keys folder gone, since the start), it is the
   * storage failing, not a bug: answered 503 with the message in the log (ingest/unavailable.ts).
   */
  readonly code = KEYRING_ERROR_CODE;

  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

/** The `code` of a KeyringError, kept when it crosses from a worker thread. */
export const KEYRING_ERROR_CODE = 'JCS_KEYRING';

/**
 * The master key: JCS_COLLECTOR_MASTER_KEY where it is set, else keys/master.key.
 *
 * @example
 * const master = loadMasterKey('/var/lib/jcs-collector/keys', process.env);
 */
export function loadMasterKey(dir: string, env: NodeJS.ProcessEnv): Uint8Array {
  if (env[MASTER_KEY_ENV]) return parseMasterKey(env[MASTER_KEY_ENV]);
  const file = path.join(dir, MASTER_FILE);
  if (!fs.existsSync(file)) {
    throw new KeyringError(
      `the master key is missing: neither ${MASTER_KEY_ENV} is set nor ${file} exists (set ${MASTER_KEY_ENV} where the master key lives off the disk, or restore the keys folder)`,
    );
  }
  return parseMasterKey(readKeyFile(dir, MASTER_FILE).trim());
}

/** 32 bytes of base64, or a KeyringError saying where it came from. */
export function parseMasterKey(text: string): Uint8Array {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32)
    throw new KeyringError(
      `the master key must be 32 bytes of base64 (${MASTER_KEY_ENV} or keys/${MASTER_FILE})`,
    );
  return new Uint8Array(key);
}

/** A key file's text, or a KeyringError naming the file and what to do. */
export function readKeyFile(dir: string, name: string): string {
  const file = path.join(dir, name);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KeyringError(
      code === 'ENOENT'
        ? `the key file ${file} is missing: restore the keys folder`
        : code === 'EACCES' || code === 'EPERM'
          ? `the key file ${file} is not readable by this user: run the collector as the owner of the keys folder, and keep its folders mode 0700 and files 0600 as jcs-collector init made them (chown -R; chmod 700 folders, 600 files)`
          : `cannot read the key file ${file} (${code}): check the disk and the keys folder, then try again`,
    );
  }
}

/** A key sealed under the master key, as a key file holds it. */
export function wrap(key: Uint8Array, master: Uint8Array): string {
  const nonce = nacl.randomBytes(nacl.secretbox.nonceLength);
  return toBase64(Buffer.concat([nonce, nacl.secretbox(key, nonce, master)]));
}

/** A key file's key, opened with the master key; a KeyringError when it does not open. */
export function unwrap(text: string, master: Uint8Array, what: string): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(text.trim(), 'base64'));
  const nonce = bytes.subarray(0, nacl.secretbox.nonceLength);
  const key =
    bytes.length >= nacl.secretbox.nonceLength + nacl.secretbox.overheadLength
      ? nacl.secretbox.open(bytes.subarray(nacl.secretbox.nonceLength), nonce, master)
      : null;
  if (!key) {
    throw new KeyringError(
      `the key ${what} does not open with this master key: ${MASTER_KEY_ENV} (or keys/${MASTER_FILE}) is not the one this keys folder was made with, or the file is damaged`,
    );
  }
  return key;
}
