import { write, writeSync } from 'node:fs';

/** Lines held while a write is in flight before new ones are dropped (a reader that stalls). */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/**
 * A log destination on a file descriptor (stderr by default) that can never keep the process
 * from stopping. Lines are written in order by asynchronous writes, one at a time, batched while
 * one is in flight. When the reader has gone (EPIPE: `serve 2>&1 | head`) or the descriptor
 * fails in any other way, the log stops and every later line is dropped: pino's own destination
 * (sonic-boom) retried an EPIPE forever in its exit-time flush, so a stopped collector hung until
 * a second signal. A reader that stalls costs at most MAX_PENDING_BYTES of memory.
 *
 * @example
 * const log = pino({}, new FdLines(2));
 * log.flush(() => process.exit(0));
 */
export class FdLines {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing = false;
  private broken = false;
  private drained: (() => void)[] = [];
  /** Lines lost to a stalled or gone reader. */
  dropped = 0;

  constructor(private readonly fd = 2) {}

  /** pino's DestinationStream: one JSON line. */
  write(line: string): void {
    if (this.broken) {
      this.dropped++;
      return;
    }
    const bytes = Buffer.from(line);
    if (this.pendingBytes + bytes.length > MAX_PENDING_BYTES) {
      this.dropped++;
      return;
    }
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.pump();
  }

  /** Calls back once every line written so far is out (or dropped: the log is broken). */
  flush(callback?: (err?: Error) => void): void {
    if (!callback) return;
    if (!this.writing && this.pending.length === 0) callback();
    else this.drained.push(() => callback());
  }

  /**
   * At process exit: one synchronous attempt to write what is still waiting (a line logged just
   * before a crash), then nothing more, whatever it meets. A line whose asynchronous write is
   * still in flight is not written twice.
   */
  flushSync(): void {
    if (this.broken || this.pending.length === 0) return;
    const chunk = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      writeSync(this.fd, chunk);
    } catch {
      this.broken = true;
    }
  }

  private pump(): void {
    if (this.writing) return;
    if (this.pending.length === 0) {
      const waiting = this.drained;
      this.drained = [];
      for (const done of waiting) done();
      return;
    }
    const chunk = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = true;
    this.send(chunk);
  }

  private send(chunk: Buffer): void {
    write(this.fd, chunk, 0, chunk.length, null, (err, written) => {
      if (err && err.code === 'EAGAIN') {
        // A non-blocking pipe that is full: the reader is slow, not gone.
        setTimeout(() => this.send(chunk), 10).unref();
        return;
      }
      if (err) {
        this.broken = true;
        this.dropped += this.pending.length + 1;
        this.pending = [];
        this.pendingBytes = 0;
      } else if (written < chunk.length) {
        this.send(chunk.subarray(written));
        return;
      }
      this.writing = false;
      this.pump();
    });
  }
}
