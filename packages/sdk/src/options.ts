import path from 'node:path';
import { queueDirProblem } from './queue-dir-name';
import {
  LIMITS,
  codePointLength,
  VERSION_PATTERN,
  fromBase64,
  hasLoneSurrogate,
  isLoopbackHost,
  type Report,
} from '@jcs/protocol';
import type { Diagnostic } from './diagnostics';
import { chooseProxy, proxyUrl, type ProxyChoice } from './proxy';
import type { Transport, TransportOptions } from './transport';
import { DEFAULT_REDACT_KEYS } from './dump/redact';
import { DEFAULT_DUMP_LIMITS, type DumpLimits } from './dump/serialize';
import { QUEUE_KEY_BYTES } from './queue/sealed-file';

/**
 * Everything `createReporter` accepts. Only `endpoint`, `token`, `publicKey`, `keyId`, `app` and
 * `license` are required (and none of them when `enabled` is false).
 */
export interface ReporterOptions {
  /** The collector's base URL, e.g. `https://errors.example/`. `http://` only for loopback. */
  endpoint: string;
  /** An ingest token (`jcs-collector token create --role ingest`). */
  token: string;
  /** The collector's dump key, base64 of 32 bytes, pinned from `GET /v1/public-key`. */
  publicKey: string;
  /** The id of that key. */
  keyId: string;
  /** The host app: name and dotted version such as `5.2.1.345`. */
  app: { name: string; version: string };
  /** The JCS licence number. */
  license: string;
  /** The signed-in user, or a function asked at each report (a throwing function gives none). */
  username?: string | (() => string | null | undefined);
  /**
   * The end user's choice about the dump; default false. `setDumpConsent()` changes it. Asked
   * again when each report is sent: a queued dump does not go once consent is withheld.
   */
  dumpConsent?: boolean;
  /**
   * A durable offline queue; in memory where omitted (then a crash loses unsent reports). A
   * relative path is resolved against the working directory when `createReporter` runs.
   */
  queueDir?: string;
  /**
   * The key that seals the queue's files, base64 of 32 bytes, e.g. kept in the OS keychain. Without
   * it the SDK makes `queue.key` (mode 0600) in `queueDir` once and uses that. Every process
   * sharing a `queueDir` must use the same key.
   *
   * @example
   * // made once with crypto.randomBytes(32).toString('base64') and kept in the OS keychain
   * queueKey: keychain.read('jcs-error-queue-key'),
   */
  queueKey?: string;
  /**
   * May edit the report (its dump already sealed) or return null to drop it. Must answer
   * synchronously (a promise drops the report, `before_send_failed`). Returning nothing
   * (`undefined`) keeps the report as the hook left it; a changed `id` is put back.
   */
  beforeSend?: (report: Report) => Report | null | undefined | void;
  /** Receives every diagnostic: drops, delays, coercions. Never receives dump values. */
  onDiagnostic?: (diagnostic: Diagnostic) => void;
  /** false turns the SDK off entirely: nothing is captured, stored or sent. Default true. */
  enabled?: boolean;
  /** Allows `http://` to a host that is not loopback (behind a TLS-terminating proxy). */
  allowInsecureTransport?: boolean;
  /** Read the throwing source line into `error.code` where the file is readable. Default true. */
  includeSourceLine?: boolean;
  /** Keys whose values are redacted from the dump; replaces `DEFAULT_REDACT_KEYS`. */
  redactKeys?: readonly string[];
  /** Redact Luhn-valid 13-19 digit card numbers in dump values and keys. Default true. */
  redactCardNumbers?: boolean;
  /** Redact UK National Insurance numbers (`QQ 12 34 56 C`) in dump values and keys. Default true. */
  redactNiNumbers?: boolean;
  /**
   * Dump bounds: default 64 levels, 131,072 items per array or object, 256 KiB (also the most).
   * JSON data within them arrives exactly as given; larger data is cut, with markers.
   */
  dumpLimits?: Partial<DumpLimits>;
  /** Oldest dropped beyond this many queued reports. Default 1000. */
  maxQueueReports?: number;
  /** Oldest dropped beyond this many queued bytes. Default 20 MiB. */
  maxQueueBytes?: number;
  /**
   * Flood control: at most `maxPerGroup` reports per group per `windowMs`, the rest counted in
   * `repeats`. Default 3 per 60 s: an error loop sends a few reports a minute, and one more that
   * carries the count.
   */
  floodControl?: { maxPerGroup?: number; windowMs?: number };
  /** Back-off after network errors and 5xx, and the cap on Retry-After. Default 1 s to 1 h. */
  retry?: { minDelayMs?: number; maxDelayMs?: number };
  /** Per-request timeout. Default 10 s. */
  requestTimeoutMs?: number;
  /**
   * PEM certificate(s) of a private CA to trust for an `https://` endpoint, besides the public
   * ones Node trusts: for a collector whose certificate a company CA
   * issued. Host names and dates are still checked.
   *
   * @example
   * createReporter({ ...options, ca: fs.readFileSync('C:/ProgramData/JCS/ca.pem', 'utf8') });
   */
  ca?: string;
  /**
   * An HTTP proxy to send through, `http://[user:password@]host:port`, for an office that
   * reaches the internet only through one; `false` for none. Default: the environment's, as
   * curl reads it (`https_proxy` or `HTTPS_PROXY` for an https:// endpoint, `http_proxy` for
   * http://, with `no_proxy` or `NO_PROXY`). A loopback endpoint never goes
   * through a proxy. TLS runs from the SDK to the collector inside a CONNECT tunnel: the proxy
   * sees the collector's host name, not the reports.
   *
   * @example
   * createReporter({ ...options, proxy: 'http://proxy.office.example:3128' });
   */
  proxy?: string | false;
  /**
   * When a host process ends naturally (its event loop empties) with reports not yet sent, or
   * dies of an uncaught exception with the global handlers installed, the SDK tries to send them
   * and may keep the process alive this long, at most 2000 ms. 0 turns it off. Default 1500.
   */
  exitGraceMs?: number;
  /**
   * Replaces the transport, e.g. `(o) => createTransport(o, myRequest)`. Default:
   * `createTransport(o)`, which sends with `httpRequest` (node:http and node:https).
   */
  transport?: (options: TransportOptions) => Transport;
}

