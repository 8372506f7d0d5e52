import { record } from './object-kinds';
import { cannotFit, spend, type WalkState } from './walk-state';

const BINARY_PREVIEW_BYTES = 64;
/**
 * How far past the preview the card-number scan reads: the longest text the scan takes for one
 * (19 digits, a separator between each: 37 characters), in UTF-16 (two bytes a character).
 */
const CARD_NUMBER_REACH = 74;
const REDACTED_CARD_BYTES = '[redacted: holds a card number]';

/**
 * Binary data in a dump: a typed array's numbers, or the first bytes of others in hex, unless they
 * hold a card number as text.
 */
export function describeBinary(
  obj: ArrayBuffer | SharedArrayBuffer | ArrayBufferView,
  state: WalkState,
) {
  const out = record();
  const isView = ArrayBuffer.isView(obj);
  out.$type = Buffer.isBuffer(obj) ? 'Buffer' : obj.constructor.name;
  const byteLength = obj.byteLength;
  out.byteLength = byteLength;
  const numeric =
    isView &&
    !(obj instanceof DataView) &&
    !(obj instanceof Uint8Array) &&
    !(obj instanceof Uint8ClampedArray);
  if (numeric) {
    const arr = obj as unknown as ArrayLike<number | bigint>;
    cannotFit(state, 2 * arr.length + 1);
    const n = Math.min(arr.length, state.maxBreadth);
    const values: unknown[] = [];
    for (let i = 0; i < n; i++) {
      const v = arr[i];
      values.push(typeof v === 'bigint' ? `${v}n` : Number.isFinite(v) ? v : String(v));
    }
    if (arr.length > n) {
      values.push(`[… ${arr.length - n} more items]`);
      state.truncated = true;
    }
    out.values = values;
    spend(state, JSON.stringify(values).length);
  } else {
    // A little past the preview, so that a card number across its end is seen whole.
    const scanned = Math.min(byteLength, BINARY_PREVIEW_BYTES + CARD_NUMBER_REACH);
    const view = isView
      ? new Uint8Array(obj.buffer, obj.byteOffset, scanned)
      : new Uint8Array(obj, 0, scanned);
    const bytes = view.subarray(0, Math.min(byteLength, BINARY_PREVIEW_BYTES));
    // Bytes are often text (a record read from a file, a socket's buffer, a Windows string in
    // UTF-16): a card number in them would go out in hex past the string scan, so the preview
    // goes instead. Read as Latin-1, and without its zero bytes for UTF-16's ASCII.
    const latin1 = Buffer.from(view).toString('latin1');
    const holdsCard = (text: string) => state.redactor.cleanString(text) !== text;
    const wide = latin1.includes('\0') && holdsCard(latin1.replace(/\0/g, ''));
    if (wide || holdsCard(latin1)) out.hex = REDACTED_CARD_BYTES;
    else
      out.hex = Buffer.from(bytes).toString('hex') + (byteLength > BINARY_PREVIEW_BYTES ? '…' : '');
    spend(state, 2 * bytes.length + 30);
  }
  return out;
}
