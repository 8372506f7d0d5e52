import { spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { CLI_BIN, collectorCli, COLLECTOR_BIN, makeTempDir } from '../../../test-support/collector';

// The real bin: a usage error is exit 2 and one line on stderr that says what to do, as the
// contract asks of jcs-errors (and section 4 of jcs-collector: "exit codes as for jcs-errors").

/** A data dir made by the real `init`. */
function initialisedDataDir(): string {
  const dataDir = path.join(makeTempDir(), 'data');
  expect(collectorCli(['init', '--data-dir', dataDir]).status).toBe(0);
  return dataDir;
}

describe('jcs-collector usage errors', () => {
  it.each([
    [['init', '--bogus'], "unknown option '--bogus'", 'jcs-collector init'],
    [
      ['token', 'create', '--name', 'a'],
      "required option '--role <role>' not specified",
      'jcs-collector token create',
    ],
    [['serve', '--host'], "option '--host <host>' argument missing", 'jcs-collector serve'],
    [['bogus'], "unknown command 'bogus'", 'jcs-collector'],
    // commander's suggestion, on the same line
    [['tokn'], "unknown command 'tokn' (did you mean token?)", 'jcs-collector'],
    [
      ['serve', '--prot', '1'],
      "unknown option '--prot' (did you mean --port?)",
      'jcs-collector serve',
    ],
    [
      ['token', 'list', 'extra'],
      "too many arguments for 'list'. Expected 0 arguments but got 1",
      'jcs-collector token list',
    ],
  ])('%j: exit 2, one line naming the usage to read', (args, reason, command) => {
    const r = collectorCli([...args, '--data-dir', path.join(makeTempDir(), 'data')]);
    expect(r).toEqual({
      status: 2,
      stdout: '',
      stderr: `jcs-collector: ${reason}: ${command} --help shows the usage\n`,
    });
  });

  it.each([
    [
      [],
      'no command given (one of init, token, serve, key, expire, audit): see jcs-collector --help',
    ],
    [
      ['token'],
      'token needs a command (one of create, list, revoke): see jcs-collector token --help',
    ],
    [['audit'], 'audit needs a command (one of verify): see jcs-collector audit --help'],
    [['help', 'bogus'], "unknown command 'bogus': see jcs-collector --help"],
    [['token', 'help', 'bogus'], "unknown command 'token bogus': see jcs-collector token --help"],
    // A help flag does not make a mistyped command a success (commander showed the main help, 0).
    [['bogus', '--help'], "unknown command 'bogus': see jcs-collector --help"],
    [['token', 'bogus', '-h'], "unknown command 'token bogus': see jcs-collector token --help"],
    [['help', 'token', 'bogus'], "unknown command 'token bogus': see jcs-collector token --help"],
  ])('%j (no command): exit 2, one line naming what may follow', (args, line) => {
    const r = collectorCli([...args, '--data-dir', path.join(makeTempDir(), 'data')]);
    expect(r).toEqual({ status: 2, stdout: '', stderr: `jcs-collector: ${line}\n` });
  });

  it('serve with a JCS_LOG_LEVEL that names no level: exit 2, one line naming the levels', () => {
    const dataDir = initialisedDataDir();
    const r = collectorCli(['serve', '--port', '0', '--data-dir', dataDir], {
      JCS_LOG_LEVEL: 'bogus',
    });
    expect(r).toEqual({
      status: 2,
      stdout: '',
      stderr:
        'jcs-collector: JCS_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, not "bogus"\n',
    });
  });

  it('an option given twice with different values: exit 2, and nothing is made', () => {
    const dataDir = initialisedDataDir();
    const create = (...roles: string[]) =>
      collectorCli([
        'token',
        'create',
        '--name',
        'ci',
        ...roles.flatMap((r) => ['--role', r]),
        '--data-dir',
        dataDir,
      ]);
    expect(create('admin', 'ingest')).toEqual({
      status: 2,
      stdout: '',
      stderr:
        "jcs-collector: option '--role' was given twice, with different values: give it once: jcs-collector token create --help shows the usage\n",
    });
    expect(collectorCli(['token', 'list', '--data-dir', dataDir]).stdout).not.toMatch(/ci/);
    // The same value twice (a wrapper adding a flag the caller gave too) is no conflict.
    const same = create('admin', 'admin');
    expect(same.status).toBe(0);
    expect(collectorCli(['token', 'list', '--data-dir', dataDir]).stdout).toMatch(/ci\s+admin/);
  });

  it('an option whose value was left out before another option: exit 2 naming it, nothing made', () => {
    const dataDir = initialisedDataDir();
    expect(
      collectorCli(['token', 'create', '--name', '--role', 'admin', '--data-dir', dataDir]),
    ).toEqual({
      status: 2,
      stdout: '',
      stderr:
        "jcs-collector: option '--name' is missing its value (the next word, '--role', is an option): jcs-collector token create --help shows the usage\n",
    });
    expect(collectorCli(['token', 'list', '--data-dir', dataDir]).stdout).not.toMatch(/--role/);
  });

  it.each([
    [['token', '--help'], 'jcs-collector token'],
    [['help'], 'jcs-collector'],
    [['help', 'serve'], 'jcs-collector serve'],
    [['help', 'token'], 'jcs-collector token'],
    [['token', 'help', 'create'], 'jcs-collector token create'],
    // `help` names the whole command (commander showed `token`'s help), or is its own topic.
    [['help', 'token', 'create'], 'jcs-collector token create'],
    [['help', 'help'], 'jcs-collector'],
    [['--data-dir', 'somewhere', 'help', 'audit', 'verify'], 'jcs-collector audit verify'],
  ])('%j is not a failure: the usage on stdout, exit 0', (args, usage) => {
    const r = collectorCli(args);
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith(`Usage: ${usage} [options]`)).toBe(true);
    expect(r.stderr).toBe('');
  });
});

