import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../src';
import { describeSource, resolveSettings, type SettingsEnvironment } from '../src/settings';

let home: string;
let warnings: string[];

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-cli-home-'));
  warnings = [];
});
afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

function environment(env: Record<string, string> = {}, tty = false): SettingsEnvironment {
  return { env, homeDir: home, stdoutIsTTY: tty, platform: 'linux', warn: (l) => warnings.push(l) };
}

function writeConfig(content: string, mode = 0o600): string {
  const dir = path.join(home, '.config', 'jcs-errors');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
  return file;
}

test('defaults: the contract server, no token, no colour off a terminal', () => {
  const s = resolveSettings({}, environment());
  expect(s).toMatchObject({
    server: 'http://127.0.0.1:8080/',
    serverSource: 'default',
    token: undefined,
    json: false,
    color: false,
  });
  expect(warnings).toEqual([]);
});

test('flags win over the environment, which wins over the config file', () => {
  writeConfig(JSON.stringify({ server: 'http://127.0.0.3:1', token: 'from-file' }));
  const env = { JCS_ERRORS_SERVER: 'http://127.0.0.2:2', JCS_ERRORS_TOKEN: 'from-env' };
  expect(
    resolveSettings({ server: 'http://127.0.0.1:3', token: 'from-flag' }, environment(env)),
  ).toMatchObject({ server: 'http://127.0.0.1:3/', token: 'from-flag', tokenSource: 'flag' });
  expect(resolveSettings({}, environment(env))).toMatchObject({
    server: 'http://127.0.0.2:2/',
    token: 'from-env',
    tokenSource: 'env',
  });
  expect(resolveSettings({}, environment())).toMatchObject({
    server: 'http://127.0.0.3:1/',
    token: 'from-file',
    tokenSource: 'config',
  });
});

test('an empty variable counts as unset', () => {
  writeConfig(JSON.stringify({ token: 'from-file' }));
  expect(resolveSettings({}, environment({ JCS_ERRORS_TOKEN: '' })).token).toBe('from-file');
});

test('an empty --token or --server (a script\'s unset "$VAR") is a usage error, not a refusal', () => {
  writeConfig(JSON.stringify({ token: 'from-file' }));
  expect(() => resolveSettings({ token: '' }, environment())).toThrow(
    new UsageError('--token is empty: give a value, or leave the option out'),
  );
  expect(() => resolveSettings({ server: ' ' }, environment())).toThrow(
    new UsageError('--server is empty: give a value, or leave the option out'),
  );
});

test('a config file readable by others is used, with a warning that says how to fix it', () => {
  const file = writeConfig(JSON.stringify({ token: 't' }), 0o644);
  expect(resolveSettings({}, environment()).token).toBe('t');
  expect(warnings).toEqual([
    `warning: ${file} is readable by other users and may hold a token: run chmod 600 ${file}`,
  ]);
});

test('the chmod it advises works pasted into a shell, for a home folder with a space in its name', () => {
  const top = home;
  home = path.join(top, 'Ann Smith');
  try {
    const file = writeConfig(JSON.stringify({ token: 't' }), 0o644);
    resolveSettings({}, environment());
    const command = /: run (chmod 600 .*)$/.exec(warnings[0])![1];
    const r = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  } finally {
    home = top; // removed after the test, with what is in it
  }
});

test('a broken config file is a usage error naming the file', () => {
  const file = writeConfig('{ not json');
  expect(() => resolveSettings({}, environment())).toThrow(UsageError);
  expect(() => resolveSettings({}, environment())).toThrow(`${file} is not valid JSON`);
  writeConfig(JSON.stringify({ token: 42 }));
  expect(() => resolveSettings({}, environment())).toThrow(`"token" in ${file} must be a string`);
});

test('the config file is not read when flags and variables give everything', () => {
  writeConfig('{ not json');
  const s = resolveSettings({ server: 'http://127.0.0.1:1', token: 't' }, environment());
  expect(s.token).toBe('t');
});

