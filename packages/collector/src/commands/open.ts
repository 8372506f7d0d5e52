import { openCollector, type Collector, type CollectorOptions } from '../collector';
import { KeyringError } from '../crypto/keyring';
import { CommandError } from './output';

/** Opens the collector for a command, turning a missing data dir or key into a clear failure. */
export function openForCommand(options: CollectorOptions): Collector {
  try {
    return openCollector(options);
  } catch (e) {
    if (e instanceof KeyringError || e instanceof RangeError) throw new CommandError(e.message);
    throw e;
  }
}
