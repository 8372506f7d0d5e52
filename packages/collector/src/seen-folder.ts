import fs from 'node:fs';

/**
 * A folder the collector needs while it runs, told apart as missing from the start (a new data
 * dir, a restore without it: made anew, or its contents read as gone) or gone since it was
 * there (moved away under a running collector: the storage failing, answered 503, and never
 * made anew beside the moved one, whose contents could then not be put back). Used for the keys
 * folder's `days/` (crypto/keyring.ts) and for `sealed/` (store/sealed-files.ts).
 *
 * @example
 * const sealed = new SeenFolder(dir);
 * if (sealed.gone()) throw new SealedFolderGoneError(dir);
 */
export class SeenFolder {
  /**
   * @param seen whether it is known to have been there (by default, whether it is now)
   */
  constructor(
    readonly dir: string,
    private seen = fs.existsSync(dir),
  ) {}

  /** It is there (read from or made): from now on, missing means gone. */
  saw(): void {
    this.seen = true;
  }

  /** True when it was there once and is not now. */
  gone(): boolean {
    if (fs.existsSync(this.dir)) {
      this.seen = true;
      return false;
    }
    return this.seen;
  }
}
