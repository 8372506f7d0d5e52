import type { IncomingMessage, ServerResponse } from 'node:http';
import { Router } from 'express';
import {
  ApiError,
  LIMITS,
  MAX_DETAILS,
  NOT_AN_OBJECT,
  cutDetailPath,
  validateReport,
  type FieldError,
  type Report,
} from '@jcs/protocol';
import type { Collector } from '../collector';
import { authenticateSoon } from '../auth/middleware';
import type { RequestLimits } from '../auth/request-limits';
import { isSlowBody, readJsonBody } from '../http/body';
import {
  MAX_REPORT_NESTING,
  MAX_REPORT_VALUES,
  nestingTooDeep,
  tooManyValues,
} from '../http/nesting';
import { checkHost } from '../http/host-header';
import { answerError, type ErrorHook } from '../http/errors';
import { fewNames } from '../http/query';
import { audited } from '../http/audited';
import { sendJson } from '../http/json-response';
import { groupOf, prepareReport } from '../store/ingest-writer';
import { dumpKeyWatch } from '../ingest/dump-key-watch';
import { KnownGroups } from '../ingest/known-groups';

/** Called once a report is authenticated, before it is read: a check that refuses it by throwing. */
export type IngestGate = (req: IncomingMessage) => void;

/**
 * The free space reports may not take (ingest/disk-reserve.ts): asked before a body is read, and
 * again with its size once it is.
 */
export interface IngestReserve {
  /** throws the 503 while the disk is short */
  refuseWhileShort(): void;
  /** throws the 503 for a body of `bytes` that would not fit; what it returns is called once answered */
  admit(bytes: number): () => void;
}

/** A plain Node handler: it answers every request itself, errors included, and never rejects. */
export type IngestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface IngestOptions {
  /** reports per licence and per token; none when absent */
  limits?: RequestLimits;
  gate?: IngestGate;
  /** the disk reserve; none when absent */
  reserve?: IngestReserve;
  /** told of every refusal (the access log records those of engineer and admin tokens) */
  onError?: ErrorHook;
}

/**
 * `POST /v1/reports`: token, body, schema, seal, group commit, and only then 202 (or 200 for an
 * id stored before). A refused report stores nothing. A plain Node handler rather than Express
 * middleware, so that it serves both from the fast path in front of Express
 * (http/ingest-fast-path.ts) and from the Express route below, identically.
 *
 * @example
 * const ingest = ingestHandler(c, { limits });
 * await ingest(req, res); // 202 {"id":"...","group":"3fa9c1d2e4b7"}
 */
export function ingestHandler(c: Collector, options: IngestOptions = {}): IngestHandler {
  const { limits, gate, reserve, onError } = options;
  const watchDumpKey = dumpKeyWatch(c);
  const known = limits?.limitsNewGroups ? new KnownGroups(c.db) : undefined;
  return async (req, res) => {
    let answered: (() => void) | undefined;
    try {
      // Before anything waits: a client that resets its connection leaves no address to read.
      const sender = limits?.senderOf(req);
      const actor = await authenticateSoon(c, req, 'ingest');
      checkHost(req);
      gate?.(req);
      reserve?.refuseWhileShort();
      limits?.reserveReport(actor, sender);
      let report: Report;
      let bodyLength = 0;
      try {
        const body = await readJsonBody(req, LIMITS.bodyBytes, {
          beforeParse: (text) => {
            bodyLength = text.length;
            refuseCostlyBody(text);
          },
        });
        const v = validateReport(body);
        if (!v.ok) throw invalidReport(v.errors);
        report = v.report;
        checkDumpSize(report);
        // By what the body holds, not what its header declared: a declared length costs nothing
        // to send, and counted before the body came, held the reserve shut for everyone.
        answered = reserve?.admit(bodyLength);
      } catch (e) {
        // A bad body (4xx, a client gone before its body arrived among them) stays charged; the
        // collector's own 503 (too much arriving at once, the disk short) is not, except to the
        // sender of a body pushed out for arriving slowly, which is that sender's doing. Of a bad
        // body from a loopback connection (not limited by address) the token's share stays spent.
        if (!(e instanceof ApiError && e.status < 500)) {
          limits?.releaseReport(actor, isSlowBody(e) ? undefined : sender);
        } else if (sender !== undefined) {
          // A bad body from a sender the limit knows is that sender's to pay for, not the
          // fleet's: 26 addresses sending `{}` held the token's whole budget.
          limits?.releaseToken(actor);
        }
        throw e;
      }
      // After validation (the licence is known) and before the write: a refused report costs no I/O.
      limits?.takeReport(actor, report.license, sender);
      let newGroup = false;
      let stored;
      try {
        const group = groupOf(report);
        if (known && sender !== undefined && !known.has(group)) {
          limits!.takeNewGroup(sender);
          newGroup = true;
        }
        stored = await c.batcher.submit(prepareReport(report, c.keyring, c.clock(), group));
      } catch (e) {
        // Refused for a new group (429), or storage could not take it (503): the fleet's and the
        // licence's shares go back, and after a storage failure the new group's too (the
        // sender's stays: request-limits.ts says why).
        limits?.giveBack(actor, report.license, sender, newGroup);
        throw e;
      }
      known?.add(stored.group);
      if (stored.created) watchDumpKey(report);
      // An admin token may post reports too; like all its requests, that one is in the access log
      // (written once the report is stored, before the answer; 503 when it cannot be).
      if (actor.role === 'admin') await audited(c, req, 'reports.post', stored.id, () => undefined);
      sendJson(res, stored.created ? 202 : 200, { id: stored.id, group: stored.group });
    } catch (err) {
      answerError(c.log, err, req, res, onError);
    } finally {
      answered?.();
    }
  };
}

