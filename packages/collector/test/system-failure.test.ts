import { systemFailure } from '../src/commands/system-failure';

const failure = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('systemFailure: one line for a failure of the machine', () => {
  it.each([
    ['ENOSPC', 'ENOSPC: no space left on device, write', /^the disk is full: free some space/],
    ['SQLITE_FULL', 'database or disk is full', /^the disk is full/],
    [
      'SQLITE_IOERR_SHMSIZE',
      'disk I/O error',
      /^the disk reported an I\/O error: check that it has free space/,
    ],
    ['SQLITE_BUSY', 'database is locked', /^the database is locked by another process/],
    [
      'EACCES',
      "EACCES: permission denied, open '/srv/jcs/collector.db'",
      /^permission denied: run as the user that owns the data dir, and keep its folders mode 0700 and files 0600 \(chown -R; chmod\)/,
    ],
    [
      'SQLITE_READONLY_DBMOVED',
      'attempt to write a readonly database',
      /^the database cannot be written: run as the user that owns the data dir, and keep its folders mode 0700 and files 0600/,
    ],
    ['EROFS', 'EROFS: read-only file system', /read-only: put the data dir on a writable one/],
  ])('%s', (code, message, remedy) => {
    const line = systemFailure(failure(code, message));
    expect(line).toMatch(remedy);
    expect(line).toContain(`(${message})`);
  });

  it('leaves anything else to the "unexpected failure" line', () => {
    expect(systemFailure(new TypeError('x is undefined'))).toBeUndefined();
    expect(systemFailure(failure('ERR_INVALID_ARG_TYPE', 'bad argument'))).toBeUndefined();
    expect(
      systemFailure(failure('SQLITE_CONSTRAINT_UNIQUE', 'UNIQUE constraint failed')),
    ).toBeUndefined();
    expect(systemFailure(null)).toBeUndefined();
    expect(systemFailure('ENOSPC')).toBeUndefined();
  });
});
