import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../../../test-support/collector';
import { runCollector, spawnServe } from './helpers/serve-process';

/**
 * One `serve` per data dir (commands/serve-lock.ts): a second one is refused with one line and
 * exit 1, leaving the first untouched; once the first is gone, however it ended, serve starts.
 */

jest.setTimeout(60_000);

it('refuses a second serve on the same data dir, and starts once the first is gone', async () => {
  const dir = path.join(makeTempDir(), 'data');
  expect(runCollector(['init', '--data-dir', dir]).status).toBe(0);
  const first = await spawnServe(dir, ['--port', '0', '--no-expiry']);
  try {
    await first.waitForLog(/"msg":"serving"/);
    const second = runCollector(['serve', '--port', '0', '--no-expiry', '--data-dir', dir]);
    expect(second.status).toBe(1);
    // Named by its process id, so that one left running unseen can be found and stopped.
    expect(second.stderr).toBe(
      `jcs-collector: jcs-collector serve (pid ${first.child.pid}) is running on ${dir}: stop it first (kill ${first.child.pid}) (one serve per data dir)\n`,
    );
    // With the first one's port too (its very settings, as a restart script run twice gives):
    // still named, not "something already listens there".
    const port = new URL(first.url).port;
    const same = runCollector(['serve', '--port', port, '--no-expiry', '--data-dir', dir]);
    expect([same.status, same.stderr]).toEqual([1, second.stderr]);
    // The commands that may run beside serve still do.
    expect(runCollector(['audit', 'verify', '--data-dir', dir]).status).toBe(0);
  } finally {
    first.child.kill('SIGKILL');
    await first.exited;
  }
  // Killed outright: the lock went with the process, leaving no file but itself.
  expect(fs.readdirSync(dir).filter((name) => name.startsWith('serve.lock'))).toEqual([
    'serve.lock',
  ]);
  const third = await spawnServe(dir, ['--port', '0', '--no-expiry']);
  const pidFile = path.join(dir, 'serve.pid');
  try {
    await third.waitForLog(/"msg":"serving"/);
    expect(fs.readFileSync(pidFile, 'utf8')).toBe(`${third.child.pid}\n`);
  } finally {
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }
  // Gone with a clean stop: a `kill $(cat serve.pid)` later must not reach a process given its pid.
  expect(fs.existsSync(pidFile)).toBe(false);
});

/** A process that takes the lock `rounds` times, adding 1 to a count in `countFile` under it. */
const TAKER = `
const fs = require('node:fs');
const { takeLock } = require(process.argv[1]);
const [lockFile, countFile, rounds] = process.argv.slice(2);
let missed = 0;
for (let i = 0; i < Number(rounds); i++) {
  const lock = takeLock(lockFile, 5000);
  if (!lock) { missed++; continue; }
  const n = Number(fs.readFileSync(countFile, 'utf8'));
  const until = Date.now() + 1;
  while (Date.now() < until); // held a moment, as a key rotation holds it
  fs.writeFileSync(countFile, String(n + 1));
  lock.release();
}
process.stdout.write(String(missed));
`;

it('lets processes waiting at once take the lock in turn, one at a time, none giving up', async () => {
  const dir = makeTempDir();
  const countFile = path.join(dir, 'count');
  fs.writeFileSync(countFile, '0');
  const lockModule = path.resolve(__dirname, '../dist/commands/serve-lock.js');
  const take = () =>
    new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['-e', TAKER, lockModule, path.join(dir, 'key-rotate.lock'), countFile, '100'],
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      );
    });
  // Two that waited at once used to hold each other out until both gave up (the whole wait).
  const missed = await Promise.all([take(), take(), take(), take(), take(), take()]);
  expect(missed).toEqual(['0', '0', '0', '0', '0', '0']);
  // One at a time: no count was lost to two holding it at once.
  expect(fs.readFileSync(countFile, 'utf8')).toBe('600');
});
