/** The `code` of a DayKeyGoneError: the storage refusing the report for now (ingest/unavailable.ts). */
export const DAY_KEY_GONE_CODE = 'JCS_DAY_KEY_GONE';

/**
 * A report was sealed under a day key that has since been shredded (an expiry run judged from
 * the future, in another process): stored, it could never be read. Nothing of the batch is
 * stored; sent again, the report is sealed under the day's new key.
 */
export class DayKeyGoneError extends Error {
  readonly code = DAY_KEY_GONE_CODE;

  constructor(day: string) {
    super(`the data key of ${day} was shredded while a report sealed under it was being stored`);
    this.name = 'DayKeyGoneError';
  }
}
