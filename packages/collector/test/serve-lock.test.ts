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
    // The commands that may run beside serve still do.
    expect(runCollector(['audit', 'verify', '--data-dir', dir]).status).toBe(0);
  } finally {
    first.child.kill('SIGKILL');
    await first.exited;
  }
  // Killed outright: the lock went with the process.
  const third = await spawnServe(dir, ['--port', '0', '--no-expiry']);
  try {
    await third.waitForLog(/"msg":"serving"/);
  } finally {
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }
});
