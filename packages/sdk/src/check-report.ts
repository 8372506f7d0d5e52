import { prototypeChanged, validateReport, type Report, type Validation } from '@jcs/protocol';

/**
 * `validateReport`, made safe for a host that added enumerable properties to `Object.prototype`
 * (what a vulnerable deep merge does: `Object.prototype.isAdmin = false`). The validator's
 * generated code walks an object's keys with `for...in`, which also yields inherited ones, so
 * every report read back from the queue was judged to have an unknown field and set aside as
 * corrupt. So in such a host the check runs on a copy holding own properties only (and the
 * protocol compiles the schema without strict mode, which the pollution breaks).
 *
 * Should the validator still fail to run, `ifUnchecked` says what to do: `send` for a queue
 * file, which this SDK wrote and sealed after checking it (the collector checks it again), so
 * that it is not lost; `refuse` for what a `beforeSend` hook returned, which must never leave the
 * machine unchecked: a field outside the privacy policy would go with it.
 *
 * @example
 * const v = checkReport(JSON.parse(text), 'send'); // as validateReport, whatever the host did to Object.prototype
 */
export function checkReport(value: unknown, ifUnchecked: 'send' | 'refuse'): Validation {
  if (!prototypeChanged()) return validateReport(value);
  try {
    const v = validateReport(ownPropertiesOnly(value));
    // The caller's own object: its own properties are what JSON.stringify sends.
    return v.ok ? { ok: true, report: value as Report } : v;
  } catch {
    if (
      ifUnchecked === 'send' &&
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value)
    ) {
      return { ok: true, report: value as Report };
    }
    return {
      ok: false,
      errors: [{ path: '', message: 'could not be checked (Object.prototype was changed)' }],
    };
  }
}

/** A deep copy of plain data whose objects have no prototype, so `for...in` sees own keys only. */
function ownPropertiesOnly(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || depth > 64) return value;
  if (Array.isArray(value)) return value.map((v) => ownPropertiesOnly(v, depth + 1));
  const copy = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(value)) {
    copy[key] = ownPropertiesOnly((value as Record<string, unknown>)[key], depth + 1);
  }
  return copy;
}
