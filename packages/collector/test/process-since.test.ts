import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../../../test-support/collector';
import { wroteIt } from '../src/commands/process-since';

/**
 * wroteIt: whether the process a pid file names is still the one that wrote it. A fake /proc
 * gives it this process's stat with chosen fields; the pid is this process's, which is alive.
 */

const BOOT = 1_800_000_000; // seconds

function fakeProc(state: string, startedSecondsAfterBoot: number): string {
  const dir = makeTempDir('jcs-proc-');
  fs.writeFileSync(path.join(dir, 'stat'), `cpu  1 2 3\nbtime ${BOOT}\nprocesses 9\n`);
  fs.mkdirSync(path.join(dir, String(process.pid)));
  // pid (comm) state, then fields 4..21, then starttime (field 22) in ticks of 1/100 s
  const rest = Array.from({ length: 18 }, () => '0');
  fs.writeFileSync(
    path.join(dir, String(process.pid), 'stat'),
    `${process.pid} (node) x) ${state} ${rest.join(' ')} ${startedSecondsAfterBoot * 100} 0 0\n`,
  );
  return dir;
}

it('is the writer when alive and started before the file was written', () => {
  const writtenAt = (BOOT + 600) * 1000;
  expect(wroteIt(process.pid, writtenAt, fakeProc('S', 500))).toBe(true);
  // a second's slack either way of whole-second boot times
  expect(wroteIt(process.pid, writtenAt, fakeProc('R', 600.5))).toBe(true);
});

it('is not when the process started after the file was written (a pid given again)', () => {
  expect(wroteIt(process.pid, (BOOT + 600) * 1000, fakeProc('S', 700))).toBe(false);
});

it('is not when the process is a zombie (killed, not yet reaped)', () => {
  expect(wroteIt(process.pid, (BOOT + 600) * 1000, fakeProc('Z', 500))).toBe(false);
});

it('is not when no process has the pid, and is alive all it can tell without /proc', () => {
  expect(wroteIt(2 ** 22 + 7, Date.now())).toBe(false);
  expect(wroteIt(process.pid, 0, path.join(makeTempDir(), 'no-proc'))).toBe(true);
  // on this machine, the real /proc: this process started before now
  expect(wroteIt(process.pid, Date.now())).toBe(true);
});
