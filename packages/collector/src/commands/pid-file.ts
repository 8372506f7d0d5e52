import fs from 'node:fs';

/**
 * The process id a file names (`serve.pid`, `init.incomplete`): its first number, or null when
 * the file is missing, unreadable or names none.
 *
 * @example
 * const pid = readPidFile(path.join(dataDir, 'serve.pid')); // 4242, or null
 */
export function readPidFile(file: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
