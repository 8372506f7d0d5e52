import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createReporter, type Diagnostic } from '../src';
import {
  QUEUE_KEY_FILE,
  QueueKeyError,
  loadOrCreateQueueKey,
  readQueueKeyFile,
} from '../src/queue/queue-key';
import { cleanupTempDirs, optionsFor, tempDir } from './helpers/fixtures';
import { deadEndpoint } from './helpers/host';

function queueDir() {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'tmp'));
  return dir;
}

afterEach(() => jest.restoreAllMocks());
afterAll(cleanupTempDirs);

describe('the queue key file', () => {
  it('is made once: 32 random bytes, readable by the user alone, then reused', () => {
    const dir = queueDir();
    const key = loadOrCreateQueueKey(dir, path.join(dir, 'tmp'));
    const file = path.join(dir, QUEUE_KEY_FILE);
    expect(key).toHaveLength(32);
    expect(new Uint8Array(fs.readFileSync(file))).toEqual(key);
    if (process.platform !== 'win32') expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(loadOrCreateQueueKey(dir, path.join(dir, 'tmp'))).toEqual(key);
    expect(fs.readdirSync(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('never replaces a key another process published after this one looked', () => {
    const dir = queueDir();
    const theirs = randomBytes(32);
    fs.writeFileSync(path.join(dir, QUEUE_KEY_FILE), theirs, { mode: 0o600 });
    // The other process's key lands just after our first look found none.
    const read = fs.readFileSync;
    let looked = false;
    jest.spyOn(fs, 'readFileSync').mockImplementation(((
      file: fs.PathOrFileDescriptor,
      o?: never,
    ) => {
      if (!looked && String(file).endsWith(QUEUE_KEY_FILE)) {
        looked = true;
        throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      }
      return read(file, o);
    }) as typeof fs.readFileSync);
    const key = loadOrCreateQueueKey(dir, path.join(dir, 'tmp'));
    expect(looked).toBe(true);
    expect(Buffer.from(key)).toEqual(theirs);
    expect(read(path.join(dir, QUEUE_KEY_FILE))).toEqual(theirs);
    expect(fs.readdirSync(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('a damaged key file is left alone; the reporter holds reports in memory and says so', async () => {
    const dir = queueDir();
    const file = path.join(dir, QUEUE_KEY_FILE);
    fs.writeFileSync(file, 'not a key');
    expect(() => readQueueKeyFile(dir)).toThrow(QueueKeyError);
    const diagnostics: Diagnostic[] = [];
    const r = createReporter(
      optionsFor(
        { url: await deadEndpoint(), token: 't', publicKey: randomBytes(32).toString('base64') },
        diagnostics,
        {
          queueDir: dir,
        },
      ),
    );
    expect(() => r.report({ description: 'x' })).not.toThrow();
    await r.close(0);
    expect(diagnostics[0]).toMatchObject({ code: 'queue_unavailable' });
    expect(diagnostics[0].message).toContain('QUEUE_KEY_INVALID');
    expect(fs.readFileSync(file, 'utf8')).toBe('not a key');
  });
});
