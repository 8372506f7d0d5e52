import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../../../test-support/collector';
import { processIdentity, stillRuns } from '../src/commands/process-identity';

/**
 * stillRuns: whether the process a pid file names is still the one that wrote it, by the boot id
 * and start ticks written beside the pid. A fake /proc gives this process's stat with chosen
 * fields; the pid is this process's, which is alive.
 */

const BOOT = '6f1c2b1e-0000-4000-8000-000000000001';

function fakeProc(state: string, startTicks: number, boot = BOOT): string {
  const dir = makeTempDir('jcs-proc-');
  fs.mkdirSync(path.join(dir, 'sys', 'kernel', 'random'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'sys', 'kernel', 'random', 'boot_id'), `${boot}\n`);
  fs.mkdirSync(path.join(dir, String(process.pid)));
  // pid (comm) state, then fields 4..21, then starttime (field 22)
  const rest = Array.from({ length: 18 }, () => '0');
  fs.writeFileSync(
    path.join(dir, String(process.pid), 'stat'),
    `${process.pid} (node) x) ${state} ${rest.join(' ')} ${startTicks} 0 0\n`,
  );
  return dir;
}

it('is the boot id and the start ticks', () => {
  expect(processIdentity(process.pid, fakeProc('S', 5000))).toBe(`${BOOT}:5000`);
  expect(processIdentity(process.pid, path.join(makeTempDir(), 'no-proc'))).toBeUndefined();
  // on this machine, the real /proc
  expect(processIdentity(process.pid)).toMatch(/^[0-9a-f-]{36}:\d+$/);
});

it('still runs while alive with the same identity', () => {
  expect(stillRuns(process.pid, `${BOOT}:5000`, fakeProc('S', 5000))).toBe(true);
  expect(stillRuns(process.pid, processIdentity(process.pid))).toBe(true);
});

it('does not when the pid was given again: another start, or another boot', () => {
  expect(stillRuns(process.pid, `${BOOT}:5000`, fakeProc('S', 7000))).toBe(false);
  expect(stillRuns(process.pid, `${BOOT}:5000`, fakeProc('S', 5000, 'another-boot'))).toBe(false);
});

it('does not when the process is a zombie (killed, not yet reaped), or gone', () => {
  expect(stillRuns(process.pid, `${BOOT}:5000`, fakeProc('Z', 5000))).toBe(false);
  expect(stillRuns(process.pid, undefined, fakeProc('Z', 5000))).toBe(false);
  expect(stillRuns(2 ** 22 + 7, undefined)).toBe(false);
});

it('without an identity, or without /proc, alive is all it can tell', () => {
  expect(stillRuns(process.pid, undefined, fakeProc('S', 7000))).toBe(true);
  expect(stillRuns(process.pid, `${BOOT}:5000`, path.join(makeTempDir(), 'no-proc'))).toBe(true);
});
