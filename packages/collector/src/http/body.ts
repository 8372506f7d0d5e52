import type { IncomingMessage } from 'node:http';
import { ApiError, cutDetailPath } from '@jcs/protocol';
import { parserAnswered } from './client-error';
import { duplicateKey } from './duplicate-keys';
import { continueIfAsked } from './expect-continue';
import { headerLines } from './header-lines';
import { drainUnread, stopReading, tooFragmented } from './unread-body';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Bytes of request bodies held in memory at once, across every request still arriving. Past it
 * a body is refused with 503 and Retry-After (the SDK waits and sends again): three thousand
 * clients each holding a 512 KiB body one byte short of its end took the server from 280 MB to
 * 1.4 GB. 64 MiB is 128 maximal reports at once, or some 50,000 ordinary ones.
 *
 * When it is full, bodies that began arriving more than `slowMs` ago give way first (oldest
 * first; answered 503 with Retry-After, their bytes dropped): otherwise one client holding 140
 * bodies just short of their end kept every other client at 503 for as long as it liked, for
 * 2 MB/s of upload. Now it must send the whole budget again every few seconds.
 */
export const bodyBuffer = { budgetBytes: 64 * 1024 * 1024, held: 0, slowMs: 5_000 };

/** A body being read, as the budget sees it; in a Set, so oldest first. */
interface Arriving {
  startedAt: number;
  /** refuses the request (503) and lets go of its bytes */
  giveWay(): void;
}
const arriving = new Set<Arriving>();

/**
 * True once `bytes` more for body `asking` fit in the budget, other slow bodies given way as
 * needed. (Never `asking` itself: it would be refused and its chunk counted all the same.)
 */
function makeRoom(bytes: number, asking: Arriving): boolean {
  if (bodyBuffer.held + bytes <= bodyBuffer.budgetBytes) return true;
  const slowSince = Date.now() - bodyBuffer.slowMs;
  for (const body of arriving) {
    if (body.startedAt > slowSince) break;
    if (body === asking) continue;
    body.giveWay();
    if (bodyBuffer.held + bytes <= bodyBuffer.budgetBytes) return true;
  }
  return false;
}

function tooMuchAtOnce(message: string): ApiError {
  return new ApiError('unavailable', message, { headers: { 'Retry-After': '1' } });
}

/** The bodies pushed out because they were slow to arrive: their senders' doing, not the collector's. */
const slowBodies = new WeakSet<ApiError>();

/**
 * Whether a body was refused for arriving too slowly while others waited (a 503 that is the
 * sender's doing: the per-address limit keeps it charged).
 *
 * @example
 * if (!isSlowBody(e)) limits.releaseReport(actor, sender);
 */
export function isSlowBody(e: unknown): boolean {
  return e instanceof ApiError && slowBodies.has(e);
}

/**
 * Reads a JSON body with a byte limit. Written for the ingest path instead of express.json():
 * one check of the content type, one Buffer.concat, one JSON.parse, and a 413 before reading
 * more than the limit. Every way a client can get a body wrong ends in a 4xx ApiError, never a
 * 5xx: a wrong content type or coding (415), too many bytes (413), bytes that are not UTF-8 JSON
 * or a body cut off by the client (400 invalid_json).
 *
 * @example
 * const body = await readJsonBody(req, 512 * 1024); // unknown: validate it next
 */
