import fs from 'node:fs';

/**
 * Makes committed transactions durable by a sync of the WAL done off the event loop, shared by
 * every commit made before it started (group sync).
 *
 * Why: with `synchronous=FULL` SQLite fsyncs the WAL inside the commit, on the thread that runs it,
 * so the whole event loop stands still for every fsync (milliseconds each, tens when the disk is
 * busy) and every request waiting on it is late. Ingest commits with `synchronous=NORMAL` instead
 * (the same transaction, written to the WAL, no fsync) and answers only after this fsync of the
 * WAL file has completed: the same durability as FULL, which is exactly that fsync, without
 * holding the event loop.
 *
 * @example
 * const wal = new WalSync(`${dbFile}-wal`);
 * writer.write(batch);      // committed with synchronous=NORMAL
 * await wal.sync();         // durable: now answer 202
 */
export class WalSync {
  private fd: number | undefined;
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly walFile: string) {}

  /** Resolves once everything committed before the call is on disk; rejects if fsync fails. */
  sync(): Promise<void> {
    // An fsync already running may have started before this caller's commit: wait for the next.
    if (this.running) return (this.next ??= this.running.then(() => this.start()));
    return this.start();
  }

  /** Closes the file descriptor (the collector is closing). */
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private start(): Promise<void> {
    this.next = undefined;
    const run = new Promise<void>((resolve, reject) => {
      // Opened on first use: the WAL exists once the first transaction has been written.
      this.fd ??= fs.openSync(this.walFile, 'r+');
      // fdatasync: the frames and the file's size, not its times (PostgreSQL's default for its
      // WAL on Linux); a full fsync also commits the file system's journal for the new mtime.
      fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve()));
    });
    this.running = run;
    const clear = () => {
      if (this.running === run) this.running = undefined;
    };
    run.then(clear, clear);
    return run;
  }
}
