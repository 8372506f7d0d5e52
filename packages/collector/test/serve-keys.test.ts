import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { COLLECTOR_BIN, makeTempDir } from '../../../test-support/collector';
import { makeReport } from '../../../test-support/reports';
import { processIdentity } from '../src/commands/process-identity';
import { runCollector, spawnServe } from './helpers/serve-process';

/**
 * The keys folder at start-up: `serve` refuses, with one clear line and exit 1, when it is missing
 * or does not open; `init` never overwrites keys; `JCS_COLLECTOR_MASTER_KEY` keeps the master key
 * off the disk.
 */

// Each case spawns the real bin, which takes a second or two on a busy machine.
jest.setTimeout(60_000);

const newDataDir = () => path.join(makeTempDir(), 'data');

/** One `init` for the whole file; each case works on its own copy of it. */
let template: { dir: string; stdout: string };
beforeAll(() => {
  const dir = newDataDir();
  template = { dir, stdout: init(dir).stdout };
});
function initialised(): string {
  const dir = newDataDir();
  fs.cpSync(template.dir, dir, { recursive: true });
  return dir;
}

function init(dataDir: string, env: NodeJS.ProcessEnv = {}) {
  const r = runCollector(['init', '--data-dir', dataDir], env);
  expect(r.status).toBe(0);
  return r;
}

/** Every file under the keys folder with a hash of its bytes. */
function keysSnapshot(dataDir: string): Record<string, string> {
  const keys = path.join(dataDir, 'keys');
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(keys, { recursive: true }).map(String).sort()) {
    const file = path.join(keys, f);
    if (fs.statSync(file).isFile()) {
      out[f] = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    }
  }
  return out;
}

