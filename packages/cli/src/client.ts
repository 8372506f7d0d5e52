import type {
  AuditEntry,
  ErrorBody,
  ExpirySummary,
  Group,
  GroupDetail,
  GroupStatus,
  FullReport,
  RetentionStatus,
  ShortReport,
} from '@jcs/protocol';
import {
  BadRequestError,
  ForbiddenError,
  NotFoundError,
  ServerError,
  UnauthorisedError,
  UnreachableError,
} from './errors';
import { oneLine } from './render/text';

/** `GET /v1/groups`. */
export interface GroupList {
  groups: Group[];
  window: { since: string; until: string };
}

/** `GET /v1/group-ids?prefix=`: the collector's groups whose id starts with a prefix. */
export interface GroupIdMatches {
  groups: { id: string; module: string; procedure: string }[];
  more: boolean;
}

/** The query of `GET /v1/groups`; bounds are durations (`7d`) or ISO date-times. */
export interface GroupQuery {
  since?: string;
  until?: string;
  version?: string;
  status?: GroupStatus | 'all';
  sort?: 'count' | 'last' | 'first' | 'users';
  limit?: number;
}

/** `GET /v1/groups/:id/reports`, newest first. */
export interface ReportList {
  reports: ShortReport[];
}

/** `GET /v1/audit`, newest first. */
export interface AuditLog {
  entries: AuditEntry[];
}

/** `GET /v1/audit/verify`. */
export type AuditVerification = { ok: true; entries: number } | { ok: false; brokenAt: number };

/** `POST /v1/erase`. */
export interface Erasure {
  erasedReports: number;
}

/** The body of `PATCH /v1/groups/:id`. */
export interface TriageChange {
  status: GroupStatus;
  resolvedInVersion?: string;
}

/** Whose reports `POST /v1/erase` destroys. */
export type DataSubject = { username: string } | { license: string };

/**
 * An answer: the parsed value for rendering, and the body exactly as it came, because `--json`
 * promises the API's JSON unchanged.
 */
export interface Answer<T> {
  data: T;
  body: string;
}

/** The role a route needs, for a 403 message that says which token to get. */
export type Role = 'engineer' | 'admin';

export interface ClientOptions {
  /** base URL ending in `/`; a path prefix is kept */
  server: string;
  token?: string;
  /** where the token came from, e.g. `JCS_ERRORS_TOKEN`, for "check ..." in a 401 message */
  tokenHint?: string;
  timeoutMs?: number;
}

interface RequestOptions {
  role: Role;
  /**
   * The answer's shape, checked before anything reads it: a server that answers JSON but not
   * the collector's (another service on the port) is told apart from a collector that answered.
   */
  shape: (data: Record<string, unknown>) => boolean;
  /** for the jobs that may take long on a big database: expiry and erasure */
  timeoutMs?: number;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** Expiry and erasure delete and destroy keys in bulk; giving up early would only hide the result. */
const JOB_TIMEOUT_MS = 10 * 60_000;

/**
 * The collector's HTTP API (contract section 2) over the global `fetch`. Every failure is a
 * {@link CliError} subclass whose message is one line saying what to do, with the contract's exit
 * code: unreachable and 5xx 1, 400 2, 401 and 403 3, 404 4.
 *
 * @example
 * const client = new ApiClient({ server: 'http://127.0.0.1:8080/', token: process.env.JCS_ERRORS_TOKEN });
 * const { data } = await client.listGroups({ since: '7d', limit: 10 });
 * console.log(data.groups.map((g) => g.id));
 */
export class ApiClient {
  private readonly server: string;
  private readonly token: string | undefined;
  private readonly tokenHint: string;
  private readonly timeoutMs: number;

