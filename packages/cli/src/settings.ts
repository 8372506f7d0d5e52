import * as fs from 'node:fs';
import * as path from 'node:path';
import { chooseProxy, isLoopbackHost, shellWord } from '@jcs/protocol';
import { UsageError } from './errors';
import { shown } from './render/text';

/** Far above a token's length (jcs_eng_ and some 40 characters), far below a head's 16 KiB. */
const MAX_TOKEN_LENGTH = 1024;

/** The default collector address of contract section 5. */
export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/** The global options as commander parsed them; `color` is false after `--no-color`. */
export interface GlobalFlags {
  server?: string;
  token?: string;
  json?: boolean;
  color?: boolean;
}

/** Where a setting came from, so an error can name the place to fix. */
export type SettingSource = 'flag' | 'env' | 'config' | 'default';

/** Everything a command needs to know about where and how to talk and print. */
export interface Settings {
  /** the collector's base URL, always ending in `/` so relative paths keep any prefix */
  server: string;
  serverSource: SettingSource;
  token: string | undefined;
  tokenSource: SettingSource;
  json: boolean;
  color: boolean;
  configPath: string;
  /**
   * The HTTP proxy to reach the collector through (`https_proxy`, `HTTPS_PROXY` or `http_proxy`,
   * not for a host `no_proxy` names nor for loopback), as the SDK reads them; undefined: directly
   */
  proxy?: string;
}

/** What settings are read from besides the flags; the bin passes the real process's. */
export interface SettingsEnvironment {
  env: Record<string, string | undefined>;
  homeDir: string;
  stdoutIsTTY: boolean;
  platform?: NodeJS.Platform;
  /** one line for stderr that is not a failure */
  warn(line: string): void;
}

interface ConfigFile {
  server?: string;
  token?: string;
}

/**
 * Resolves the settings: flags first, then the environment, then the optional config file
 * `~/.config/jcs-errors/config.json` (`{"server": ..., "token": ...}`), then the default.
 * Warns when that file is readable by group or others, since it may hold a token.
 *
 * @example
 * const s = resolveSettings({ json: true }, { env: process.env, homeDir: os.homedir(),
 *   stdoutIsTTY: false, warn: console.error });
 * s.server; // 'http://127.0.0.1:8080/' unless JCS_ERRORS_SERVER or the config file says otherwise
 */
export function resolveSettings(flags: GlobalFlags, environment: SettingsEnvironment): Settings {
  const { env } = environment;
  // `--token "$TOKEN"` with TOKEN unset: say so, rather than send an empty token and report a
  // refusal (exit 3) that sends the user to check a token they never gave.
  for (const [flag, value] of [
    ['--token', flags.token],
    ['--server', flags.server],
  ] as const) {
    if (value !== undefined && value.trim() === '') {
      throw new UsageError(`${flag} is empty: give a value, or leave the option out`);
    }
  }
  const configPath = path.join(environment.homeDir, '.config', 'jcs-errors', 'config.json');
  let config: ConfigFile | undefined;
  // Read the file only when a flag or variable leaves something open, so a broken file does not
  // stand in the way of someone who passes everything explicitly.
  const fromConfig = (): ConfigFile => (config ??= readConfig(configPath, environment));

  const server = pick(flags.server, env.JCS_ERRORS_SERVER, () => fromConfig().server);
  const token = pick(flags.token, env.JCS_ERRORS_TOKEN, () => fromConfig().token);
  // A token is printable ASCII: one with a space, a control character or anything else (a curly
  // quote from a document) was pasted with something else, and fetch would refuse the header
  // beyond Latin-1, which looks like an unreachable collector.
  if (token.value !== undefined && /[^\x21-\x7e]/.test(token.value.trim())) {
    throw new UsageError(
      `the token from ${describeSource(token.source, 'token', configPath)} holds a space, a control character or a character outside ASCII (a curly quote?), which no token has: copy it again`,
    );
  }
  // A token is some 50 characters: thousands are a file or a page pasted, which the collector
  // would refuse as a head over 16 KiB (431), a failure no retry mends.
  if (token.value !== undefined && token.value.trim().length > MAX_TOKEN_LENGTH) {
    throw new UsageError(
      `the token from ${describeSource(token.source, 'token', configPath)} is ${token.value.trim().length} characters long, where a token has some 50: copy it again`,
    );
  }

  const serverText = server.value ?? DEFAULT_SERVER;
  const serverSource = server.value === undefined ? 'default' : server.source;
  const serverUrl = parseServer(serverText, describeSource(serverSource, 'server', configPath));
  if (token.value !== undefined && isCleartextToRemote(serverUrl)) {
    environment.warn(
      `warning: the token goes unencrypted to ${serverUrl.origin}: use https://, served by the collector itself (serve --tls-cert) or a TLS proxy in front of it`,
    );
  }

  const proxy = chooseProxy(serverUrl, undefined, env);
  if (proxy.ignored !== undefined) {
    environment.warn(
      `warning: ${proxy.ignored} is not an http:// proxy URL, so jcs-errors connects to ${serverUrl.host} directly`,
    );
  }

  const noColorVariable = (env.NO_COLOR ?? '') !== '';
  const dumbTerminal = env.TERM === 'dumb';
  return {
    server: serverUrl.href.endsWith('/') ? serverUrl.href : `${serverUrl.href}/`,
    serverSource,
    token: token.value?.trim(),
    tokenSource: token.value === undefined ? 'default' : token.source,
    json: flags.json === true,
    color: environment.stdoutIsTTY && flags.color !== false && !noColorVariable && !dumbTerminal,
    configPath,
    ...(proxy.url === undefined ? {} : { proxy: proxy.url }),
  };
}

