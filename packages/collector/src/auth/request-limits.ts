import type { IncomingMessage } from 'node:http';
import type { Express, Request } from 'express';
import { ApiError } from '@jcs/protocol';
import { KeyedRateLimiter, type MonotonicClock } from './rate-limit';
import type { Actor } from './middleware';

/** Requests a minute and bursts; a rate of 0 turns that limit off. */
export interface RateLimitSettings {
  /** reports per licence */
  licencePerMin: number;
  licenceBurst: number;
  /** reports per ingest token (every desktop install shares it, so this is fleet-wide) */
  tokenPerMin: number;
  tokenBurst: number;
  /** reports per sending address (IPv6: per /48); loopback connections are not limited */
  addressPerMin: number;
  addressBurst: number;
  /** reports from one sending address that start a group the collector has not seen */
  newGroupsPerMin: number;
  newGroupsBurst: number;
  /** engineer and admin requests per token */
  readPerMin: number;
  readBurst: number;
}

/**
 * What `jcs-collector serve` applies unless told otherwise. One install sends at most 10 reports
 * per group per minute (the SDK's flood control). An address (an office behind one NAT) gets
 * 1,200 a minute, so that one sender holding the shipped ingest token cannot use up the token's
 * limit the whole fleet shares. A licence's bucket is kept per address, and as large: a firm is
 * one licence, and for a remote sender the address's limit is the one that counts; the licence's
 * stops a runaway where no address limit applies (loopback, a relay on the collector's host),
 * with a burst of 10,000 for a firm's desktops back online, or a script on the host loading
 * thousands of reports. New groups from one address, 600 an hour after a first 300, are far more
 * than a release's new errors and far fewer than the millions of junk groups the shipped token
 * could make. The token's burst, and the reads', is a minute of its rate: reads allow a script
 * that walks every group, or reads back each of hundreds of reports it just sent.
 */
export const DEFAULT_RATE_LIMITS: Readonly<RateLimitSettings> = {
  licencePerMin: 1_200,
  licenceBurst: 10_000,
  tokenPerMin: 30_000,
  tokenBurst: 30_000,
  addressPerMin: 1_200,
  addressBurst: 600,
  newGroupsPerMin: 10,
  newGroupsBurst: 300,
  readPerMin: 1_200,
  readBurst: 1_200,
};

export interface RequestLimitsOptions extends Partial<RateLimitSettings> {
  /** tests pass a clock they move */
  now?: MonotonicClock;
  /** most buckets kept per limit */
  maxKeys?: number;
  /** the sender's key for the per-address limit (auth/client-address.ts); none: no such limit */
  senderOf?: (req: IncomingMessage) => string | undefined;
}

/**
 * The collector's rate limits: reports per sending address, per licence and per token, and reads
 * per token, each its own set of buckets. An address over its limit is refused before it touches
 * the token's bucket, and a licence over its limit gives the token's back, so a flood from one
 * sender or one licence never uses up what the others share. A licence's bucket is kept per
 * sending address too: a sender naming another firm's licence spends only its own share of it.
 *
 * @example
 * const limits = new RequestLimits({ licencePerMin: 60 });
 * limits.takeReport(actor, report.license); // throws 429 rate_limited with Retry-After
 */
export class RequestLimits {
  readonly settings: RateLimitSettings;
  private readonly licence: KeyedRateLimiter;
  private readonly token: KeyedRateLimiter;
  private readonly address: KeyedRateLimiter;
  private readonly newGroups: KeyedRateLimiter;
  private readonly read: KeyedRateLimiter;
  /**
   * The key of the request's sender for the per-address limit (auth/client-address.ts), or
   * undefined for one not limited. Read before anything awaits: a reset connection has no address.
   */
  readonly senderOf: (req: IncomingMessage) => string | undefined;
  /** Whether senders are told apart (the per-address limits apply). */
  private readonly bySender: boolean;

  constructor(options: RequestLimitsOptions = {}) {
    const s = { ...DEFAULT_RATE_LIMITS };
    for (const key of Object.keys(s) as (keyof RateLimitSettings)[]) {
      if (options[key] !== undefined) s[key] = options[key];
    }
    this.settings = s;
    const common = { now: options.now, maxKeys: options.maxKeys };
    this.licence = new KeyedRateLimiter({
      perMinute: s.licencePerMin,
      burst: s.licenceBurst,
      ...common,
    });
    this.token = new KeyedRateLimiter({ perMinute: s.tokenPerMin, burst: s.tokenBurst, ...common });
    this.address = new KeyedRateLimiter({
      perMinute: s.addressPerMin,
      burst: s.addressBurst,
      ...common,
    });
    this.newGroups = new KeyedRateLimiter({
      perMinute: s.newGroupsPerMin,
      burst: s.newGroupsBurst,
      ...common,
    });
    this.senderOf = options.senderOf ?? (() => undefined);
    this.bySender = options.senderOf !== undefined;
    this.read = new KeyedRateLimiter({ perMinute: s.readPerMin, burst: s.readBurst, ...common });
  }