  constructor(options: ClientOptions) {
    this.server = options.server.endsWith('/') ? options.server : `${options.server}/`;
    this.token = options.token;
    this.tokenHint = options.tokenHint ?? 'JCS_ERRORS_TOKEN';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** The server's address as people write it, without the trailing slash. */
  get serverLabel(): string {
    return this.server.replace(/\/$/, '');
  }

  listGroups(query: GroupQuery = {}): Promise<Answer<GroupList>> {
    return this.request('GET', 'v1/groups', {
      role: 'engineer',
      query: { ...query },
      shape: (d) => Array.isArray(d.groups) && isObject(d.window),
    });
  }

  /** The groups whose id starts with `prefix`: at most 20, `more` when there are others. */
  groupIds(prefix: string): Promise<Answer<GroupIdMatches>> {
    return this.request('GET', 'v1/group-ids', {
      role: 'engineer',
      query: { prefix },
      shape: (d) => Array.isArray(d.groups),
    });
  }

  getGroup(id: string, query: { since?: string } = {}): Promise<Answer<GroupDetail>> {
    return this.request('GET', `v1/groups/${encodeURIComponent(id)}`, {
      role: 'engineer',
      shape: (d) => typeof d.id === 'string' && Array.isArray(d.byVersion),
      query,
    });
  }

  setGroupStatus(id: string, change: TriageChange): Promise<Answer<Group>> {
    return this.request('PATCH', `v1/groups/${encodeURIComponent(id)}`, {
      role: 'engineer',
      shape: (d) => typeof d.id === 'string' && typeof d.status === 'string',
      body: change,
    });
  }

  listReports(groupId: string, query: { limit?: number } = {}): Promise<Answer<ReportList>> {
    return this.request('GET', `v1/groups/${encodeURIComponent(groupId)}/reports`, {
      role: 'engineer',
      shape: (d) => Array.isArray(d.reports),
      query,
    });
  }

  /** The whole report; with `dump` the collector decrypts the dump and logs that it did. */
  getReport(id: string, options: { dump?: boolean } = {}): Promise<Answer<FullReport>> {
    return this.request('GET', `v1/reports/${encodeURIComponent(id)}`, {
      role: 'engineer',
      shape: (d) => typeof d.id === 'string' && isObject(d.error),
      query: { dump: options.dump ? 1 : undefined },
    });
  }

  listAudit(query: { since?: string; limit?: number } = {}): Promise<Answer<AuditLog>> {
    return this.request('GET', 'v1/audit', {
      role: 'admin',
      query,
      shape: (d) => Array.isArray(d.entries),
    });
  }

  verifyAudit(): Promise<Answer<AuditVerification>> {
    return this.request('GET', 'v1/audit/verify', {
      role: 'admin',
      shape: (d) =>
        d.ok === true
          ? typeof d.entries === 'number'
          : d.ok === false && typeof d.brokenAt === 'number',
    });
  }

  expire(): Promise<Answer<ExpirySummary>> {
    return this.request('POST', 'v1/expire', {
      role: 'admin',
      shape: (d) => typeof d.deletedReports === 'number' && typeof d.cutoff === 'string',
      body: {},
      timeoutMs: JOB_TIMEOUT_MS,
    });
  }

  retentionStatus(): Promise<Answer<RetentionStatus>> {
    return this.request('GET', 'v1/status', {
      role: 'admin',
      shape: (d) => typeof d.compliant === 'boolean' && typeof d.retentionDays === 'number',
    });
  }

  erase(subject: DataSubject): Promise<Answer<Erasure>> {
    return this.request('POST', 'v1/erase', {
      role: 'admin',
      shape: (d) => typeof d.erasedReports === 'number',
      body: subject,
      timeoutMs: JOB_TIMEOUT_MS,
    });
  }

  private async request<T>(
    method: string,
    route: string,
    options: RequestOptions,
  ): Promise<Answer<T>> {
    const url = new URL(route, this.server);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';

    let response: Response;
    let body: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        // A redirect could carry the token to another host; a collector never redirects.
        redirect: 'manual',
        signal: AbortSignal.timeout(Math.max(this.timeoutMs, options.timeoutMs ?? 0)),
      });
      body = await response.text();
    } catch (err) {
      throw this.unreachable(err, Math.max(this.timeoutMs, options.timeoutMs ?? 0));
    }

