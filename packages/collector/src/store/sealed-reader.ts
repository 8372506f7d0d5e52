import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SeenFolder } from '../seen-folder';
import { dayFile, SealedFolderGoneError } from './sealed-files';
import { decodeRecord, type SealedRecord } from './sealed-record';

/** How long a day file's descriptor is kept before the file is opened again by name. */
const REOPEN_MS = 5_000;

/**
 * Reads records for the API. Files are kept open a few seconds at a time, then opened again, so
 * a file another process removed (its expiry) is let go of soon.
 *
 * @example
 * const fields = reader.read('2026-11-29', row.sealed_at, row.sealed_len, row.id);
 */
export class SealedReader {
  private readonly fds = new Map<string, { fd: number; at: number }>();
  /** `sealed/`: gone since it was there, it is the storage failing, not reports gone */
  private readonly folder: SeenFolder;

  /**
   * @param seen whether `sealed/` is known to have been there (by default, whether it is now):
   *   one missing at start with reports stored is a restore without it, whose reports read as
   *   gone; one missing later, the storage failing
   */
  constructor(
    private readonly dir: string,
    seen = fs.existsSync(dir),
  ) {
    this.folder = new SeenFolder(dir, seen);
  }

  /** The record of report `id`, or null when its file or bytes are gone. */
  read(day: string, at: number, length: number, id: string): SealedRecord | null {
    const held = this.fds.has(day);
    const record = this.readFrom(this.fd(day), at, length, id);
    if (record !== null || !held) return record;
    // The descriptor may be of a file removed since (`jcs-collector expire --now` in another
    // process took the whole day, then ingest began the day's file anew): look again by name.
    this.forget(day);
    return this.readFrom(this.fd(day), at, length, id);
  }

  private readFrom(fd: number | undefined, at: number, length: number, id: string) {
    if (fd === undefined) return null;
    const buf = Buffer.allocUnsafe(length);
    const n = fs.readSync(fd, buf, 0, length, at);
    return n === length ? decodeRecord(buf, id) : null;
  }

  private forget(day: string): void {
    const open = this.fds.get(day);
    if (!open) return;
    fs.closeSync(open.fd);
    this.fds.delete(day);
  }

  close(): void {
    for (const { fd } of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }

  private fd(day: string): number | undefined {
    const now = performance.now();
    const open = this.fds.get(day);
    if (open && now - open.at < REOPEN_MS) return open.fd;
    // Every stale one goes, not only this day's: a file removed by expiry keeps its disk space
    // for as long as a descriptor of it is open.
    for (const [d, { fd, at }] of this.fds) {
      if (now - at < REOPEN_MS) continue;
      fs.closeSync(fd);
      this.fds.delete(d);
    }
    try {
      const fd = fs.openSync(dayFile(this.dir, day), 'r');
      this.folder.saw();
      this.fds.set(day, { fd, at: now });
      return fd;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      // One day's file gone (expired, or a restore without it): its reports read as gone. The
      // whole folder gone while the collector runs (moved away): 503 until it is back, as for
      // the keys folder, not every report answered 404 "expired or erased".
      if (this.folder.gone()) throw new SealedFolderGoneError(this.dir);
      return undefined;
    }
  }
}
