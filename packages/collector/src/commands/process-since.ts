import fs from 'node:fs';
import { isProcessAlive } from '@jcs/protocol';

/** Linux counts a process's start in clock ticks since boot; 100 a second on every kernel built today. */
const TICKS_PER_SECOND = 100;

/**
 * Whether process `pid` runs and is the one that wrote a file at `writtenAtMs`: alive, not a
 * zombie (killed, not yet reaped by its parent), and, where Linux says when it started, started
 * before that moment. A pid named in a file can outlive its process: after a reboot (a power
 * cut part way through `init`) the same number may belong to anything, which then kept a stopped
 * init's data dir refused for good. Elsewhere, alive is all that can be told.
 *
 * @example
 * if (wroteIt(pid, fs.statSync(marker).mtimeMs)) throw anotherInit(dataDir, pid);
 */
export function wroteIt(pid: number, writtenAtMs: number, procDir = '/proc'): boolean {
  if (!isProcessAlive(pid)) return false;
  let stat: string;
  let bootSeconds: number;
  try {
    stat = fs.readFileSync(`${procDir}/${pid}/stat`, 'utf8');
    const btime = /^btime (\d+)$/m.exec(fs.readFileSync(`${procDir}/stat`, 'utf8'));
    if (!btime) return true;
    bootSeconds = Number(btime[1]);
  } catch {
    return true; // not Linux, or not ours to read: alive is all we know
  }
  // After the command's name, which is in parentheses and may itself hold ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return false;
  const startedAtMs = (bootSeconds + Number(fields[19]) / TICKS_PER_SECOND) * 1000;
  if (!Number.isFinite(startedAtMs)) return true;
  // A second's slack: btime is whole seconds, and the file's time is the file system's.
  return startedAtMs <= writtenAtMs + 1000;
}