/**
 * The options of a reporter turned off: `enabled: false` and nothing else required, so a host can
 * build them from a setting without inventing an endpoint or key.
 *
 * @example
 * const reporter = userOptedOut ? createReporter({ enabled: false }) : createReporter(options);
 */
export type DisabledReporterOptions = Partial<ReporterOptions> & { enabled: false };

/** The options after checking, with every default filled in. */
export interface ResolvedOptions {
  reportsUrl: string;
  token: string;
  publicKey: Uint8Array;
  keyId: string;
  app: { name: string; version: string };
  license: string;
  username?: string | (() => string | null | undefined);
  dumpConsent: boolean;
  queueDir?: string;
  queueKey?: Uint8Array;
  beforeSend?: (report: Report) => Report | null | undefined | void;
  onDiagnostic?: (diagnostic: Diagnostic) => void;
  includeSourceLine: boolean;
  redactKeys: readonly string[];
  redactCardNumbers: boolean;
  redactNiNumbers: boolean;
  dumpLimits: DumpLimits;
  maxQueueReports: number;
  maxQueueBytes: number;
  flood: { maxPerGroup: number; windowMs: number };
  retry: { minDelayMs: number; maxDelayMs: number };
  requestTimeoutMs: number;
  ca?: string;
  /** the proxy chosen for the endpoint, or why the environment's was not used */
  proxy: ProxyChoice;
  exitGraceMs: number;
  transport?: (options: TransportOptions) => Transport;
}

const KNOWN_OPTIONS = new Set<string>([
  'endpoint',
  'token',
  'publicKey',
  'keyId',
  'app',
  'license',
  'username',
  'dumpConsent',
  'queueDir',
  'queueKey',
  'beforeSend',
  'onDiagnostic',
  'enabled',
  'allowInsecureTransport',
  'includeSourceLine',
  'redactKeys',
  'redactCardNumbers',
  'redactNiNumbers',
  'dumpLimits',
  'maxQueueReports',
  'maxQueueBytes',
  'floodControl',
  'retry',
  'requestTimeoutMs',
  'ca',
  'proxy',
  'exitGraceMs',
  'transport',
]);

const versionPattern = new RegExp(VERSION_PATTERN);

function fail(message: string): never {
  throw new TypeError(`createReporter: ${message}`);
}

function boundedString(value: unknown, name: string, bounds: { min: number; max: number }) {
  if (typeof value !== 'string') fail(`${name} must be a string`);
  const n = codePointLength(value);
  if (n < bounds.min || n > bounds.max) {
    fail(`${name} must be ${bounds.min} to ${bounds.max} characters long`);
  }
  // It goes into every report as given, and the collector refuses text it cannot store as sent.
  if (hasLoneSurrogate(value))
    fail(`${name} must be valid Unicode text (it holds a lone surrogate)`);
  return value;
}

function optionalBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(`${name} must be true or false`);
  return value;
}

function optionalCa(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !value.includes('-----BEGIN CERTIFICATE-----')) {
    fail('ca must be the text of PEM certificates (-----BEGIN CERTIFICATE-----)');
  }
  return value;
}

