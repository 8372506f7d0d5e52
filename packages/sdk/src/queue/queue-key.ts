import fs from 'node:fs';
import path from 'node:path';
import nacl from 'tweetnacl';
import { publishOnce } from './queue-files';
import { QUEUE_KEY_BYTES } from './sealed-file';
import { retryTransient } from './transient-retry';

/** The key file's name in the queue directory. */
export const QUEUE_KEY_FILE = 'queue.key';

/** The key file exists but is not a key: the queue cannot be opened, and is not overwritten. */
export class QueueKeyError extends Error {
  readonly code = 'QUEUE_KEY_INVALID';
  constructor() {
    super(`${QUEUE_KEY_FILE} in the queue directory is not a ${QUEUE_KEY_BYTES}-byte key`);
    this.name = 'QueueKeyError';
  }
}

/**
 * The queue directory's own key, from `queue.key` (mode 0600), made on first use. Every process
 * sharing the directory must end up with the same key, so it is made race-free: a fresh key is
 * written to a temp file and fsynced, then hard-linked to the final name. A link never replaces an
 * existing file (EEXIST), so of two processes racing exactly one key is ever published, whole, and
 * the loser reads the winner's.
 *
 * Throws when the directory cannot be written or the file holds something else: a damaged key file
 * is left alone, since replacing it would make every report sealed under it unreadable. `fresh`
 * gives the key published where there is none (a queue whose folder was removed under it publishes
 * the key it already seals with).
 */
export function loadOrCreateQueueKey(
  dir: string,
  tmpDir: string,
  fresh: () => Uint8Array = () => nacl.randomBytes(QUEUE_KEY_BYTES),
): Uint8Array {
  const existing = readQueueKeyFile(dir);
  if (existing) return existing;
  // Of two processes racing, one publishes its key; the other reads it below.
  publishOnce(tmpDir, path.join(dir, QUEUE_KEY_FILE), fresh());
  const key = readQueueKeyFile(dir);
  if (!key) throw new QueueKeyError();
  return key;
}

/**
 * The key in `queue.key`, or null when there is no such file. Throws when it is not a key, or
 * cannot be read. A lock of a moment (a virus scanner or a backup reading it on Windows) is
 * waited out: at start, one such refusal put the whole run's reports in memory.
 */
export function readQueueKeyFile(dir: string): Uint8Array | null {
  let bytes: Buffer;
  try {
    bytes = retryTransient(() => fs.readFileSync(path.join(dir, QUEUE_KEY_FILE)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (bytes.length !== QUEUE_KEY_BYTES) throw new QueueKeyError();
  // A copy in this realm: tweetnacl refuses a Buffer from another (as under Jest).
  return new Uint8Array(bytes);
}
