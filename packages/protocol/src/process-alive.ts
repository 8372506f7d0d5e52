/**
 * Whether a process with this pid exists now: this process, or one `kill(pid, 0)` reaches, or one
 * that exists but is not ours to signal (EPERM). Used to tell a dead process's leftover files
 * (temp files, queue claims) from a live one's.
 *
 * @example
 * if (!isProcessAlive(Number(pidFromName))) fs.rmSync(leftover, { force: true });
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
