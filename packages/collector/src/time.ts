export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** The collector's clock, injectable so tests and `expire --now` can judge ages at any moment. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();

export const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS);
export const dayOf = (ms: number): number => Math.floor(ms / DAY_MS);

/** `YYYY-MM-DD` (UTC) of a moment: names the data key of the day. */
export function dayName(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