describe('--version', () => {
  it('--version and -V print the version alone on stdout, exit 0', () => {
    const { version } = JSON.parse(
      fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = spawnSync(process.execPath, [COLLECTOR_BIN, flag], { encoding: 'utf8' });
      expect([r.status, r.stdout, r.stderr]).toEqual([0, `${version}\n`, '']);
    }
  });
});

describe('--data-dir', () => {
  it('an empty JCS_COLLECTOR_DATA_DIR is unset: ./jcs-data, not the current directory', () => {
    const cwd = makeTempDir();
    const r = spawnSync(process.execPath, [COLLECTOR_BIN, 'init'], {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, JCS_COLLECTOR_DATA_DIR: '' },
    });
    expect(r.status).toBe(0);
    expect(fs.readdirSync(cwd)).toEqual(['jcs-data']);
    expect(fs.existsSync(path.join(cwd, 'jcs-data', 'collector.db'))).toBe(true);
  });

  it('an empty --data-dir (a script\'s unset "$DIR") is a usage error that touches nothing', () => {
    const cwd = makeTempDir();
    fs.chmodSync(cwd, 0o755);
    for (const args of [['init'], ['token', 'list'], ['expire', '--dry-run']]) {
      const r = spawnSync(process.execPath, [COLLECTOR_BIN, ...args, '--data-dir', ''], {
        cwd,
        encoding: 'utf8',
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^jcs-collector: --data-dir is empty: give a directory/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(fs.readdirSync(cwd)).toEqual([]);
    expect(fs.statSync(cwd).mode & 0o777).toBe(0o755);
  });

  it.each([
    [
      ['token', 'revoke', ''],
      'token revoke needs the name of a token (a script\'s unset "$NAME"?): see jcs-collector token list --data-dir DIR',
    ],
    [
      ['serve', '--port', '0', '--tls-cert', '', '--tls-key', 'key.pem'],
      '--tls-cert is empty: give the path of its PEM file, or leave out both --tls-cert and --tls-key for plain HTTP',
    ],
    [
      ['serve', '--port', '0', '--host', ''],
      '--host is empty: give an address of this machine to listen on, such as 127.0.0.1 (0.0.0.0 for every interface)',
    ],
    [
      ['serve', '--port', '0', '--host', ' '],
      '--host is empty: give an address of this machine to listen on, such as 127.0.0.1 (0.0.0.0 for every interface)',
    ],
    [
      ['serve', '--port', '0', '--tls-cert', 'cert.pem', '--tls-key', ''],
      '--tls-key is empty: give the path of its PEM file, or leave out both --tls-cert and --tls-key for plain HTTP',
    ],
  ])('%j (an empty value): exit 2, one line saying it is empty', (args, line) => {
    const dir = initialisedDataDir();
    const r = collectorCli([...args, '--data-dir', dir]);
    expect(r).toEqual({
      status: 2,
      stdout: '',
      stderr: `jcs-collector: ${line.replace(/DIR$/, dir)}\n`,
    });
  });
});

describe('stdout that cannot take the output', () => {
  /** The real bin with stdout on /dev/full (every write fails with ENOSPC). */
  function toFullDisk(args: string[]): { status: number | null; stderr: string } {
    const full = fs.openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [COLLECTOR_BIN, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', full, 'pipe'],
      });
      return { status: r.status, stderr: r.stderr };
    } finally {
      fs.closeSync(full);
    }
  }

  it('token create: exit 1, one line, and the token that nobody saw is not kept', () => {
    const dataDir = initialisedDataDir();
    const r = toFullDisk([
      'token',
      'create',
      '--name',
      'alice',
      '--role',
      'admin',
      '--data-dir',
      dataDir,
    ]);
    expect(r).toEqual({
      status: 1,
      stderr:
        'jcs-collector: could not print the token (ENOSPC), so it was not kept: run token create again with stdout going where it can be read\n',
    });
    const list = collectorCli(['token', 'list', '--json', '--data-dir', dataDir]);
    expect(JSON.parse(list.stdout)).toEqual([]);
    // and the name is free again
    expect(
      collectorCli(['token', 'create', '--name', 'alice', '--role', 'admin', '--data-dir', dataDir])
        .status,
    ).toBe(0);
  });

  it('token create with stdout on /dev/null, or closed: exit 1, and no token is made', () => {
    const dataDir = initialisedDataDir();
    const args = ['token', 'create', '--name', 'bob', '--role', 'engineer', '--data-dir', dataDir];
    const line =
      'jcs-collector: stdout goes to /dev/null (or was closed), where nobody could read the token, so none was made: run token create again with stdout going where it can be read\n';
    const devNull = fs.openSync('/dev/null', 'w');
    try {
      const r = spawnSync(process.execPath, [COLLECTOR_BIN, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', devNull, 'pipe'],
      });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 1, stderr: line });
    } finally {
      fs.closeSync(devNull);
    }
    // `>&-` in a shell: Node opens /dev/null in the closed stdout's place
    const quoted = [process.execPath, COLLECTOR_BIN, ...args].map((a) => `'${a}'`).join(' ');
    const closed = spawnSync('/bin/sh', ['-c', `${quoted} >&-`], { encoding: 'utf8' });
    expect({ status: closed.status, stderr: closed.stderr }).toEqual({ status: 1, stderr: line });
    const list = collectorCli(['token', 'list', '--json', '--data-dir', dataDir]);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it('any other command: exit 1 and one line, no stack trace', () => {
    const dataDir = initialisedDataDir();
    for (const args of [
      ['token', 'list', '--json'],
      ['expire', '--dry-run', '--json'],
    ]) {
      const r = toFullDisk([...args, '--data-dir', dataDir]);
      expect(r).toEqual({
        status: 1,
        stderr:
          'jcs-collector: cannot write the output (ENOSPC): check where stdout goes (a full disk?) and run again\n',
      });
    }
  });
});

