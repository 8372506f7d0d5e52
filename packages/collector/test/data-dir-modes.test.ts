import fs from 'node:fs';
import path from 'node:path';
import { collectorCli, makeTempDir } from '../../../test-support/collector';
import { looseModes } from '../src/commands/data-dir-modes';
import { spawnServe } from './helpers/serve-process';

jest.setTimeout(60_000);

function initialised(): string {
  const dir = path.join(makeTempDir(), 'data');
  expect(collectorCli(['init', '--data-dir', dir]).status).toBe(0);
  return dir;
}

describe('a data dir open to other users', () => {
  test('as init made it: nothing to say', () => {
    expect(looseModes(initialised())).toEqual([]);
  });

  test('names each part others may read, with the chmod that closes it', () => {
    const dir = initialised();
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(path.join(dir, 'keys', 'master.key'), 0o640);
    fs.chmodSync(path.join(dir, 'collector.db'), 0o604);
    expect(looseModes(dir)).toEqual([
      `${dir} is open to other users (mode 0755): chmod 700 it, as init made it`,
      `${path.join(dir, 'keys', 'master.key')} is open to other users (mode 0640): chmod 600 it, as init made it`,
      `${path.join(dir, 'collector.db')} is open to other users (mode 0604): chmod 600 it, as init made it`,
    ]);
  });

  test('serve starts, and warns on stderr and in its log', async () => {
    const dir = initialised();
    const key = path.join(dir, 'keys', 'master.key');
    fs.chmodSync(key, 0o644);
    const serve = await spawnServe(dir, ['--no-expiry']);
    try {
      const line = `${key} is open to other users (mode 0644): chmod 600 it, as init made it`;
      await serve.waitForLog(/"msg":"serving"/);
      expect(serve.stderr()).toContain(`jcs-collector: ${line}\n`);
      expect(serve.stderr()).toContain(`"level":40`);
      expect(serve.stderr()).toContain(`"msg":"${line}"`);
    } finally {
      serve.child.kill('SIGTERM');
      expect(await serve.exited).toBe(0);
    }
  });
});
