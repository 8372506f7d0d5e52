import type {
  AuditEntry,
  ExpirySummary,
  Group,
  GroupDetail,
  GroupStatus,
  FullReport,
  RetentionStatus,
  ShortReport,
} from '@jcs/protocol';
import {
  isAuditLog,
  isAuditVerification,
  isErasure,
  isExpirySummary,
  isFullReport,
  isGroup,
  isGroupDetail,
  isGroupIdMatches,
  isGroupList,
  isObject,
  isReportList,
  isRetentionStatus,
} from './answer-shapes';
import {
  failureError,
  MAX_ANSWER_BYTES,
  notCollectorError,
  tooLargeError,
  unreachableError,
  type ClientLabel,
} from './client-errors';

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
  /** the collector's clock, from its `Date` header (to the second), where it sent one */
  serverDate?: Date;
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
  /** an `http://` proxy URL to go through (settings.ts chooses it); undefined: directly */
  proxy?: string;
  /** how hints in error messages write the command line (Output.invocation) */
  invocation?: string;
}

interface RequestOptions {
  role: Role;
  /**
   * The answer's shape, checked before anything reads it: a server that answers JSON but not
   * the collector's (another service on the port) is told apart from a collector that answered.
   */
  shape: (data: Record<string, unknown>) => boolean;
  /**
   * The route names one group or report, so a 404 means there is no such one (exit 4). On the
   * other routes every collector answers, and a 404 means --server points elsewhere.
   */
  namesOne?: boolean;
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
  private readonly proxy: string | undefined;
  /** one proxy agent for all of a command's requests, so they share its connections */
  private proxied: Promise<typeof fetch> | undefined;

  /** How hints in error messages write the command line (Output.invocation). */
  readonly invocation: string;

  constructor(options: ClientOptions) {
    this.invocation = options.invocation ?? 'jcs-errors';
    this.server = options.server.endsWith('/') ? options.server : `${options.server}/`;
    this.token = options.token;
    this.tokenHint = options.tokenHint ?? 'JCS_ERRORS_TOKEN';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.proxy = options.proxy;
  }

  /** The server's address as people write it, without the trailing slash. */
  get serverLabel(): string {
    return this.server.replace(/\/$/, '');
  }

  /** What the error messages name (client-errors.ts). */
  private label(): ClientLabel {
    return {
      serverLabel: this.serverLabel,
      hasToken: this.token !== undefined,
      tokenHint: this.tokenHint,
      ...(this.proxy === undefined ? {} : { proxyLabel: new URL(this.proxy).host }),
    };
  }

  listGroups(query: GroupQuery = {}): Promise<Answer<GroupList>> {
    return this.request('GET', 'v1/groups', {
      role: 'engineer',
      query: { ...query },
      shape: isGroupList,
    });
  }

  /** The groups whose id starts with `prefix`: at most 20, `more` when there are others. */
  groupIds(prefix: string): Promise<Answer<GroupIdMatches>> {
    return this.request('GET', 'v1/group-ids', {
      role: 'engineer',
      query: { prefix },
      shape: isGroupIdMatches,
    });
  }

  getGroup(id: string, query: { since?: string } = {}): Promise<Answer<GroupDetail>> {
    return this.request('GET', `v1/groups/${encodeURIComponent(id)}`, {
      role: 'engineer',
      namesOne: true,
      shape: isGroupDetail,
      query,
    });
  }

  setGroupStatus(id: string, change: TriageChange): Promise<Answer<Group>> {
    return this.request('PATCH', `v1/groups/${encodeURIComponent(id)}`, {
      role: 'engineer',
      namesOne: true,
      // The group changed, and to what was asked: else the answer is not for this change.
      shape: (d) => isGroup(d) && d.id === id && d.status === change.status,
      body: change,
    });
  }

  listReports(groupId: string, query: { limit?: number } = {}): Promise<Answer<ReportList>> {
    return this.request('GET', `v1/groups/${encodeURIComponent(groupId)}/reports`, {
      role: 'engineer',
      namesOne: true,
      shape: isReportList,
      query,
    });
  }