export async function readJsonBody(
  req: IncomingMessage,
  limitBytes: number,
  options: {
    refuseRepeatedFields?: boolean;
    /** a check of the text before it is parsed, which throws to refuse it */
    beforeParse?: (text: string) => void;
  } = {},
): Promise<unknown> {
  checkContentType(req);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    drainUnread(req);
    throw tooLarge(limitBytes);
  }
  const bytes = await readBytes(req, limitBytes);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError('invalid_json', 'The request body is not UTF-8 text.', {
      details: [{ path: '', message: 'must be JSON in UTF-8' }],
    });
  }
  // RFC 8259 forbids a byte-order mark in JSON sent over a network; some writers (.NET's
  // StreamWriter, Windows Notepad) add one by default, and JSON.parse's complaint does not say so.
  if (text.charCodeAt(0) === 0xfeff) {
    throw new ApiError(
      'invalid_json',
      'The request body starts with a byte-order mark (U+FEFF): send the JSON without it.',
      { details: [{ path: '', message: 'must be JSON without a byte-order mark' }] },
    );
  }
  options.beforeParse?.(text);
  const body = parseJson(text);
  if (options.refuseRepeatedFields) {
    // A change or an erasure must not rest on which of two values JSON.parse happened to keep.
    const twice = duplicateKey(text);
    if (twice !== undefined) {
      throw new ApiError(
        'invalid_request',
        `The body gives ${cutDetailPath(twice)} twice: give it once.`,
        { details: [{ path: twice, message: 'is given more than once' }] },
      );
    }
  }
  return body;
}

/** JSON.parse, its failure a 400 `invalid_json` saying where parsing stopped. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    // V8's message quotes the start of the body; keep only where parsing stopped.
    const where = /position \d+|line \d+ column \d+|end of JSON input/.exec((e as Error).message);
    const at = where ? ` (at ${where[0]})` : '';
    throw new ApiError('invalid_json', `The request body is not valid JSON${at}.`, {
      details: [{ path: '', message: `must be JSON${at}` }],
    });
  }
}

/** 415 unless the body is declared as JSON in UTF-8 (RFC 8259) without a content coding. */
function checkContentType(req: IncomingMessage): void {
  // Node keeps the first; a proxy in front may have read the last: no guessing what was sent.
  if (headerLines(req, 'content-type') > 1) {
    drainUnread(req);
    throw new ApiError('unsupported_media_type', 'Send one Content-Type header, not several.');
  }
  // What every SDK sends: decided without splitting and lower-casing the header.
  if (
    req.headers['content-type'] === 'application/json' &&
    req.headers['content-encoding'] === undefined &&
    (req.headers['transfer-encoding'] === undefined ||
      req.headers['transfer-encoding'] === 'chunked')
  ) {
    return;
  }
  const [type, ...params] = (req.headers['content-type'] ?? '').split(';');
  const charsets = params
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p.startsWith('charset='))
    .map((p) => p.slice('charset='.length).replace(/^"(.*)"$/, '$1'));
  // Two charsets: which one a proxy or a logger in front believed is anyone's guess.
  const twoCharsets = charsets.length > 1;
  const charset = charsets[0];
  const coding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (type.trim().toLowerCase() !== 'application/json') {
    drainUnread(req);
    throw new ApiError(
      'unsupported_media_type',
      'The request body must be sent as Content-Type: application/json.',
    );
  }
  if (twoCharsets || (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')) {
    drainUnread(req);
    throw new ApiError(
      'unsupported_media_type',
      'The request body must be JSON in UTF-8: send one charset=utf-8 or no charset.',
    );
  }
  if (coding !== 'identity') {
    drainUnread(req);
    throw new ApiError(
      'unsupported_media_type',
      'The request body must not be compressed: send it without Content-Encoding.',
    );
  }
  // Node's parser takes `Transfer-Encoding: gzip, chunked` and hands on the gzip bytes as they
  // are, which would then read as JSON that is not UTF-8: refused for what it is, as for
  // Content-Encoding (RFC 9112 allows 501; the catalogue's 415 says what to do instead).
  const transfer = (req.headers['transfer-encoding'] ?? 'chunked')
    .split(',')
    .map((t) => t.trim().toLowerCase());
  if (transfer.some((t) => t !== 'chunked')) {
    drainUnread(req);
    throw new ApiError(
      'unsupported_media_type',
      'The request body must not be compressed: send it with no Transfer-Encoding but chunked.',
    );
  }
}

/**
 * The body's bytes. Events rather than `for await`: leaving an async iterator early destroys the
 * socket, and the client would then never read its 413.
 */
