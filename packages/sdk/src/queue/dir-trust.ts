import fs from 'node:fs';
import path from 'node:path';
import { QUEUE_KEY_FILE } from './queue-key';

/**
 * The queue folder, its key or one of its folders is another user's. Diagnostics name it by its
 * code (`QUEUE_DIR_NOT_OWN`), never by its path, which holds the user's name.
 */
export class QueueDirTrustError extends Error {
  readonly code = 'QUEUE_DIR_NOT_OWN';
  constructor(message: string) {
    super(message);
    this.name = 'QueueDirTrustError';
  }
}

/** What the queue keeps in its folder: the key, and the folders of reports. */
const FOLDERS = ['pending', 'claimed', 'tmp', 'corrupt', 'flood'];

/**
 * Makes sure the queue folder is this user's alone before a key or a report is read from it or
 * written to it (POSIX; Windows folders are guarded by their ACLs, not modes). A `queue.key` that
 * another user put in a folder they could write (a shared or world-writable `queueDir`) would be
 * the key every report is sealed under, and theirs to open them with; reports they put in
 * `pending/` would go out under this app's token. So:
 *
 * - the folder, `queue.key` and the queue's own folders must belong to this user (or to root,
 *   where only root could have written them); anything else is refused (thrown: the reporter
 *   then keeps reports in memory, with a `queue_unavailable` diagnostic saying why);
 * - where they are this user's but group or others may write them (a folder made with a loose
 *   umask, or `chmod 777`), they are made this user's alone (0700, the key 0600).
 *
 * `uid` is injectable for tests.
 *
 * @example
 * checkQueueDirTrust('/home/ann/.local/share/jcs/queue'); // throws for a folder of another user
 */
export function checkQueueDirTrust(dir: string, uid = process.getuid?.()): void {
  if (uid === undefined) return;
  const places = [
    { file: dir, mode: 0o700 },
    { file: path.join(dir, QUEUE_KEY_FILE), mode: 0o600 },
    ...FOLDERS.map((name) => ({ file: path.join(dir, name), mode: 0o700 })),
  ];
  for (const { file, mode } of places) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      continue; // not made yet: made by this user, with this mode
    }
    const loose = (stat.mode & 0o022) !== 0;
    if (stat.uid !== uid && (stat.uid !== 0 || loose)) {
      throw new QueueDirTrustError(
        `${file} belongs to another user (uid ${stat.uid}) who could read or plant the queue's reports: give queueDir a folder of this user's own`,
      );
    }
    if (loose && stat.uid === uid) fs.chmodSync(file, mode);
  }
}