function expectRefusal(dataDir: string, message: RegExp, env: NodeJS.ProcessEnv = {}): void {
  const r = runCollector(['serve', '--port', '0', '--data-dir', dataDir], env);
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^jcs-collector: /);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('serve refuses to start when the keys do not open', () => {
  it('no data dir at all', () => {
    expectRefusal(newDataDir(), /no collector database .*run jcs-collector init/);
  });

  it('--data-dir names a file, or a path under one: no advice to run init, which refuses it', () => {
    const file = path.join(makeTempDir(), 'notadir');
    fs.writeFileSync(file, 'x');
    for (const dir of [file, path.join(file, 'data')]) {
      expectRefusal(
        dir,
        /is not a data dir: it, or a folder above it, is a file \(check --data-dir/,
      );
    }
  });

  it('the keys folder missing', () => {
    const dir = initialised();
    fs.rmSync(path.join(dir, 'keys'), { recursive: true });
    expectRefusal(dir, /keys folder .* is missing/);
  });

  it('the keys folder is a file', () => {
    const dir = initialised();
    fs.rmSync(path.join(dir, 'keys'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'keys'), 'x');
    expectRefusal(dir, /keys folder .* is not a folder/);
  });

  // Root reads any file, so as root the collector runs as another user (nobody), as a service's
  // account would, on a data dir handed to it.
  it.each([
    [
      'the keys folder',
      'keys',
      /keys folder .* is not readable by this user: run the collector as the folder's owner.*chmod 700/,
    ],
    [
      'the master key',
      'keys/master.key',
      /key file .*master\.key is not readable by this user: .*chmod 700 folders, 600 files\)/,
    ],
    [
      'the transport key',
      'keys/transport/current',
      /key file .*current is not readable by this user/,
    ],
  ])('%s not readable by the user that runs serve', (_what, file, message) => {
    const asRoot = process.getuid?.() === 0;
    const nobody = 65534;
    // Under the system's temp dir, not the run's (mode 0700, root's): nobody must reach it.
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-perm-'));
    try {
      fs.chmodSync(parent, 0o755);
      const dir = path.join(parent, 'data');
      fs.cpSync(template.dir, dir, { recursive: true });
      if (asRoot) {
        for (const f of ['', ...fs.readdirSync(dir, { recursive: true }).map(String)])
          fs.chownSync(path.join(dir, f), nobody, nobody);
      }
      fs.chmodSync(path.join(dir, file), 0o000);
      const r = spawnSync(
        process.execPath,
        [COLLECTOR_BIN, 'serve', '--port', '0', '--no-expiry', '--data-dir', dir],
        {
          encoding: 'utf8',
          env: { ...process.env, JCS_COLLECTOR_MASTER_KEY: undefined },
          timeout: 15_000,
          ...(asRoot ? { uid: nobody, gid: nobody } : {}),
        },
      );
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });

  it('the master key missing, with no JCS_COLLECTOR_MASTER_KEY', () => {
    const dir = initialised();
    fs.rmSync(path.join(dir, 'keys', 'master.key'));
    expectRefusal(dir, /master key is missing.*JCS_COLLECTOR_MASTER_KEY/);
  });

  it('a wrong JCS_COLLECTOR_MASTER_KEY', () => {
    const dir = initialised();
    expectRefusal(dir, /does not open with this master key/, {
      JCS_COLLECTOR_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
    });
  });

  it('a JCS_COLLECTOR_MASTER_KEY that is not 32 bytes of base64', () => {
    const dir = initialised();
    expectRefusal(dir, /master key must be 32 bytes/, { JCS_COLLECTOR_MASTER_KEY: 'secret' });
  });

  it('a damaged key file', () => {
    const dir = initialised();
    fs.writeFileSync(path.join(dir, 'keys', 'user-hmac.key'), 'AAAA');
    expectRefusal(dir, /user-hmac\.key does not open/);
  });

  it('a damaged day key', () => {
    const dir = initialised();
    fs.writeFileSync(path.join(dir, 'keys', 'days', '2026-11-30.key'), 'AAAA');
    expectRefusal(
      dir,
      /day key .*2026-11-30\.key does not open \(damaged, or from another keys folder\): put the right file back, or remove it/,
    );
  });

  it('a damaged transport key file', () => {
    const dir = initialised();
    fs.writeFileSync(path.join(dir, 'keys', 'transport', 'k1.json'), '{ not json');
    expectRefusal(dir, /transport key file .*k1\.json is damaged/);
  });

  it('a current transport key id with no key file, saying what to do', () => {
    const dir = initialised();
    fs.writeFileSync(path.join(dir, 'keys', 'transport', 'current'), 'k99\n');
    expectRefusal(
      dir,
      /the current transport key k99 is missing from .*transport: restore k99\.json from where you keep the keys folder, or write the id of a key that is there into .*transport\/current$/,
    );
  });
});

describe('init never overwrites keys', () => {
  it('a second init exits non-zero and leaves every key as it was', async () => {
    const dir = initialised();
    const before = keysSnapshot(dir);
    expect(Object.keys(before)).toEqual(
      expect.arrayContaining([
        'master.key',
        'user-hmac.key',
        'audit-hmac.key',
        'transport/k1.json',
      ]),
    );
    const again = runCollector(['init', '--data-dir', dir]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already initialised: init never overwrites keys/);
    expect(keysSnapshot(dir)).toEqual(before);
    // and the collector still starts with them, announcing the same key
    const key = /public key: (\S+)/.exec(template.stdout)![1];
    const p = await spawnServe(dir);
    const answer = await fetch(`${p.url}/v1/public-key`).then((r) => r.json() as Promise<any>);
    expect(answer.publicKey).toBe(key);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('init refuses a data dir whose keys folder alone survives (database lost)', () => {
    const dir = initialised();
    const before = keysSnapshot(dir);
    for (const f of fs.readdirSync(dir)) {
      if (f.startsWith('collector.db')) fs.rmSync(path.join(dir, f));
    }
    expect(runCollector(['init', '--data-dir', dir]).status).toBe(1);
    expect(keysSnapshot(dir)).toEqual(before);
  });
});

/**
 * Runs `command`, as a user would paste it into a shell, from a folder of its own (no ./jcs-data):
 * its `jcs-collector` is the real bin.
 */
function paste(command: string) {
  return spawnSync(
    'sh',
    ['-c', command.replace(/^jcs-collector/, `"${process.execPath}" "${COLLECTOR_BIN}"`)],
    {
      cwd: makeTempDir(),
      encoding: 'utf8',
      env: {
        ...process.env,
        JCS_COLLECTOR_MASTER_KEY: undefined,
        JCS_COLLECTOR_DATA_DIR: undefined,
      },
    },
  );
}

/** The command a one-line refusal advises, from `jcs-collector` to the end of the line. */
function advised(stderr: string, after: RegExp): string {
  const m = new RegExp(`${after.source}(jcs-collector .*)$`, 'm').exec(stderr);
  expect(m).not.toBeNull();
  return m![1];
}

describe('advice that names a command works pasted into a shell, for a data dir that needs quoting', () => {
  const awkwardDataDir = () => path.join(makeTempDir(), "advisers' data");

  it('init stopped part way: the advised init makes the data dir afresh', () => {
    const dir = awkwardDataDir();
    init(dir);
    fs.writeFileSync(path.join(dir, 'init.incomplete'), '');
    const refused = runCollector(['token', 'list', '--data-dir', dir]);
    expect(refused.status).toBe(1);
    const again = paste(advised(refused.stderr, /run it again, /));
    expect(again.stderr).toMatch(/an earlier init of .* was stopped part way/);
    expect(again.status).toBe(0);
    expect(runCollector(['token', 'list', '--data-dir', dir]).status).toBe(0);
  });

  it('no data dir yet: the advised init makes it', () => {
    const dir = awkwardDataDir();
    const refused = runCollector(['token', 'list', '--data-dir', dir]);
    expect(refused.status).toBe(1);
    const made = paste(advised(refused.stderr, /for a new collector, run /));
    expect(made.status).toBe(0);
    expect(made.stdout).toMatch(/^initialised /);
    expect(fs.existsSync(path.join(dir, 'keys', 'master.key'))).toBe(true);
  });

  it('token revoke of an unknown or empty name: the advised token list lists this data dir', () => {
    const dir = awkwardDataDir();
    init(dir);
    expect(
      runCollector(['token', 'create', '--name', 'alice', '--role', 'engineer', '--data-dir', dir])
        .status,
    ).toBe(0);
    const pasted = 'x'.repeat(5000);
    for (const name of ['bob', '', pasted, 'a\u001b[31mred\u0007']) {
      const refused = runCollector(['token', 'revoke', name, '--data-dir', dir]);
      expect(refused.status).toBe(name === '' ? 2 : 4);
      // a name no token can have is not said back whole, nor its control characters raw
      expect(refused.stderr.length).toBeLessThan(400);
      expect(refused.stderr).not.toContain('\u001b');
      const list = paste(advised(refused.stderr, /see /));
      expect(list.status).toBe(0);
      expect(list.stdout).toMatch(/alice\s+engineer/);
    }
  });
});

describe("init's advice on making tokens", () => {
  it('is a command that works pasted into a shell, run from another folder, and token list repeats it', () => {
    // A data dir with a space and a quote in its name, which the advice must quote for the shell.
    const dir = path.join(makeTempDir(), "advisers' data");
    const advice = init(dir)
      .stderr.split('\n')
      .find((l) => l.includes('token create'));
    const command = /create tokens with: (jcs-collector .*) \(ROLE: ingest, engineer or admin\)$/
      .exec(advice ?? '')?.[1]
      ?.replace('NAME', 'triage-bot')
      .replace('ROLE', 'engineer');
    expect(command).toBeDefined();
    // `token list` gives the same advice while there are no tokens.
    const empty = runCollector(['token', 'list', '--data-dir', dir]);
    expect(empty.status).toBe(0);
    expect(empty.stdout).toBe('');
    expect(empty.stderr).toContain(/create tokens with: (.*)$/m.exec(advice!)![1]);
    const made = paste(command!);
    expect(made.stderr).not.toMatch(/jcs-collector: /);
    expect(made.status).toBe(0);
    expect(made.stdout).toMatch(/^\S+\n$/);
    const list = runCollector(['token', 'list', '--data-dir', dir]);
    expect(list.stdout).toMatch(/triage-bot\s+engineer/);
  });
});

describe('an init stopped part way (a kill, a power cut)', () => {
  // What a crash audit found left: the database alone, or it and part of the keys folder. With
  // the marker init makes first and removes last, every command says to run init again, and
  // init makes the data dir afresh (nothing of it was ever used).
  it.each([
    ['the database alone', ['keys']],
    ['the database and part of the keys folder', ['keys/audit-hmac.key', 'keys/transport']],
  ])(
    'leaves %s: refused with one line saying to run init again, which makes it afresh',
    async (_, gone) => {
      const dir = initialised();
      expect(fs.existsSync(path.join(dir, 'init.incomplete'))).toBe(false); // a whole init
      const oldKey = /public key: (\S+)/.exec(template.stdout)![1];
      for (const f of gone) fs.rmSync(path.join(dir, f), { recursive: true });
      fs.writeFileSync(path.join(dir, 'init.incomplete'), '');
      const again = new RegExp(
        `init did not finish on ${dir}.*run it again, jcs-collector init --data-dir ${dir}$`,
        'm',
      );
      expectRefusal(dir, again);
      const token = runCollector(['token', 'list', '--data-dir', dir]);
      expect(token.status).toBe(1);
      expect(token.stderr).toMatch(again);

      const r = init(dir);
      expect(r.stderr).toMatch(/an earlier init of .* was stopped part way/);
      const newKey = /public key: (\S+)/.exec(r.stdout)![1];
      expect(newKey).not.toBe(oldKey);
      expect(fs.existsSync(path.join(dir, 'init.incomplete'))).toBe(false);
      const p = await spawnServe(dir);
      const answer = await fetch(`${p.url}/v1/public-key`).then(
        (res) => res.json() as Promise<any>,
      );
      expect(answer.publicKey).toBe(newKey);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    },
  );
});

describe('init.incomplete is taken only from an init that stopped, of a data dir never used', () => {
  const createToken = (dir: string, role: string) =>
    runCollector(['token', 'create', '--name', 'a', '--role', role, '--data-dir', dir]);

  /** `init` as a child process of its own, so that several run at once. */
  const initAsync = (dir: string) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [COLLECTOR_BIN, 'init', '--data-dir', dir], {
        env: { ...process.env, JCS_COLLECTOR_MASTER_KEY: undefined },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });

  it('two inits at once on a new data dir: one makes it whole, the other refuses and removes nothing', async () => {
    for (let round = 0; round < 4; round++) {
      const dir = newDataDir();
      const both = await Promise.all([initAsync(dir), initAsync(dir)]);
      const made = both.filter((r) => r.status === 0);
      expect(made).toHaveLength(1);
      const refused = both.find((r) => r.status !== 0)!;
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/is making .* now: wait for it|is already initialised/);
      expect(refused.stdout).toBe('');
      expect(fs.existsSync(path.join(dir, 'init.incomplete'))).toBe(false);
      const token = createToken(dir, 'ingest');
      expect(token.status).toBe(0);
      const key = JSON.parse(
        fs.readFileSync(path.join(dir, 'keys', 'transport', 'k1.json'), 'utf8'),
      );
      expect(made[0].stdout).toContain(`public key: ${key.publicKey}`);
    }
  });

  it('refuses while the init that made the marker still runs', () => {
    const dir = initialised();
    fs.rmSync(path.join(dir, 'keys'), { recursive: true }); // half made, as a running init's
    // This test's own process stands for the running init, as it writes its marker.
    fs.writeFileSync(
      path.join(dir, 'init.incomplete'),
      `${process.pid} ${processIdentity(process.pid) ?? ''}\n`,
    );
    const r = runCollector(['init', '--data-dir', dir]);
    expect([r.status, r.stdout]).toEqual([1, '']);
    expect(r.stderr).toBe(
      `jcs-collector: jcs-collector init (pid ${process.pid}) is making ${dir} now: wait for it, then use the data dir\n`,
    );
    expect(fs.existsSync(path.join(dir, 'collector.db'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'init.incomplete'))).toBe(true);
  });

  it('takes the marker of an init that stopped though its pid now names another process', async () => {
    // After a power cut and a reboot, the stopped init's pid may belong to anything: the marker
    // kept the data dir refused for good.
    const dir = initialised();
    fs.rmSync(path.join(dir, 'keys'), { recursive: true }); // half made, as a stopped init's
    const marker = path.join(dir, 'init.incomplete');
    const other = spawn('sleep', ['30']);
    try {
      // written in an earlier boot, by the init that then had this pid
      fs.writeFileSync(marker, `${other.pid} 00000000-0000-4000-8000-000000000000:4242\n`);
      const r = runCollector(['init', '--data-dir', dir]);
      expect(r.stderr).toContain('was stopped part way: what it made is made again');
      expect(r.status).toBe(0);
      expect(fs.existsSync(marker)).toBe(false);
      expect(createToken(dir, 'ingest').status).toBe(0);
    } finally {
      other.kill();
    }
  });

  it('never removes a data dir that holds tokens, whatever its marker says', () => {
    const dir = initialised();
    const token = createToken(dir, 'admin');
    expect(token.status).toBe(0);
    const before = keysSnapshot(dir);
    fs.writeFileSync(path.join(dir, 'init.incomplete'), '');
    const r = runCollector(['init', '--data-dir', dir]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /holds tokens or reports, yet its init.incomplete says an init stopped part way: init will not remove it. If no init is running, remove .*init.incomplete to use the data dir/,
    );
    expect(keysSnapshot(dir)).toEqual(before);
    fs.rmSync(path.join(dir, 'init.incomplete'));
    const list = runCollector(['token', 'list', '--data-dir', dir]);
    expect([list.status, list.stdout]).toEqual([0, expect.stringContaining('a')]);
  });
});

describe('JCS_COLLECTOR_MASTER_KEY keeps the master key off the disk', () => {
  const master = crypto.randomBytes(32).toString('base64');

  it('init with it writes no master.key; serve with it works; serve without it refuses', async () => {
    const dir = newDataDir();
    const r = init(dir, { JCS_COLLECTOR_MASTER_KEY: master });
    expect(r.stderr).toMatch(/not written to disk/);
    expect(fs.existsSync(path.join(dir, 'keys', 'master.key'))).toBe(false);
    expect(JSON.stringify(keysSnapshot(dir))).not.toContain('master');
    // the master key appears in no file of the data dir
    for (const f of fs.readdirSync(dir, { recursive: true }).map(String)) {
      const file = path.join(dir, f);
      if (fs.statSync(file).isFile()) {
        expect(fs.readFileSync(file).includes(Buffer.from(master, 'base64'))).toBe(false);
        expect(fs.readFileSync(file, 'latin1')).not.toContain(master);
      }
    }

    expectRefusal(dir, /master key is missing/);

    const token = runCollector(
      ['token', 'create', '--name', 'app', '--role', 'ingest', '--data-dir', dir],
      { JCS_COLLECTOR_MASTER_KEY: master },
    );
    expect(token.status).toBe(0);
    const p = await spawnServe(dir, [], { JCS_COLLECTOR_MASTER_KEY: master });
    try {
      const answer = await fetch(`${p.url}/v1/reports`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${token.stdout.trim()}`,
        },
        body: JSON.stringify(makeReport()),
      });
      expect(answer.status).toBe(202);
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await p.exited).toBe(0);
  });

  it('init with a malformed one fails and leaves nothing that blocks a retry', () => {
    const dir = newDataDir();
    const bad = runCollector(['init', '--data-dir', dir], { JCS_COLLECTOR_MASTER_KEY: 'short' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/master key must be 32 bytes/);
    // Not even the data dir itself: an empty one left behind looked like a made collector.
    expect(fs.existsSync(dir)).toBe(false);
    init(dir, { JCS_COLLECTOR_MASTER_KEY: master });
  });
});