    if (response.status >= 200 && response.status < 300) {
      let data: unknown;
      try {
        data = JSON.parse(body);
      } catch {
        throw this.notCollector(response);
      }
      if (!isObject(data) || !options.shape(data)) throw this.notCollector(response);
      return { data: data as T, body };
    }
    throw this.failure(response, body, options.role);
  }

  private unreachable(err: unknown, timeoutMs: number): UnreachableError {
    const where = this.serverLabel;
    // Duck-typed: fetch's errors may come from another realm (Jest's sandbox, for one).
    if ((err as { name?: unknown } | null)?.name === 'TimeoutError') {
      const limit = timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)}s`;
      return new UnreachableError(
        `the collector at ${where} did not answer within ${limit}: check that it is healthy, then try again`,
        { cause: err },
      );
    }
    // fetch will not connect to the ports the Fetch standard blocks (6000, 6665-6669, 10080...),
    // though a collector can listen there; "is it running?" would send the engineer astray.
    if ((err as { cause?: { message?: unknown } } | null)?.cause?.message === 'bad port') {
      return new UnreachableError(
        `jcs-errors cannot connect to port ${new URL(this.server).port} of ${where}, a port Node's fetch blocks: serve the collector on another port (8080, say) and set --server to it`,
        { cause: err },
      );
    }
    const code = causeCode(err);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return new UnreachableError(
        `cannot find the host of ${where}: check the address, set --server or JCS_ERRORS_SERVER`,
        { cause: err },
      );
    }
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
      return new UnreachableError(
        `the server at ${where} does not speak TLS: use http:// if it is the collector, or check --server`,
        { cause: err },
      );
    }
    if (code && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/.test(code)) {
      return new UnreachableError(
        `the collector at ${where} presented a TLS certificate that was refused (${code}): set NODE_EXTRA_CA_CERTS to its CA file, or check --server`,
        { cause: err },
      );
    }
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') {
      // A collector serving HTTPS hangs up on plain HTTP in just this way.
      const https = where.startsWith('http:') ? ' (if it serves HTTPS, use https://)' : '';
      return new UnreachableError(
        `the connection to the collector at ${where} broke before it answered${https}: try again; if it persists, check the collector's log`,
        { cause: err },
      );
    }
    return new UnreachableError(
      `cannot reach the collector at ${where}: is it running? set --server or JCS_ERRORS_SERVER`,
      { cause: err },
    );
  }

  private notCollector(response: Response): ServerError {
    const type = (response.headers.get('content-type') ?? 'no content type').split(';')[0];
    return new ServerError(
      `${this.serverLabel} did not answer like a JCS collector (HTTP ${response.status}, ${type}): check --server or JCS_ERRORS_SERVER, and any proxy in front of the collector`,
      response.status,
    );
  }

  private failure(
    response: Response,
    body: string,
    role: Role,
  ): ServerError | UnauthorisedError | ForbiddenError | NotFoundError | BadRequestError {
    const status = response.status;
    if (status >= 300 && status < 400) {
      const location = response.headers.get('location') ?? 'elsewhere';
      return new ServerError(
        `${this.serverLabel} redirects to ${location}: set --server to the collector's own address`,
        status,
      );
    }
    const error = parseErrorBody(body);
    // Every collector answer carries the error body; without it, something else answered.
    if (!error && status !== 401 && status !== 403) return this.notCollector(response);
    const said = error ? sentence(error.message) : '';
    if (status === 401) {
      if (this.token === undefined) {
        return new UnauthorisedError(
          'the collector needs a token: set --token or JCS_ERRORS_TOKEN, or "token" in ~/.config/jcs-errors/config.json',
        );
      }
      return new UnauthorisedError(`the collector refused the token: check ${this.tokenHint}`);
    }
    if (status === 403) {
      const article = role === 'admin' ? 'an admin' : 'an engineer or admin';
      return new ForbiddenError(
        `this needs ${article} token and the one given may not do it: use one made by jcs-collector token create --role ${role}`,
      );
    }
    // The collector's answer to a path it has no route for: --server has a wrong path in it,
    // which is not "no such group or report" (exit 4) to a script.
    if (status === 404 && error?.code === 'not_found' && /^no such route:/i.test(said)) {
      return new ServerError(
        `${this.serverLabel} has no such route: set --server to the collector's own address, without a path`,
        status,
      );
    }
    if (status === 404) return new NotFoundError(`not found: ${said || 'no such route'}`);
    if (status === 400) {
      const details = (error?.details ?? []).map((d) => `${d.path} ${d.message}`).join('; ');
      return new BadRequestError(
        `the collector rejected the request: ${said}${details ? ` (${details})` : ''}; check the options`,
      );
    }
    const retryAfter = response.headers.get('retry-after');
    const wait = retryAfter ? `in ${retryAfter}s` : 'shortly';
    if (status === 429) {
      return new ServerError(`the collector is limiting requests: try again ${wait}`, status);
    }
    if (status === 503) {
      return new ServerError(`the collector cannot take this now: try again ${wait}`, status);
    }
    return new ServerError(
      `the collector failed (HTTP ${status}${said ? `: ${said}` : ''}): check its log, then try again`,
      status,
    );
  }
}

function parseErrorBody(body: string): ErrorBody['error'] | undefined {
  try {
    const parsed = JSON.parse(body) as Partial<ErrorBody>;
    if (parsed && typeof parsed.error?.message === 'string') return parsed.error;
  } catch {
    // not JSON: the caller reports a server that is not the collector
  }
  return undefined;
}

/**
 * A server sentence goes inside our line: drop its full stop and any line breaks, and replace
 * control characters, so a broken or hostile server (or proxy) cannot recolour the terminal.
 */
function sentence(text: string): string {
  return oneLine(text.replace(/\s+/g, ' ')).replace(/\.$/, '');
}

function causeCode(err: unknown): string | undefined {
  let current = err as { code?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    if (typeof current.code === 'string') return current.code;
    current = current.cause as typeof current;
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
