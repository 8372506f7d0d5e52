import fs from 'node:fs';
import type net from 'node:net';
import type { Logger } from '../log';

/** How often, at most, refused connections are logged while they go on. */
const SAY_EVERY_MS = 60_000;

/** File descriptors kept for the collector's own files when the total is taken from the limit. */
const FILES_KEPT = 512;

export interface ConnectionLimits {
  /** open connections one sender may hold (0: no limit) */
  perSender: number;
  /** open connections in all (0: no limit) */
  total: number;
  /** the sender's key (auth/client-address.ts), or undefined for one not limited */
  keyOf: (socket: net.Socket) => string | undefined;
  log: Logger;
  /** monotonic milliseconds; tests pass their own */
  now?: () => number;
}

/**
 * Bounds the connections a server holds open: per sender, so that one address cannot take every
 * file descriptor with idle connections (each held until the 10 s head timeout cuts it, thousands
 * a second were easy), and in all, below the process's open-file limit, so that the collector
 * can still open its own files (day keys, day files, SQLite's) when the connections are many.
 * A connection over either is closed at once, before TLS or a byte of HTTP: the client sees it
 * reset and sends again later (the SDK backs off). Neither the address nor anything of the
 * connection is logged; the refusals are counted in a line at most once a minute.
 *
 * @example
 * limitConnections(server, { perSender: 256, total: 4096, keyOf: connectionKey(), log });
 */
export function limitConnections(server: net.Server, limits: ConnectionLimits): void {
  const now = limits.now ?? (() => performance.now());
  const open = new Map<string, number>();
  const refused = { sender: 0, total: 0 };
  let saidAt = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  const say = () => {
    timer = undefined;
    if (refused.sender + refused.total === 0) return;
    saidAt = now();
    limits.log.warn(
      {
        overSender: refused.sender,
        overTotal: refused.total,
        perSender: limits.perSender,
        total: limits.total,
      },
      'connections refused: over the open connections one address may hold, or the server holds in all',
    );
    refused.sender = refused.total = 0;
  };
  const count = (why: keyof typeof refused) => {
    refused[why]++;
    const wait = saidAt + SAY_EVERY_MS - now();
    if (wait <= 0) return say();
    // Unref'd: it never holds a stopping process.
    timer ??= setTimeout(say, wait).unref();
  };

  if (limits.total > 0) {
    server.maxConnections = limits.total;
    server.on('drop', () => count('total'));
  }
  if (limits.perSender <= 0) return;
  server.on('connection', (socket: net.Socket) => {
    const key = limits.keyOf(socket);
    if (key === undefined) return;
    const n = open.get(key) ?? 0;
    if (n >= limits.perSender) {
      count('sender');
      socket.destroy();
      return;
    }
    open.set(key, n + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
    });
  });
}

/**
 * The total a server may hold open by default: the process's open-file limit (Node raises its
 * soft limit to the hard one at start) less 512 for the collector's own files, or half of a limit
 * under 1,024; 0, no limit, where the limit cannot be read (not Linux) or is unlimited.
 *
 * @example
 * defaultTotalConnections(); // 19488 under a limit of 20000
 */
export function defaultTotalConnections(limitsFile = '/proc/self/limits'): number {
  let text: string;
  try {
    text = fs.readFileSync(limitsFile, 'utf8');
  } catch {
    return 0;
  }
  const line = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (!line || line[1] === 'unlimited') return 0;
  const limit = Number(line[1]);
  return limit >= 2 * FILES_KEPT ? limit - FILES_KEPT : Math.max(1, Math.floor(limit / 2));
}