  /** The whole report; with `dump` the collector decrypts the dump and logs that it did. */
  getReport(id: string, options: { dump?: boolean } = {}): Promise<Answer<FullReport>> {
    return this.request('GET', `v1/reports/${encodeURIComponent(id)}`, {
      role: 'engineer',
      namesOne: true,
      shape: (d) => isFullReport(d) && d.id === id,
      query: { dump: options.dump ? 1 : undefined },
    });
  }

  listAudit(
    query: { since?: string; until?: string; before?: number; limit?: number } = {},
  ): Promise<Answer<AuditLog>> {
    return this.request('GET', 'v1/audit', {
      role: 'admin',
      query,
      shape: isAuditLog,
    });
  }

  verifyAudit(): Promise<Answer<AuditVerification>> {
    return this.request('GET', 'v1/audit/verify', {
      role: 'admin',
      shape: isAuditVerification,
    });
  }

  expire(options: { dryRun?: boolean } = {}): Promise<Answer<ExpirySummary>> {
    return this.request('POST', 'v1/expire', {
      role: 'admin',
      shape: isExpirySummary,
      body: options.dryRun ? { dryRun: true } : {},
      timeoutMs: JOB_TIMEOUT_MS,
    });
  }

  retentionStatus(): Promise<Answer<RetentionStatus>> {
    return this.request('GET', 'v1/status', {
      role: 'admin',
      shape: isRetentionStatus,
    });
  }

  erase(subject: DataSubject): Promise<Answer<Erasure>> {
    return this.request('POST', 'v1/erase', {
      role: 'admin',
      shape: isErasure,
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
    let body: string | null;
    try {
      // Through a proxy, undici's fetch (the one Node's own is built on) with its ProxyAgent:
      // Node 20's fetch reads no proxy settings.
      const send =
        this.proxy === undefined ? fetch : await (this.proxied ??= proxiedFetch(this.proxy, url));
      response = await send(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        // A redirect could carry the token to another host; a collector never redirects.
        redirect: 'manual',
        signal: AbortSignal.timeout(Math.max(this.timeoutMs, options.timeoutMs ?? 0)),
      });
      body = await boundedText(response);
    } catch (err) {
      throw unreachableError(err, Math.max(this.timeoutMs, options.timeoutMs ?? 0), this.label());
    }
    if (body === null) throw tooLargeError(response, this.label());

    if (response.status >= 200 && response.status < 300) {
      let data: unknown;
      try {
        data = JSON.parse(body);
      } catch {
        throw notCollectorError(response, this.label());
      }
      if (!isObject(data) || !options.shape(data)) throw notCollectorError(response, this.label());
      const date = Date.parse(response.headers.get('date') ?? '');
      return { data: data as T, body, serverDate: Number.isNaN(date) ? undefined : new Date(date) };
    }
    throw failureError(response, body, options.role, this.label(), options.namesOne === true);
  }
}

/**
 * The answer's body as text, or null once it is over MAX_ANSWER_BYTES: read whole, a server that
 * sent half a gigabyte took 3.4 GB of memory and two minutes before the CLI could say it was no
 * collector. Decoded as `Response.text()` does (UTF-8, a byte-order mark dropped).
 */
async function boundedText(response: Response): Promise<string | null> {
  if (Number(response.headers.get('content-length')) > MAX_ANSWER_BYTES) {
    await response.body?.cancel();
    return null;
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * `fetch` through an HTTP proxy: a CONNECT tunnel for https://, so TLS runs to the collector and
 * the proxy sees its host name only; the request handed to the proxy whole for http://, as any
 * HTTP client does. Credentials in the proxy URL go as Proxy-Authorization (Basic).
 */
async function proxiedFetch(proxy: string, target: URL): Promise<typeof fetch> {
  const undici = await import('undici');
  const dispatcher = new undici.ProxyAgent({
    uri: proxy,
    proxyTunnel: target.protocol === 'https:',
  });
  return ((input: URL, init: RequestInit) =>
    undici.fetch(input, { ...(init as object), dispatcher })) as unknown as typeof fetch;
}