function readBytes(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    // Already read to its end (nothing in this collector does that first, but waiting on an
    // 'end' that has been and gone would hang the request).
    if (req.readableEnded) return resolve(Buffer.alloc(0));
    continueIfAsked(req);
    const chunks: Buffer[] = [];
    let size = 0;
    let pieces = 0;
    let settled = false;
    const self: Arriving = {
      startedAt: Date.now(),
      giveWay: () => {
        req.off('data', onData);
        drainUnread(req);
        const slow = tooMuchAtOnce(
          'The collector is receiving too much at once, and this body was slow to arrive: retry shortly.',
        );
        slowBodies.add(slow);
        fail(slow);
      },
    };
    arriving.add(self);
    const release = () => {
      bodyBuffer.held -= size;
      arriving.delete(self);
    };
    const fail = (e: ApiError) => {
      if (settled) return;
      settled = true;
      release();
      chunks.length = 0;
      reject(e);
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      if (size + chunk.length > limitBytes) {
        req.off('data', onData);
        drainUnread(req);
        fail(tooLarge(limitBytes));
        return;
      }
      if (tooFragmented(++pieces, size + chunk.length)) {
        req.off('data', onData);
        stopReading(req);
        fail(
          new ApiError(
            'payload_too_large',
            'The request body came in too many small pieces (chunks of a few bytes): send it in one piece, with Content-Length.',
            { headers: { Connection: 'close' } },
          ),
        );
        return;
      }
      if (!makeRoom(chunk.length, self)) {
        req.off('data', onData);
        drainUnread(req);
        fail(tooMuchAtOnce('The collector is receiving too much at once: retry shortly.'));
        return;
      }
      size += chunk.length;
      bodyBuffer.held += chunk.length;
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (settled) return;
      // The rest of a body that came after the server answered 408 (the socket was still being
      // read while the answer went out): the client was told it failed, so it is not taken.
      const late = parserAnswered(req);
      if (late) return fail(late);
      settled = true;
      release();
      // A report usually arrives in one chunk: no copy then.
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    // The client closed the connection before the body's end: nothing to answer, nothing to log
    // as a failure of ours. ('error' is only emitted while someone listens, so keep listening.)
    // Or the server cut it off for taking too long (answered 408 by answerClientError).
    const cutOff = () =>
      fail(
        parserAnswered(req) ??
          new ApiError('invalid_json', 'The request body ended before it was complete.'),
      );
    req.on('error', cutOff);
    req.once('aborted', cutOff);
    req.once('close', () => {
      if (!req.complete) cutOff();
    });
  });
}

function tooLarge(limitBytes: number): ApiError {
  return new ApiError(
    'payload_too_large',
    `The request body is over the limit of ${limitBytes} bytes.`,
  );
}

/**
 * Reads the small JSON body of an API request (triage, erasure, expiry). Unlike a report, a body
 * that is not JSON is an `invalid_request`: the request, not a report, is what is wrong.
 *
 * @example
 * const body = await readRequestJson(req); // {"status": "resolved"}
 */
export async function readRequestJson(
  req: IncomingMessage,
  limitBytes = 16 * 1024,
): Promise<unknown> {
  // No body at all is a request without its JSON object (400), not one in another type (415).
  if (!hasBody(req) && req.headers['content-type'] === undefined) {
    throw new ApiError('invalid_request', 'The request needs a JSON object as its body.', {
      details: [{ path: '', message: 'is required: a JSON object' }],
    });
  }
  try {
    return await readJsonBody(req, limitBytes, { refuseRepeatedFields: true });
  } catch (e) {
    // The same words as for a report (where parsing stopped, a byte-order mark), under this
    // route's code.
    if (e instanceof ApiError && e.code === 'invalid_json') {
      throw new ApiError('invalid_request', e.message, {
        details: e.details ?? [{ path: '', message: 'must be JSON' }],
      });
    }
    throw e;
  }
}

/**
 * Whether the request says a body follows: a non-zero Content-Length or a chunked one.
 *
 * @example
 * if (!hasBody(req)) return {}; // POST /v1/expire without a body
 */
export function hasBody(req: IncomingMessage): boolean {
  const length = Number(req.headers['content-length'] ?? 0);
  return length > 0 || req.headers['transfer-encoding'] !== undefined;
}
