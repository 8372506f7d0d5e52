import fs from 'node:fs';
import { openCollector, type Collector, type CollectorOptions } from '../collector';
import { KeyringError } from '../crypto/keyring';
import { CommandError } from './output';
import { dataPaths, initInterrupted } from '../paths';
import { SchemaError } from '../store/db';

/** Opens the collector for a command, turning a missing data dir or key into a clear failure. */
export function openForCommand(options: CollectorOptions): Collector {
  if (fs.existsSync(dataPaths(options.dataDir).initMarker)) {
    throw new CommandError(initInterrupted(options.dataDir));
  }
  try {
    return openCollector(options);
  } catch (e) {
    if (e instanceof KeyringError || e instanceof SchemaError || e instanceof RangeError) {
      throw new CommandError(e.message);
    }
    const code = (e as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new CommandError(
        `${dataPaths(options.dataDir).db} is not a database SQLite can read (${code}): restore it from a backup`,
      );
    }
    throw e;
  }
}
