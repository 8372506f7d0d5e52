import type { IncomingMessage } from 'node:http';

/**
 * After a refusal, at most this many more bytes of a body are read and thrown away so the client
 * can read the answer on its socket; a client that keeps sending beyond that is cut off.
 */
const DISCARD_CAP_BYTES = 8 * 1024 * 1024;

/** Pieces of a body taken whatever their size, before the average size below counts. */
const FREE_PIECES = 1024;
/** Past FREE_PIECES, the bytes a body's pieces must bring on average. */
const MIN_AVERAGE_PIECE_BYTES = 64;

const draining = new WeakSet<IncomingMessage>();

/**
 * Whether a body has come in pieces too small to be worth their cost: each piece (a chunk of a
 * chunked body, or a read of the socket) costs the server a parser callback and an event, some
 * 1.5 microseconds, whatever it holds, so a client sending one-byte chunks made the server spend
 * about 70 times the CPU it spent itself (a million chunks, 6 MB on the wire: 1.4 s of the
 * event loop). The first 1,024 pieces are free; after them they must average 64 bytes, which a
 * body sent by any HTTP client, in pieces of a kilobyte or more, does with room to spare.
 *
 * @example
 * if (tooFragmented(pieces, size)) throw fragmented(); // read no further
 */
export function tooFragmented(pieces: number, bytes: number): boolean {
  return pieces > FREE_PIECES + bytes / MIN_AVERAGE_PIECE_BYTES;
}

/**
 * Lets the rest of a body nobody will read flow away, so that the answer can be read on a
 * kept-alive socket, within bounds: past 8 MiB, or in pieces too small (tooFragmented), the
 * client is only wasting the server's time, and its socket is closed. Called where a refusal
 * leaves a body unread, and by the server for every answer sent before its request's body ended
 * (a 401 before the body was looked at: Node's own draining reads without any bound).
 *
 * @example
 * drainUnread(req); throw new ApiError('unsupported_media_type', '...');
 */
export function drainUnread(req: IncomingMessage): void {
  if (draining.has(req)) return;
  draining.add(req);
  let bytes = 0;
  let pieces = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    pieces++;
    if (bytes > DISCARD_CAP_BYTES || tooFragmented(pieces, bytes)) req.socket?.destroy();
  });
  req.on('error', () => {});
  req.resume();
}

/**
 * Reads no more of a request at all: for a body refused for its tiny pieces, whose answer then
 * goes out with `Connection: close`, and the connection closes behind it. Draining it instead
 * (drainUnread) cut it off after a few more such pieces, often before the answer could be sent.
 *
 * @example
 * stopReading(req); throw new ApiError('payload_too_large', '...', { headers: { Connection: 'close' } });
 */
export function stopReading(req: IncomingMessage): void {
  draining.add(req);
  req.socket?.pause();
}
