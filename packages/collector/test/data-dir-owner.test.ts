import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { collectorCli, COLLECTOR_BIN, makeTempDir } from '../../../test-support/collector';
import { refuseForeignDataDir } from '../src/commands/data-dir-owner';

/**
 * Root running a command on a data dir another user owns would leave root's files in it, which
 * the serve running as that user cannot read: refused, naming the user to run as.
 */

const NOBODY = 65534;

/** A dir owned by someone other than root: chowned when we are root, ours otherwise. */
function foreignDir(): { dir: string; owner: number } {
  const dir = makeTempDir();
  if (process.getuid?.() === 0) fs.chownSync(dir, NOBODY, NOBODY);
  return { dir, owner: fs.statSync(dir).uid };
}

describe('refuseForeignDataDir', () => {
  it('as root, on a dir another user owns: refused, naming that user from the user database', () => {
    const { dir, owner } = foreignDir();
    const passwd = path.join(makeTempDir(), 'passwd');
    fs.writeFileSync(passwd, `root:x:0:0::/root:/bin/sh\njcs:x:${owner}:${owner}::/:/bin/false\n`);
    expect(() => refuseForeignDataDir(dir, 0, passwd)).toThrow(
      `${dir} belongs to jcs (uid ${owner}), and this is root: run jcs-collector as that user (sudo -u jcs jcs-collector ... --data-dir ${dir}), so that serve can read the files this command would make (if serve runs as root, chown -R root ${dir} instead)`,
    );
  });

  it('names the uid alone when the user database does not know it', () => {
    const { dir, owner } = foreignDir();
    expect(() => refuseForeignDataDir(dir, 0, path.join(makeTempDir(), 'none'))).toThrow(
      `${dir} belongs to uid ${owner}, and this is root: run jcs-collector as that user (sudo -u '#${owner}' jcs-collector ... --data-dir ${dir})`,
    );
  });

  it('keeps a master key given in the environment through sudo, which resets the environment', () => {
    const { dir, owner } = foreignDir();
    const passwd = path.join(makeTempDir(), 'passwd');
    fs.writeFileSync(passwd, `jcs:x:${owner}:${owner}::/:/bin/false\n`);
    process.env.JCS_COLLECTOR_MASTER_KEY = 'set';
    try {
      expect(() => refuseForeignDataDir(dir, 0, passwd)).toThrow(
        `(sudo -u jcs --preserve-env=JCS_COLLECTOR_MASTER_KEY jcs-collector ... --data-dir ${dir})`,
      );
    } finally {
      delete process.env.JCS_COLLECTOR_MASTER_KEY;
    }
  });

  it('lets the owner run, lets root run on its own dir, and leaves a missing dir to the command', () => {
    const { dir, owner } = foreignDir();
    expect(() => refuseForeignDataDir(dir, owner)).not.toThrow();
    const rootDir = makeTempDir();
    if (fs.statSync(rootDir).uid === 0)
      expect(() => refuseForeignDataDir(rootDir, 0)).not.toThrow();
    expect(() => refuseForeignDataDir(path.join(dir, 'not-yet'), 0)).not.toThrow();
  });

  it('tells the owner shut out of its own data dir by its mode to open it, not to run as itself', () => {
    const { dir, owner } = foreignDir();
    try {
      for (const mode of [0o500, 0o600, 0o300]) {
        fs.chmodSync(dir, mode);
        expect(() => refuseForeignDataDir(dir, owner)).toThrow(
          `${dir} belongs to this user but its mode (0${mode.toString(8)}) does not let it write there: chmod 700 ${dir}`,
        );
      }
      fs.chmodSync(dir, 0o750);
      expect(() => refuseForeignDataDir(dir, owner)).not.toThrow();
    } finally {
      fs.chmodSync(dir, 0o700);
    }
  });

  it("leaves a file to the command, whoever owns it: it is no data dir, not another user's", () => {
    const file = path.join(makeTempDir(), 'afile');
    fs.writeFileSync(file, '');
    const owner = fs.statSync(file).uid;
    expect(() => refuseForeignDataDir(file, owner + 1)).not.toThrow();
    expect(() => refuseForeignDataDir(file, 0)).not.toThrow();
  });
});