test('a server that is not an http(s) URL is a usage error naming where it came from', () => {
  expect(() => resolveSettings({ server: 'localhost:8080' }, environment())).toThrow(
    '--server takes a URL such as http://127.0.0.1:8080 or https://errors.example, not "localhost:8080"',
  );
  expect(() => resolveSettings({}, environment({ JCS_ERRORS_SERVER: 'ftp://x' }))).toThrow(
    /^JCS_ERRORS_SERVER takes a URL/,
  );
  // never echoed where it may be a secret: a password, or a token given for the server
  for (const server of [
    'htp://admin:s3cret@host',
    'jcs_eng_0123456789abcdefghijABCDEFGHIJxy123456',
  ]) {
    expect(() => resolveSettings({ server }, environment())).toThrow(
      '--server takes a URL such as http://127.0.0.1:8080 or https://errors.example, not what was given (not shown: it may hold a password or a token)',
    );
  }
});

test('a path prefix in the server is kept', () => {
  expect(resolveSettings({ server: 'https://host/errors' }, environment()).server).toBe(
    'https://host/errors/',
  );
});

test('a token sent in clear text off this host draws a warning', () => {
  resolveSettings({ server: 'http://errors.example', token: 't' }, environment());
  expect(warnings).toEqual([
    'warning: the token goes unencrypted to http://errors.example: use https://, served by the collector itself (serve --tls-cert) or a TLS proxy in front of it',
  ]);
  warnings = [];
  resolveSettings({ server: 'http://[::1]:8080', token: 't' }, environment());
  resolveSettings({ server: 'https://errors.example', token: 't' }, environment());
  expect(warnings).toEqual([]);
});

test('colour only on a terminal, never with NO_COLOR, --no-color or a dumb terminal', () => {
  expect(resolveSettings({}, environment({}, true)).color).toBe(true);
  expect(resolveSettings({}, environment({ NO_COLOR: '1' }, true)).color).toBe(false);
  expect(resolveSettings({ color: false }, environment({}, true)).color).toBe(false);
  expect(resolveSettings({}, environment({ TERM: 'dumb' }, true)).color).toBe(false);
  // no-color.org: an empty NO_COLOR does not count
  expect(resolveSettings({}, environment({ NO_COLOR: '' }, true)).color).toBe(true);
});

test('sources are named as the user would fix them', () => {
  expect(describeSource('env', 'token', '/c')).toBe('JCS_ERRORS_TOKEN');
  expect(describeSource('flag', 'token', '/c')).toBe('--token');
  expect(describeSource('config', 'token', '/c')).toBe('"token" in /c');
});

test('a user name or password in the server URL is refused without echoing it', () => {
  let message = '';
  try {
    resolveSettings({ server: 'http://ann:s3cret@127.0.0.1:8080' }, environment());
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    message = (e as Error).message;
  }
  expect(message).toBe(
    '--server holds a user name or password (user:pass@): the collector takes a token instead, with --token or JCS_ERRORS_TOKEN',
  );
});

test('a token with a space, control character or non-ASCII character is a usage error naming its source', () => {
  const bads = [
    'abc\u0001def',
    'abc\ndef',
    'jcs_adm_x y',
    '\u201cjcs_adm_x\u201d',
    'jcs_eng_\u00e4',
    '\u20acuro',
  ];
  for (const bad of bads) {
    expect(() => resolveSettings({}, environment({ JCS_ERRORS_TOKEN: bad }))).toThrow(
      'the token from JCS_ERRORS_TOKEN holds a space, a control character or a character outside ASCII (a curly quote?), which no token has: copy it again',
    );
  }
  // Around it, whitespace is what a paste adds: trimmed.
  expect(resolveSettings({ token: ' jcs_eng_abc\r\n' }, environment()).token).toBe('jcs_eng_abc');
});

test('a token thousands of characters long is a usage error, not a failing collector', () => {
  // Sent, the collector refused its head as over 16 KiB (431): "check its log, then try again".
  expect(() => resolveSettings({ token: `jcs_eng_${'a'.repeat(20_000)}` }, environment())).toThrow(
    'the token from --token is 20008 characters long, where a token has some 50: copy it again',
  );
  const long = `jcs_eng_${'a'.repeat(1016)}`;
  expect(resolveSettings({ token: long }, environment()).token).toBe(long);
});
