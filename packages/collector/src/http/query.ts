import { ApiError, parseTimeBound, TIME_BOUND_HELP, type ErrorDetail } from '@jcs/protocol';

/** Reads query parameters strictly: every bad one named in `details`, all at once. */
export class QueryReader {
  private readonly problems: ErrorDetail[] = [];

  constructor(
    private readonly query: Record<string, unknown>,
    private readonly allowed: string[],
  ) {
    for (const key of Object.keys(query)) {
      if (!allowed.includes(key))
        this.problems.push({
          path: key,
          message: `is not a parameter of this route (use ${allowed.join(', ') || 'none'})`,
        });
    }
  }

  private raw(name: string): string | undefined {
    const v = this.query[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      this.problems.push({ path: name, message: 'must be given once, as a single value' });
      return undefined;
    }
    return v;
  }

  /** A window bound in ms; NaN (and a problem noted) when it is not one. */
  time(name: string, fallback: string, now: number): number {
    const text = this.raw(name) ?? fallback;
    const at = parseTimeBound(text, new Date(now));
    if (!at) {
      this.problems.push({
        path: name,
        message: `must be ${TIME_BOUND_HELP}, not ${JSON.stringify(text.slice(0, 40))}`,
      });
      return NaN;
    }
    return at.getTime();
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) {
      this.problems.push({ path: name, message: `must be a whole number from ${min} to ${max}` });
      return fallback;
    }
    return Number(text);
  }

  oneOf<T extends string>(name: string, fallback: T, values: readonly T[]): T {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    if (!values.includes(text as T)) {
      this.problems.push({ path: name, message: `must be one of ${values.join(', ')}` });
      return fallback;
    }
    return text as T;
  }

  flag(name: string): boolean {
    const text = this.raw(name);
    if (text === undefined) return false;
    if (!['1', 'true', '0', 'false', ''].includes(text)) {
      this.problems.push({ path: name, message: 'must be 1 or 0' });
      return false;
    }
    return text === '1' || text === 'true' || text === '';
  }

  string(name: string, maxLength: number): string | undefined {
    const text = this.raw(name);
    if (text !== undefined && (text.length === 0 || text.length > maxLength)) {
      this.problems.push({ path: name, message: `must be 1 to ${maxLength} characters` });
      return undefined;
    }
    return text;
  }

  /** Adds a problem found by a cross-check of several parameters. */
  problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /** Throws 400 invalid_request naming every bad parameter. */
  done(): void {
    if (this.problems.length === 0) return;
    const names = [...new Set(this.problems.map((p) => p.path))].join(', ');
    throw new ApiError('invalid_request', `Bad query parameter: ${names}.`, {
      details: this.problems,
    });
  }
}
