import fs from 'node:fs';
import { isProcessAlive } from '@jcs/protocol';

/**
 * Which process `pid` is, beyond its number: the boot it runs in and its start time in clock
 * ticks since that boot (`<boot id>:<ticks>`), from Linux's /proc; undefined elsewhere. Two
 * processes with the same pid differ in one or the other, and no wall clock is involved.
 *
 * @example
 * fs.writeFileSync(marker, `${process.pid} ${processIdentity(process.pid) ?? ''}\n`);
 */
export function processIdentity(pid: number, procDir = '/proc'): string | undefined {
  const stat = statFields(pid, procDir);
  try {
    const boot = fs.readFileSync(`${procDir}/sys/kernel/random/boot_id`, 'utf8').trim();
    return stat && boot ? `${boot}:${stat[19]}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` runs and is the one a file written with `identity` (processIdentity,
 * when that file was written) names: alive, not a zombie (killed, not yet reaped), and the same
 * boot and start. A pid named in a file can outlive its process: after a reboot (a power cut
 * part way through `init`) the same number may belong to anything, which kept a stopped init's
 * data dir refused for good. Without an identity (a file of an older version, not Linux), alive
 * is all that can be told.
 *
 * @example
 * if (stillRuns(pid, identity)) throw anotherInit(dataDir, pid);
 */
export function stillRuns(pid: number, identity: string | undefined, procDir = '/proc'): boolean {
  if (!isProcessAlive(pid)) return false;
  const stat = statFields(pid, procDir);
  if (stat && (stat[0] === 'Z' || stat[0] === 'X')) return false;
  if (!identity) return true;
  const now = processIdentity(pid, procDir);
  return now === undefined || now === identity;
}

/** /proc/<pid>/stat's fields from the state on (field 3), or undefined where it is not read. */
function statFields(pid: number, procDir: string): string[] | undefined {
  try {
    const stat = fs.readFileSync(`${procDir}/${pid}/stat`, 'utf8');
    // After the command's name, which is in parentheses and may itself hold ") ".
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
