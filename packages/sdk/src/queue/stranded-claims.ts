import fs from 'node:fs';
import path from 'node:path';
import { retryTransient } from './transient-retry';

/**
 * Claims a queue instance gives back to `pending/`, and those whose rename failed even after its
 * retries (on Windows, a virus scanner's lock that outlasted them). Such a report is still this
 * instance's to send: it stays counted by `size()`, so `flush()` does not answer true over it,
 * and is renamed back at each later look. Forgotten, it sat in `claimed/` for the life of the
 * process: recovery leaves an instance's own claims alone, and nothing else would send it.
 */
export class StrandedClaims {
  /** claim file name -> the name it goes back to `pending/` under */
  private readonly claims = new Map<string, string>();

  constructor(
    private readonly claimedDir: string,
    private readonly pendingDir: string,
  ) {}

  /** How many reports wait in `claimed/` to go back. */
  get size(): number {
    return this.claims.size;
  }

  /** Renames the claim back into `pending/` as `pendingName`, or keeps it to try again later. */
  giveBack(claimName: string, pendingName: string): void {
    this.move(claimName, pendingName, () =>
      retryTransient(() => this.rename(claimName, pendingName)),
    );
  }

  /** Tries each stranded claim again, once: a look comes again soon. */
  retry(): void {
    for (const [claimName, pendingName] of [...this.claims]) {
      this.move(claimName, pendingName, () => this.rename(claimName, pendingName));
    }
  }

  private move(claimName: string, pendingName: string, rename: () => void): void {
    try {
      rename();
      this.claims.delete(claimName);
    } catch {
      // Gone (removed by hand, or taken back by another process once an hour old): nothing to
      // keep. Still there: tried again at the next look.
      if (fs.existsSync(path.join(this.claimedDir, claimName))) {
        this.claims.set(claimName, pendingName);
      } else this.claims.delete(claimName);
    }
  }

  private rename(claimName: string, pendingName: string): void {
    fs.renameSync(path.join(this.claimedDir, claimName), path.join(this.pendingDir, pendingName));
  }
}
