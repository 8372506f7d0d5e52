import { validateReport, type Report, type Validation } from '@jcs/protocol';

/**
 * `validateReport`, made safe for a host that added enumerable properties to `Object.prototype`
 * (what a vulnerable deep merge does: `Object.prototype.isAdmin = false`). The validator's
 * generated code walks an object's keys with `for...in`, which also yields inherited ones, so
 * every report read back from the queue was judged to have an unknown field and set aside as
 * corrupt; and compiling the schema in such a host throws. So the check runs on a copy holding
 * own properties only, and when the validator cannot run at all the report goes out unchecked:
 * the collector validates every report anyway, and a report lost unsent is worse than one it
 * refuses.
 *
 * @example
 * const v = checkReport(JSON.parse(text)); // as validateReport, whatever the host did to Object.prototype
 */
export function checkReport(value: unknown): Validation {
  if (!prototypeChanged()) return validateReport(value);
  try {
    const v = validateReport(ownPropertiesOnly(value));
    // The caller's own object: its own properties are what JSON.stringify sends.
    return v.ok ? { ok: true, report: value as Report } : v;
  } catch {
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? { ok: true, report: value as Report }
      : validateReport(value); // not an object: says so without the schema
  }
}

/** Whether `Object.prototype` has an enumerable property, which `for...in` over any object yields. */
function prototypeChanged(): boolean {
  for (const key in {}) return key !== undefined;
  return false;
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
