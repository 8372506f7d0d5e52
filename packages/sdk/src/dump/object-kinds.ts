import { types } from 'node:util';
import { safe } from './walk-state';

// Taken at load: a host that later replaces them cannot run code inside the walk through them.
const numberValue = Number.prototype.valueOf;
const stringValue = String.prototype.valueOf;
const booleanValue = Boolean.prototype.valueOf;
const bigintValue = BigInt.prototype.valueOf;

/**
 * A Number, String, Boolean or BigInt object's value, which is what JSON.stringify writes for it
 * (`new Number(5)` is `5`), and the walk then treats as that primitive (a boxed String is
 * redacted and cut like any string); `obj` itself for anything else. One with a `toJSON` is left
 * to it, as JSON.stringify calls that first. The value is read from the object's slot, not
 * through an own `valueOf`: no host code runs.
 */
export function unboxed(obj: object): unknown {
  if (!types.isBoxedPrimitive(obj)) return obj;
  if (typeof safe(() => (obj as { toJSON?: unknown }).toJSON, undefined) === 'function') return obj;
  if (types.isNumberObject(obj)) return numberValue.call(obj);
  if (types.isStringObject(obj)) return stringValue.call(obj);
  if (types.isBooleanObject(obj)) return booleanValue.call(obj);
  if (types.isBigIntObject(obj)) return bigintValue.call(obj);
  return obj; // a Symbol object: JSON.stringify writes it as an object too
}

/** A container's name and size, for one past the depth limit: `[Map(3)]`, `[Client]`. */
export function shallowName(obj: object): string {
  return safe(() => {
    if (Array.isArray(obj)) return `[Array(${obj.length})]`;
    if (obj instanceof Map) return `[Map(${obj.size})]`;
    if (obj instanceof Set) return `[Set(${obj.size})]`;
    return `[${typeName(obj) ?? 'Object'}]`;
  }, '[Object]');
}

/** The class name of an instance; null for plain and null-prototype objects. */
export function typeName(obj: object): string | null {
  const proto = Object.getPrototypeOf(obj);
  if (proto === null || proto === Object.prototype) return null;
  const name = safe(() => proto.constructor?.name, undefined);
  return typeof name === 'string' && name !== '' && name !== 'Object' ? name : null;
}

/** An object for the dump's own descriptions. */
export function record(): Record<string, unknown> {
  // No prototype: a dumped key named __proto__ stays a plain key.
  return Object.create(null) as Record<string, unknown>;
}