/**
 * The same route in Express's table: for the request targets the fast path leaves to Express
 * (an absolute URL, a fragment), and so that Express answers OPTIONS /v1/reports with
 * `Allow: POST` as for every other route.
 */
export function ingestRoutes(handler: IngestHandler): Router {
  const router = Router();
  router.post('/v1/reports', (req, res) => handler(req, res));
  return router;
}

/** A sealed box is its plaintext and a 16-byte authenticator. */
const MAX_DUMP_CIPHERTEXT_BYTES = LIMITS.dumpPlaintextBytes + 16;

/**
 * 413 for a dump whose plaintext is over 256 KiB, although the body is within its limit: the
 * contract's limit on dumps, and the answer on which the SDK sends the report again without its
 * dump (`dumpWithheld: "too-large"`) rather than losing it.
 */
function checkDumpSize(report: Report): void {
  const text = report.dump?.ciphertext;
  if (text === undefined) return;
  // Strict base64 (the schema checked it): 3 bytes per 4 characters, less the padding.
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  if ((text.length / 4) * 3 - padding <= MAX_DUMP_CIPHERTEXT_BYTES) return;
  throw new ApiError(
    'payload_too_large',
    'The dump is over 256 KiB of plaintext: send the report without it, with dumpWithheld "too-large".',
    {
      details: [
        {
          path: '/dump/ciphertext',
          message: `must decode to at most ${MAX_DUMP_CIPHERTEXT_BYTES} bytes (a 256 KiB plaintext)`,
        },
      ],
    },
  );
}

/**
 * 400 before parsing for a large body nested deeper than any report, or holding more values than
 * any report: JSON.parse spends some 75 and 15 times as long on such bodies as on a flat one of
 * their size, all of it on the event loop.
 */
function refuseCostlyBody(text: string): void {
  const field = nestingTooDeep(text);
  if (field !== null) {
    const where = field === '' ? '' : ` in ${cutDetailPath(field)}`;
    throw new ApiError(
      'invalid_report',
      `The report nests deeper than ${MAX_REPORT_NESTING} levels${where}: no field of report schema 1 does.`,
      { details: [{ path: field, message: `nests deeper than ${MAX_REPORT_NESTING} levels` }] },
    );
  }
  if (tooManyValues(text)) {
    throw new ApiError(
      'invalid_report',
      `The report holds more than ${MAX_REPORT_VALUES} values: a report of schema 1 has some 40.`,
      { details: [{ path: '', message: `holds more than ${MAX_REPORT_VALUES} values` }] },
    );
  }
}

/** The 400 for a report the schema refuses, naming its first fields; its details are bounded by ApiError. */
function invalidReport(errors: FieldError[]): ApiError {
  // A problem of the body as a whole has no field to name (its path is '').
  const whole = errors.find((e) => e.path === '');
  if (whole?.message === NOT_AN_OBJECT) {
    return new ApiError(
      'invalid_report',
      'The report must be a JSON object (report schema 1), not an array, a string, a number or null.',
      { details: errors },
    );
  }
  if (whole) {
    // an object with far too many fields: "The report has 40 fields: no object of ... than 10."
    return new ApiError('invalid_report', `The report ${whole.message}.`, { details: errors });
  }
  // The validator stops at MAX_DETAILS problems: past that, how many more is not known.
  const fields = fewNames(errors, undefined, errors.length >= MAX_DETAILS);
  return new ApiError(
    'invalid_report',
    `The report does not match report schema 1: check ${fields}.`,
    { details: errors },
  );
}
