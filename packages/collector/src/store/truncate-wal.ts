import type { Collector } from '../collector';
import type { Db } from './db';

/**
 * Copies the WAL into the database and empties it, so that no page image of deleted rows (an
 * expiry's, an erasure's) stays in the `-wal` file. Under `serve`, on the background checkpoint's
 * thread, after that thread has copied the bulk (a PASSIVE checkpoint takes no lock), with the
 * inbox's folds held off: the truncating checkpoint holds off every writer while it copies what
 * is left, and on the event loop it held up every request as well (86 ms at the end of a
 * million-report expiry run; 325 ms after erasing a licence of 2,000 reports under ingest).
 * Elsewhere (tests, the CLI) on this connection. Resolves false when readers kept the WAL busy.
 *
 * @example
 * if (!(await truncateWal(c))) c.log.warn('WAL not truncated: a reader kept it busy');
 */
export async function truncateWal(
  c: Pick<Collector, 'db' | 'inbox' | 'checkpointer' | 'log'>,
): Promise<boolean> {
  const { inbox, checkpointer } = c;
  if (!checkpointer) return checkpoint(c.db);
  await checkpointer.caughtUp(0);
  const release = await inbox?.holdFolds();
  try {
    return await checkpointer.truncate();
  } catch (e) {
    c.log.warn({ err: (e as Error).message }, 'WAL truncation on its thread failed; retried here');
    return checkpoint(c.db);
  } finally {
    release?.();
  }
}

/** `wal_checkpoint(TRUNCATE)`, retried briefly while another process's reader holds the WAL. */
async function checkpoint(db: Db): Promise<boolean> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (r.busy === 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
