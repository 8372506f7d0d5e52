import { once } from 'node:events';
import type http from 'node:http';
import type net from 'node:net';

/**
 * What a server needs to stop well: it keeps track of every connection and answer from the start,
 * so that `stop()` can finish the requests in flight, end at once the connections that have no
 * request under way (idle, silent, or still in their TLS handshake), and not serve requests read
 * after the stop began on connections closing behind another answer (`isLate`).
 *
 * @example
 * const stopper = new GracefulStop(server, secure);
 * const handler = pipelineBounded(app, (req) => stopper.isLate(req));
 * await stopper.stop(20_000); // every answer sent, every connection closed
 */
export class GracefulStop {
  /**
   * Requests read after the stop began whose connection is closing behind an answer still to be
   * sent: pipelined behind it, or read after it as its connection was ending. No answer could
   * reach them, so they are not served at all (nothing stored or changed), and their client,
   * seeing the connection close, sends them again elsewhere.
   */
  private readonly late = new WeakSet<http.IncomingMessage>();
  /** Responses not yet finished, so that stopping can end their connections once they are sent. */
  private readonly open = new Set<http.ServerResponse>();
  /**
   * Connections that have not yet sent a whole request's head, new or kept alive after an answer:
   * stopping ends them at once. Node's closeIdleConnections() leaves them once a head has begun
   * (they are not idle), and its headers timeout stops with close(), so 50 silent connections
   * held a stop for its 20 s.
   */
  private readonly silent = new Set<net.Socket>();
  /**
   * Over HTTPS, connections whose TLS handshake is not done, by peer address: Node tracks them
   * nowhere a close can reach, so one that never starts TLS held the stop for the handshake's
   * whole timeout.
   */
  private readonly handshaking = new Map<string, net.Socket>();
  /**
   * Answers not yet sent, by connection: a kept-alive connection with none is waiting for its
   * next request, and is silent again until that request's head is whole.
   */
  private readonly pending = new Map<net.Socket, number>();
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly server: http.Server,
    secure: boolean,
  ) {
    const peer = (socket: net.Socket) => `${socket.remoteAddress}|${socket.remotePort}`;
    server.on(secure ? 'secureConnection' : 'connection', (socket: net.Socket) => {
      this.handshaking.delete(peer(socket));
      this.silent.add(socket);
      socket.once('close', () => this.silent.delete(socket));
    });
    if (secure) {
      server.on('connection', (socket: net.Socket) => {
        const key = peer(socket);
        this.handshaking.set(key, socket);
        socket.once('close', () => {
          if (this.handshaking.get(key) === socket) this.handshaking.delete(key);
        });
      });
    }
    server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) =>
      this.onRequest(req, res),
    );
  }

  /** Whether a request came too late to be served (see `late`). */
  isLate(req: http.IncomingMessage): boolean {
    return this.late.has(req);
  }

  /**
   * Stops taking connections; resolves when every request in flight has been answered and every
   * connection is closed. Requests still running after `timeoutMs` have their connections cut.
   * Called again, it answers the first call's promise.
   */
  stop(timeoutMs: number): Promise<void> {
    return (this.stopped ??= new Promise<void>((resolve) => {
      this.stopping = true;
      const deadline = setTimeout(() => this.server.closeAllConnections(), timeoutMs);
      deadline.unref();
      this.server.close(() => {
        clearTimeout(deadline);
        // The 'close' of a response whose connection the deadline cut can come after the
        // server's, and its request's log line with it: wait for those too, a moment at most.
        const bound = setTimeout(resolve, 1_000);
        void Promise.all([...this.open].map((res) => once(res, 'close'))).then(() => {
          clearTimeout(bound);
          resolve();
        });
      });
      this.closeAfterTheirAnswers();
      // Idle kept-alive sockets would hold close() open; busy ones finish their request first.
      this.server.closeIdleConnections();
      for (const socket of this.silent) socket.destroy();
      for (const socket of this.handshaking.values()) socket.destroy();
    }));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    this.silent.delete(socket);
    if (this.stopping) {
      // Node gives an answer its socket at once unless another is ahead of it on the connection.
      if (!res.socket || socket.writableEnded || socket.destroyed) {
        // Never served, so nothing to wait for: an answer queued behind one that closes the
        // connection never gets the socket, and Node never says 'close' for it.
        this.late.add(req);
        return;
      }
      // Its head came whole after the stop began: answered, then the connection closes.
      res.shouldKeepAlive = false;
    }
    this.pending.set(socket, (this.pending.get(socket) ?? 0) + 1);
    this.open.add(res);
    res.once('close', () => {
      this.open.delete(res);
      const left = (this.pending.get(socket) ?? 1) - 1;
      if (left > 0) return void this.pending.set(socket, left);
      this.pending.delete(socket);
      if (!socket.destroyed && !this.stopping) this.silent.add(socket);
    });
  }

  /**
   * On each connection only its newest answer closes it: one ahead of it hands the socket on to
   * the next, as a pipelined request read before the stop is in flight too.
   */
  private closeAfterTheirAnswers(): void {
    const newest = new Map<net.Socket, http.ServerResponse>();
    for (const res of this.open) newest.set(res.req.socket, res);
    for (const res of newest.values()) {
      if (!res.headersSent) {
        // Node then closes the connection itself once this answer is sent.
        res.shouldKeepAlive = false;
      } else {
        // Headers already said keep-alive: close the socket once the answer is out. (Taken now:
        // by the time 'finish' fires here, Node has detached it from the response.)
        const socket = res.socket;
        res.once('finish', () => socket?.end());
      }
    }
  }
}