/** Every file under `dir` with its size and modification time. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const stat = fs.statSync(path.join(dir, name));
    files[name] = `${stat.size} ${stat.mtimeMs}`;
  }
  return files;
}

describe('serve on a port already taken', () => {
  it('exit 1 and one line that says what to do, and the data dir is left as it was', async () => {
    const dataDir = initialisedDataDir();
    const before = snapshot(dataDir);
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = collectorCli(['serve', '--port', String(port), '--data-dir', dataDir]);
      expect(r).toEqual({
        status: 1,
        stdout: '',
        stderr: `jcs-collector: cannot listen on 127.0.0.1:${port}: something already listens there (another serve?): stop it, or choose another --port\n`,
      });
      // No inbox.db or serve.lock made, no file rewritten: the port is tried before the data dir.
      expect(snapshot(dataDir)).toEqual(before);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});

describe('a data dir whose database is gone but whose keys are there', () => {
  it('init and the other commands point to the backup, not at each other', () => {
    const dataDir = initialisedDataDir();
    fs.rmSync(path.join(dataDir, 'collector.db'));
    const init = collectorCli(['init', '--data-dir', dataDir]);
    expect(init.status).toBe(1);
    expect(init.stderr).toBe(
      `jcs-collector: ${dataDir} has a keys folder but no database: restore collector.db from its backup, ` +
        'or, to start afresh, move the keys folder away first (init never overwrites keys)\n',
    );
    const list = collectorCli(['token', 'list', '--data-dir', dataDir]);
    expect(list.status).toBe(1);
    expect(list.stderr).toMatch(
      /though its keys folder is there: restore collector\.db from its backup\n$/,
    );
    expect(fs.readdirSync(dataDir)).toEqual(['keys']);
  });

  it('and the other way round: init says the keys folder is missing, as serve does', () => {
    const dataDir = initialisedDataDir();
    fs.renameSync(path.join(dataDir, 'keys'), path.join(dataDir, '..', 'keys.away'));
    const init = collectorCli(['init', '--data-dir', dataDir]);
    expect(init.status).toBe(1);
    expect(init.stderr).toBe(
      `jcs-collector: ${dataDir} has a database but no keys folder: restore the keys folder ${dataDir}/keys from where you keep it (the reports cannot be read without it), ` +
        'or, to start afresh, use another --data-dir (init never overwrites a database)\n',
    );
    expect(fs.existsSync(path.join(dataDir, 'keys'))).toBe(false);
    const list = collectorCli(['token', 'list', '--data-dir', dataDir]);
    expect(list.status).toBe(1);
    expect(list.stderr).toMatch(/the keys folder .* is missing: restore it from where you keep it/);
  });
});

describe('init on a path that cannot be a data dir', () => {
  it('/proc, where nothing can be made: exit 1 and one line that says what to do', () => {
    const r = collectorCli(['init', '--data-dir', '/proc/jcs-nope']);
    expect(r).toEqual({
      status: 1,
      stdout: '',
      stderr:
        'jcs-collector: cannot create /proc/jcs-nope (ENOENT): choose a --data-dir this user may write to\n',
    });
  });

  it('a file, or a folder under a file: exit 1 and one line that says what to do', () => {
    const file = path.join(makeTempDir(), 'a-file');
    fs.writeFileSync(file, 'x');
    for (const dir of [file, path.join(file, 'data')]) {
      expect(collectorCli(['init', '--data-dir', dir])).toEqual({
        status: 1,
        stdout: '',
        stderr: `jcs-collector: ${dir} cannot be a data dir: it, or a folder above it, is a file (choose another --data-dir)\n`,
      });
    }
  });
});

describe('stderr going nowhere', () => {
  // `cmd 2>&1 | true` in a script: the line cannot be written, and the exit code must still say
  // what happened (it was 1 whatever the reason: an unhandled EPIPE on stderr).
  const exitThroughClosedPipe = (bin: string, args: string[]) =>
    spawnSync(
      'bash',
      ['-c', '"$@" 2>&1 | true; echo "${PIPESTATUS[0]}"', 'bash', process.execPath, bin, ...args],
      { encoding: 'utf8' },
    ).stdout.trim();

  it.each([
    ['jcs-collector', ['bogus'], '2'],
    ['jcs-collector', ['expire', '--now', 'banana'], '2'],
    ['jcs-collector', ['token', 'revoke', 'nosuch'], '4'],
    ['jcs-errors', ['bogus'], '2'],
    ['jcs-errors', ['show', 'f', '--server', 'http://127.0.0.1:9'], '1'],
  ])('%s %j keeps exit %s', (name, args, code) => {
    const extra = name === 'jcs-collector' ? ['--data-dir', initialisedDataDir()] : [];
    const bin = name === 'jcs-collector' ? COLLECTOR_BIN : CLI_BIN;
    expect(exitThroughClosedPipe(bin, [...args, ...extra])).toBe(code);
  });
});