function resolveProxy(value: unknown, reportsUrl: string): ProxyChoice {
  if (value !== undefined && value !== false && (typeof value !== 'string' || !proxyUrl(value))) {
    // Never echoed: a proxy URL may hold a password.
    fail(
      'proxy must be an http:// proxy URL such as "http://proxy.example:3128", or false for none (left out, the environment\'s HTTPS_PROXY is used)',
    );
  }
  return chooseProxy(new URL(reportsUrl), value as string | false | undefined);
}

function optionalFunction<T>(value: unknown, name: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail(`${name} must be a function`);
  return value as T;
}

function positiveInteger(value: unknown, name: string, fallback: number, max?: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    fail(`${name} must be a positive whole number`);
  }
  if (max !== undefined && value > max) fail(`${name} must be at most ${max}`);
  return value;
}

/** An option's object, holding only `known` keys: a misspelt one would be ignored unseen. */
function plainObject(value: unknown, name: string, known: string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(`${name} must be an object`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      fail(`unknown option "${name}.${key}" (${name} takes ${known.join(', ')})`);
  }
  return value as Record<string, unknown>;
}

function resolveEndpoint(value: unknown, allowInsecure: boolean): string {
  if (typeof value !== 'string' || value.trim() === '') {
    fail('endpoint must be the collector URL, such as "https://errors.example/"');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`endpoint is not a valid URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    // The scheme alone is echoed: it cannot carry a secret.
    fail(`endpoint must be an https:// URL, not ${url.protocol}//`);
  }
  // Never echoed: the message must not carry the password into a log.
  if (url.username !== '' || url.password !== '') {
    fail(
      'endpoint must not hold a user name or password (user:password@); the ingest token goes in the token option',
    );
  }
  if (url.protocol === 'http:' && !allowInsecureTransport(url, allowInsecure)) {
    fail(
      'endpoint must use https:// (http:// is allowed only to a loopback host, or with allowInsecureTransport: true behind a TLS-terminating proxy)',
    );
  }
  url.search = '';
  url.hash = '';
  // A base such as https://host/errors must keep its path: resolve v1/reports under it.
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return new URL('v1/reports', url).toString();
}

function allowInsecureTransport(url: URL, allowInsecure: boolean): boolean {
  return allowInsecure || isLoopbackHost(url.hostname);
}

function resolveRedactKeys(value: unknown): readonly string[] {
  if (value === undefined) return DEFAULT_REDACT_KEYS;
  if (!Array.isArray(value) || value.some((k) => typeof k !== 'string' || k.trim() === '')) {
    fail('redactKeys must be an array of non-empty strings');
  }
  return [...(value as string[])];
}

function resolveDumpLimits(value: unknown): DumpLimits {
  if (value === undefined) return { ...DEFAULT_DUMP_LIMITS };
  const o = plainObject(value, 'dumpLimits', ['maxDepth', 'maxBreadth', 'maxBytes']);
  return {
    maxDepth: positiveInteger(o.maxDepth, 'dumpLimits.maxDepth', DEFAULT_DUMP_LIMITS.maxDepth),
    maxBreadth: positiveInteger(
      o.maxBreadth,
      'dumpLimits.maxBreadth',
      DEFAULT_DUMP_LIMITS.maxBreadth,
    ),
    maxBytes: positiveInteger(
      o.maxBytes,
      'dumpLimits.maxBytes',
      DEFAULT_DUMP_LIMITS.maxBytes,
      LIMITS.dumpPlaintextBytes,
    ),
  };
}

/** The most `exitGraceMs` may be: the SDK never holds a finished host up longer. */
const MAX_EXIT_GRACE_MS = 2000;
const DEFAULT_EXIT_GRACE_MS = 1500;

function resolveExitGrace(value: unknown): number {
  if (value === undefined) return DEFAULT_EXIT_GRACE_MS;
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 0 ||
    value > MAX_EXIT_GRACE_MS
  ) {
    fail(`exitGraceMs must be a whole number of milliseconds from 0 to ${MAX_EXIT_GRACE_MS}`);
  }
  return value;
}

/**
 * Checks the options once, at `createReporter`, so a misconfiguration fails loudly at start-up
 * with a TypeError instead of silently losing every report later.
 */