/**
 * Names the place a setting came from, for messages such as
 * "the collector at http://127.0.0.1:8080 refused the token: check JCS_ERRORS_TOKEN, and ...".
 *
 * @example
 * describeSource('env', 'token', configPath); // 'JCS_ERRORS_TOKEN'
 */
export function describeSource(
  source: SettingSource,
  setting: 'server' | 'token',
  configPath: string,
): string {
  switch (source) {
    case 'flag':
      return `--${setting}`;
    case 'env':
      return setting === 'server' ? 'JCS_ERRORS_SERVER' : 'JCS_ERRORS_TOKEN';
    case 'config':
      return `"${setting}" in ${configPath}`;
    case 'default':
      return setting === 'server' ? 'the default server' : 'no token';
  }
}

function pick(
  flag: string | undefined,
  variable: string | undefined,
  config: () => string | undefined,
): { value: string | undefined; source: SettingSource } {
  if (flag !== undefined) return { value: flag, source: 'flag' };
  // An empty variable is how shells unset things in a pinch; treat it as absent.
  if (variable !== undefined && variable !== '') return { value: variable, source: 'env' };
  return { value: config(), source: 'config' };
}

function parseServer(text: string, where: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    // Not echoed where it may be a secret: a password in it, or a token given for the server
    // (the two options swapped), would land in a terminal's scrollback or a job's log.
    const secret = text.includes('@') || /jcs_(ing|eng|adm)_/.test(text);
    throw new UsageError(
      `${where} takes a URL such as http://127.0.0.1:8080 or https://errors.example, ${secret ? 'not what was given (not shown: it may hold a password or a token)' : `not "${shown(text)}"`}`,
    );
  }
  // A password in the URL would be echoed in every message that names the server.
  if (url.username || url.password) {
    throw new UsageError(
      `${where} holds a user name or password (user:pass@): the collector takes a token instead, with --token or JCS_ERRORS_TOKEN`,
    );
  }
  url.search = '';
  url.hash = '';
  return url;
}

function isCleartextToRemote(url: URL): boolean {
  return url.protocol === 'http:' && !isLoopbackHost(url.hostname);
}

function readConfig(configPath: string, environment: SettingsEnvironment): ConfigFile {
  let text: string;
  let mode: number;
  try {
    text = fs.readFileSync(configPath, 'utf8');
    mode = fs.statSync(configPath).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UsageError(
      `cannot read ${configPath} (${(err as NodeJS.ErrnoException).code ?? 'error'}): fix its permissions or remove it`,
    );
  }
  // Windows has no group/other bits to speak of; the check would always be noise there.
  if ((environment.platform ?? process.platform) !== 'win32' && (mode & 0o044) !== 0) {
    environment.warn(
      `warning: ${configPath} is readable by other users and may hold a token: run chmod 600 ${shellWord(configPath)}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(
      `${configPath} is not valid JSON: fix it, e.g. {"server": "https://errors.example", "token": "..."}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(
      `${configPath} must hold a JSON object such as {"server": "https://errors.example", "token": "..."}`,
    );
  }
  const record = parsed as Record<string, unknown>;
  for (const key of ['server', 'token'] as const) {
    if (record[key] !== undefined && typeof record[key] !== 'string') {
      throw new UsageError(`"${key}" in ${configPath} must be a string: fix the file`);
    }
  }
  return { server: record.server as string | undefined, token: record.token as string | undefined };
}
