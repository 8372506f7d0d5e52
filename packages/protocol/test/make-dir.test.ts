import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeDirSync } from '../src';

describe('makeDirSync', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-make-dir-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('makes missing parents with the mode given, and is a no-op on an existing directory', () => {
    const dir = path.join(tmp, 'a', 'b', 'c');
    makeDirSync(dir, 0o700);
    expect(fs.statSync(dir).isDirectory()).toBe(true);
    expect(fs.statSync(path.join(tmp, 'a')).mode & 0o777).toBe(0o700);
    makeDirSync(dir, 0o700);
  });

  it('refuses a path through a file', () => {
    fs.writeFileSync(path.join(tmp, 'file'), 'x');
    expect(() => makeDirSync(path.join(tmp, 'file', 'sub'))).toThrow(
      expect.objectContaining({ code: 'ENOTDIR' }),
    );
    expect(() => makeDirSync(path.join(tmp, 'file'))).toThrow(
      expect.objectContaining({ code: 'ENOTDIR' }),
    );
  });

  // Node's recursive mkdir never returns here (it retries the level /proc refuses for ever).
  (fs.existsSync('/proc/self') ? it : it.skip)(
    'fails at once where a parent refuses new entries (/proc), instead of looping',
    () => {
      expect(() => makeDirSync('/proc/nonexistent/queue', 0o700)).toThrow(
        expect.objectContaining({ code: 'ENOENT' }),
      );
    },
  );
});