const asRoot = process.getuid?.() === 0 ? it : it.skip;

/** Gives a tree to `uid`, as if that user had made it. */
function chownAll(p: string, uid: number): void {
  fs.chownSync(p, uid, uid);
  if (fs.statSync(p).isDirectory())
    for (const f of fs.readdirSync(p)) chownAll(path.join(p, f), uid);
}

/**
 * A data dir made by init under /tmp, which another user can reach (the Jest run's temp folder
 * is closed to others), and the real bin run on it as `nobody`.
 */
function reachableDataDir(prefix: string) {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(top, 0o755);
  const dataDir = path.join(top, 'data');
  expect(collectorCli(['init', '--data-dir', dataDir]).status).toBe(0);
  const asNobody = (args: string[]) => {
    const r = spawnSync(process.execPath, [COLLECTOR_BIN, ...args, '--data-dir', dataDir], {
      encoding: 'utf8',
      uid: NOBODY,
      gid: NOBODY,
      timeout: 30_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return { top, dataDir, asNobody, remove: () => fs.rmSync(top, { recursive: true, force: true }) };
}

asRoot(
  'the real bin as root on a data dir made by another user: exit 1, one line, no file made',
  () => {
    const dataDir = path.join(makeTempDir(), 'data');
    expect(collectorCli(['init', '--data-dir', dataDir]).status).toBe(0);
    // As if `sudo -u jcs jcs-collector init` had made it.
    chownAll(dataDir, NOBODY);
    const files = () => fs.readdirSync(dataDir, { recursive: true }).map(String).sort();
    const before = files();
    for (const args of [['token', 'list'], ['key', 'rotate'], ['expire', '--dry-run'], ['init']]) {
      const r = collectorCli([...args, '--data-dir', dataDir]);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(
        new RegExp(
          `^jcs-collector: ${dataDir} belongs to .*uid ${NOBODY}.*, and this is root: run jcs-collector as that user .*\\n$`,
        ),
      );
    }
    expect(files()).toEqual(before);
  },
);

asRoot(
  "the real bin as the data dir's owner, its mode closed to writing: exit 1, the chmod that opens it",
  () => {
    const { dataDir, asNobody, remove } = reachableDataDir('jcs-closed-mode-');
    try {
      chownAll(dataDir, NOBODY);
      fs.chmodSync(dataDir, 0o500);
      for (const args of [
        ['token', 'list'],
        ['expire', '--dry-run'],
      ]) {
        expect(asNobody(args)).toEqual({
          status: 1,
          stdout: '',
          stderr: `jcs-collector: ${dataDir} belongs to this user but its mode (0500) does not let it write there: chmod 700 ${dataDir}\n`,
        });
      }
      fs.chmodSync(dataDir, 0o700);
      expect(asNobody(['token', 'list']).status).toBe(0);
    } finally {
      remove();
    }
  },
);

const hasSudo = spawnSync('sudo', ['--version']).status === 0;

(process.getuid?.() === 0 && hasSudo ? it : it.skip)(
  "the real bin as root on another user's data dir given by environment: the advised sudo line works as pasted",
  () => {
    const top = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-sudo advice-'));
    try {
      fs.chmodSync(top, 0o755);
      const dataDir = path.join(top, 'data');
      const env = {
        ...process.env,
        JCS_COLLECTOR_DATA_DIR: dataDir,
        JCS_COLLECTOR_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
      };
      const run = (args: string[]) =>
        spawnSync(process.execPath, [COLLECTOR_BIN, ...args], { encoding: 'utf8', env });
      expect(run(['init']).status).toBe(0);
      chownAll(dataDir, NOBODY);
      const refused = run(['token', 'list']);
      expect(refused.status).toBe(1);
      const line = /\((sudo -u nobody .*?jcs-collector) \.\.\. (--data-dir .*?)\), so that/.exec(
        refused.stderr,
      );
      expect(line).not.toBeNull();
      // Pasted with the command filled in, from a folder with no ./jcs-data.
      const pasted = `${line![1].replace(/jcs-collector$/, `"${process.execPath}" "${COLLECTOR_BIN}"`)} token list ${line![2]}`;
      const r = spawnSync('sh', ['-c', pasted], { cwd: makeTempDir(), encoding: 'utf8', env });
      expect(r.stderr).toMatch(/no tokens yet/);
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(top, { recursive: true, force: true });
    }
  },
);

asRoot(
  'the real bin as another user than the owner: one line naming the owner, not "run init"',
  () => {
    const { top, dataDir, asNobody, remove } = reachableDataDir('jcs-owner-');
    try {
      const files = () => fs.readdirSync(dataDir, { recursive: true }).map(String).sort();
      const before = files();
      const refused = {
        status: 1,
        stdout: '',
        stderr: `jcs-collector: ${dataDir} belongs to root (uid 0), and this user (uid ${NOBODY}) may not read and write it: run jcs-collector as that user (sudo -u root jcs-collector ... --data-dir ${dataDir})\n`,
      };
      // 0700 as init made it, then 0755 (readable, not writable): before, `serve` said
      // "unexpected failure" and the others "no collector database ...: run jcs-collector init".
      for (const mode of [0o700, 0o755]) {
        fs.chmodSync(dataDir, mode);
        for (const args of [
          ['token', 'list'],
          ['key', 'rotate'],
          ['expire'],
          ['serve', '--port', '0'],
        ])
          expect(asNobody(args)).toEqual(refused);
      }
      fs.chmodSync(top, 0o700);
      expect(asNobody(['token', 'list'])).toEqual({
        status: 1,
        stdout: '',
        stderr: `jcs-collector: this user cannot reach ${dataDir} (${top} is closed to it): open it to this user (chmod o+x ${top}), or run jcs-collector as the user the data dir belongs to\n`,
      });
      expect(files()).toEqual(before);
    } finally {
      remove();
    }
  },
);

asRoot(
  "the collector's user on a data dir whose files a restore as root left root's: one line naming chown",
  () => {
    const { dataDir, asNobody, remove } = reachableDataDir('jcs-restored-');
    try {
      const sealed = path.join(dataDir, 'sealed');
      fs.mkdirSync(sealed, { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(sealed, '2026-11-30.sealed'), '', { mode: 0o600 });
      chownAll(dataDir, NOBODY);
      expect(asNobody(['token', 'list']).status).toBe(0);
      const refused = (file: string) => ({
        status: 1,
        stdout: '',
        stderr: `jcs-collector: ${file} is not this user's to read and write (as after a restore made as root): give the data dir's files to the collector's user (as root: chown -R nobody ${dataDir}), then run again\n`,
      });
      // Before: "unexpected failure: unable to open database file: run again with JCS_DEBUG=1".
      const db = path.join(dataDir, 'collector.db');
      fs.chownSync(db, 0, 0);
      expect(asNobody(['token', 'list'])).toEqual(refused(db));
      fs.chownSync(db, NOBODY, NOBODY);
      // Before: serve started, answered health checks, and refused every report with a 503.
      chownAll(sealed, 0);
      expect(asNobody(['serve', '--port', '0'])).toEqual(refused(sealed));
      fs.chownSync(sealed, NOBODY, NOBODY);
      const file = path.join(sealed, '2026-11-30.sealed');
      expect(asNobody(['expire', '--dry-run'])).toEqual(refused(file));
      fs.chownSync(file, NOBODY, NOBODY);
      // the user's own file, shut out by its mode: a chmod, not a chown
      fs.chmodSync(db, 0o000);
      expect(asNobody(['token', 'list'])).toEqual({
        status: 1,
        stdout: '',
        stderr: `jcs-collector: ${db} is this user's but its mode shuts it out: chmod u+rw ${db} (or chmod -R u+rwX ${dataDir}), then run again\n`,
      });
      fs.chmodSync(db, 0o600);
      expect(asNobody(['token', 'list']).status).toBe(0);
    } finally {
      remove();
    }
  },
);