  /**
   * Before a report's body is read: takes one report from the sending address's bucket (`sender`,
   * from senderOf), then from the token's, or refuses at once when either has nothing left.
   * Taken, not only looked at: bodies read at the same time would otherwise each find the last
   * report left, and forty bad bodies sent at once were all read. A refused body (not JSON, not
   * a report, too large) keeps its sender's share spent, and the token's where no address limit
   * counts it (routes/ingest.ts): bad requests cost the server more than good ones.
   */
  reserveReport(actor: Actor, sender: string | undefined): void {
    if (sender !== undefined) {
      const addressWait = this.address.take(sender);
      if (addressWait > 0) throw limited(addressWait, 'Too many reports from this address');
    }
    const wait = this.token.take(actor.name);
    if (wait > 0) {
      // The whole fleet's budget is spent: not this sender's doing, so its own share stays.
      if (sender !== undefined) this.address.refund(sender);
      throw limited(wait, 'Too many reports with this token');
    }
  }

  /**
   * Once a report is valid: one from its licence's bucket (kept per sending address, `sender`
   * from senderOf). A licence over its limit gives the token's report back, so that a flood from
   * one licence never uses up what all licences share; the address's stays spent. Loopback
   * connections are limited by licence too: a relay on the collector's host that adds no
   * X-Forwarded-For (stunnel, a TCP proxy) makes every remote sender look local.
   */
  takeReport(actor: Actor, licence: string, sender?: string): void {
    const licenceWait = this.licence.take(licenceKey(licence, sender));
    if (licenceWait > 0) {
      this.token.refund(actor.name);
      throw limited(licenceWait, 'Too many reports from this licence');
    }
  }

  /** True when a sender's reports starting new groups are limited (routes/ingest.ts asks first). */
  get limitsNewGroups(): boolean {
    return this.bySender && this.settings.newGroupsPerMin > 0;
  }

  /**
   * For a valid report from `sender` that would start a group the collector has not seen: one
   * from the sender's bucket of new groups, or a 429. The caller gives back the token's and the
   * licence's shares of a refused report (giveBack): it is not stored, and the fleet did nothing.
   * Junk groups cost a row and counts kept past the reports (about 860 bytes each) and slow every
   * list: with the shipped token, one address could make 1,200 a minute.
   */
  takeNewGroup(sender: string): void {
    const wait = this.newGroups.take(sender);
    if (wait > 0) throw limited(wait, 'Too many new error groups from this address');
  }

  /**
   * Gives the token's report back, and the sender's: the collector, not the client, could not
   * take the body.
   */
  releaseReport(actor: Actor, sender?: string): void {
    this.token.refund(actor.name);
    if (sender !== undefined) this.address.refund(sender);
  }

  /** Gives back the token's share alone: a refusal its sender's own bucket has paid for. */
  releaseToken(actor: Actor): void {
    this.token.refund(actor.name);
  }

  /**
   * Gives back the token's and the licence's shares of a valid report storage could not take, or
   * the new-groups limit refused, and the new group's share it took (`newGroup`): its sender will
   * send it again. The sender's own share stays spent, so that while storage fails a client
   * cannot have report after report read, checked and tried without bound.
   */
  giveBack(actor: Actor, licence: string, sender?: string, newGroup = false): void {
    this.token.refund(actor.name);
    this.licence.refund(licenceKey(licence, sender));
    if (newGroup && sender !== undefined) this.newGroups.refund(sender);
  }

  /** Engineer and admin requests, per token. */
  takeRead(actor: Actor): void {
    const wait = this.read.take(actor.name);
    if (wait > 0) throw limited(wait, 'Too many requests with this token');
  }
}

/** A licence's bucket, kept per sender (a newline cannot be in a sender's key). */
function licenceKey(licence: string, sender: string | undefined): string {
  return sender === undefined ? licence : `${licence}\n${sender}`;
}

function limited(seconds: number, what: string): ApiError {
  return new ApiError('rate_limited', `${what}: retry after ${seconds} s.`, {
    headers: { 'Retry-After': String(seconds) },
  });
}

const LOCALS_KEY = 'jcsRequestLimits';

/** Makes the limits reachable from every route of `app` (through `req.app`). */
export function attachLimits(app: Express, limits: RequestLimits): void {
  app.locals[LOCALS_KEY] = limits;
}

/** The limits of the app serving `req`, if it has any. */
export function limitsOf(req: Request): RequestLimits | undefined {
  return req.app?.locals?.[LOCALS_KEY] as RequestLimits | undefined;
}
