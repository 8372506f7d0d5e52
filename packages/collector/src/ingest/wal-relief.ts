import fs from 'node:fs';
import type { Collector } from '../collector';
import { dataPaths } from '../paths';
import { truncateWal } from '../store/truncate-wal';

/**
 * What `serve` does when the data dir's disk is short of its reserve (DiskReserve's `onShort`):
 * empties the WAL, one truncation at a time. The WAL's file keeps its largest size while the
 * collector serves (it starts over from its beginning rather than shrinking), so on a disk that
 * filled up it may hold up to a sixteenth of the disk that nothing needs any more; without this,
 * reports stayed refused until a person freed space, though the collector could free it itself.
 *
 * @example
 * const reserve = await DiskReserve.open({ dir, rule, log, onShort: walRelief(c) });
 */
export function walRelief(c: Pick<Collector, 'db' | 'inbox' | 'checkpointer' | 'log' | 'dataDir'>) {
  let running = false;
  const wal = `${dataPaths(c.dataDir).db}-wal`;
  return (): void => {
    if (running || !c.checkpointer || !c.db.open) return;
    const before = sizeOf(wal);
    // A WAL this small gives nothing back worth holding up the writers for.
    if (before < 1024 * 1024) return;
    running = true;
    truncateWal(c)
      .then((emptied) => {
        if (emptied) {
          c.log.warn(
            { freedBytes: before - sizeOf(wal) },
            'the WAL was emptied to give its space back to the short disk',
          );
        }
      })
      .catch((e: Error) => {
        if (c.db.open)
          c.log.warn({ err: e.message }, 'the WAL could not be emptied for the short disk');
      })
      .finally(() => (running = false));
  };
}

function sizeOf(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