export function resolveOptions(input: unknown): ResolvedOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    fail('options must be an object');
  }
  for (const key of Object.keys(input)) {
    if (!KNOWN_OPTIONS.has(key)) fail(`unknown option "${key}"`);
  }
  // A configuration read from JSON writes an option it leaves unset as null: taken as not given
  // (a required one is then missing), except a null proxy, which could mean no proxy (false) or
  // the environment's (not given), so it is refused as ambiguous below.
  // Read as `input.x` reads them (getters, a prototype's defaults), not only own fields.
  const o: Record<string, unknown> = {};
  for (const key of KNOWN_OPTIONS) {
    const value = (input as Record<string, unknown>)[key];
    if (value !== null || key === 'proxy') o[key] = value;
  }
  const allowInsecure = optionalBoolean(o.allowInsecureTransport, 'allowInsecureTransport', false);
  const reportsUrl = resolveEndpoint(o.endpoint, allowInsecure);

  if (typeof o.token !== 'string' || o.token === '' || /\s/.test(o.token)) {
    fail('token must be the ingest token, a non-empty string without spaces');
  }
  if (typeof o.publicKey !== 'string' || fromBase64(o.publicKey).length !== 32) {
    fail("publicKey must be base64 of 32 bytes (the collector's key from GET /v1/public-key)");
  }
  const keyId = boundedString(o.keyId, 'keyId', LIMITS.keyId);

  const app = plainObject(o.app, 'app', ['name', 'version']);
  const appName = boundedString(app.name, 'app.name', LIMITS.appName);
  const appVersion = boundedString(app.version, 'app.version', LIMITS.appVersion);
  if (!versionPattern.test(appVersion)) {
    fail('app.version must be dotted numbers such as "5.2.1.345"');
  }
  if (o.license === undefined || o.license === '')
    fail('license is required (the JCS licence number)');
  const license = boundedString(o.license, 'license', LIMITS.license);

  if (
    o.username !== undefined &&
    typeof o.username !== 'string' &&
    typeof o.username !== 'function'
  ) {
    fail('username must be a string or a function returning one');
  }
  if (o.queueDir !== undefined && (typeof o.queueDir !== 'string' || o.queueDir.trim() === '')) {
    fail('queueDir must be a directory path');
  }
  const badQueueDir =
    o.queueDir === undefined ? undefined : queueDirProblem(o.queueDir, process.platform);
  if (badQueueDir) fail(badQueueDir);
  if (
    o.queueKey !== undefined &&
    (typeof o.queueKey !== 'string' || fromBase64(o.queueKey).length !== QUEUE_KEY_BYTES)
  ) {
    fail('queueKey must be base64 of 32 bytes (for example randomBytes(32).toString("base64"))');
  }

  const flood =
    o.floodControl === undefined
      ? {}
      : plainObject(o.floodControl, 'floodControl', ['maxPerGroup', 'windowMs']);
  const retry =
    o.retry === undefined ? {} : plainObject(o.retry, 'retry', ['minDelayMs', 'maxDelayMs']);
  const minDelayMs = positiveInteger(retry.minDelayMs, 'retry.minDelayMs', 1000);
  const maxDelayMs = positiveInteger(retry.maxDelayMs, 'retry.maxDelayMs', 3_600_000);
  if (maxDelayMs < minDelayMs) fail('retry.maxDelayMs must be at least retry.minDelayMs');

  return {
    reportsUrl,
    token: o.token,
    publicKey: fromBase64(o.publicKey),
    keyId,
    app: { name: appName, version: appVersion },
    license,
    username: o.username as ResolvedOptions['username'],
    dumpConsent: optionalBoolean(o.dumpConsent, 'dumpConsent', false),
    // Fixed now: a host that changes its working directory later must not start a second queue.
    queueDir: o.queueDir === undefined ? undefined : path.resolve(o.queueDir as string),
    queueKey: o.queueKey === undefined ? undefined : fromBase64(o.queueKey as string),
    beforeSend: optionalFunction(o.beforeSend, 'beforeSend'),
    onDiagnostic: optionalFunction(o.onDiagnostic, 'onDiagnostic'),
    includeSourceLine: optionalBoolean(o.includeSourceLine, 'includeSourceLine', true),
    redactKeys: resolveRedactKeys(o.redactKeys),
    redactCardNumbers: optionalBoolean(o.redactCardNumbers, 'redactCardNumbers', true),
    redactNiNumbers: optionalBoolean(o.redactNiNumbers, 'redactNiNumbers', true),
    dumpLimits: resolveDumpLimits(o.dumpLimits),
    maxQueueReports: positiveInteger(o.maxQueueReports, 'maxQueueReports', 1000),
    maxQueueBytes: positiveInteger(o.maxQueueBytes, 'maxQueueBytes', 20 * 1024 * 1024),
    flood: {
      maxPerGroup: positiveInteger(flood.maxPerGroup, 'floodControl.maxPerGroup', 3),
      windowMs: positiveInteger(flood.windowMs, 'floodControl.windowMs', 60_000),
    },
    retry: { minDelayMs, maxDelayMs },
    requestTimeoutMs: positiveInteger(o.requestTimeoutMs, 'requestTimeoutMs', 10_000),
    ca: optionalCa(o.ca),
    proxy: resolveProxy(o.proxy, reportsUrl),
    exitGraceMs: resolveExitGrace(o.exitGraceMs),
    transport: optionalFunction(o.transport, 'transport'),
  };
}
