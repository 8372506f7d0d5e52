import { spawnSync } from 'node:child_process';
import { isProcessAlive } from '../src';

describe('isProcessAlive', () => {
  it('is true of this process and its parent', () => {
    expect(isProcessAlive(process.pid)).toBe(true);
    expect(isProcessAlive(process.ppid)).toBe(true);
  });

  it('is false of a process that has exited', () => {
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    expect(isProcessAlive(Number(child.stdout.toString()))).toBe(false);
  });

  it('is false of what cannot be a pid (0 would signal the whole process group)', () => {
    for (const pid of [0, -1, NaN, 1.5, 2 ** 53]) expect(isProcessAlive(pid)).toBe(false);
  });
});
