/**
 * Compares dotted versions numerically, part by part; missing parts count as 0, so `5.2` equals
 * `5.2.0`. A part that is not a number compares after all numbers, then as text.
 *
 * @example
 * compareVersions('5.10.0', '5.9.3'); // 1
 * compareVersions('5.2', '5.2.0');    // 0
 */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const pa = a.split('.');
  const pb = b.split('.');
  const n = Math.max(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const c = comparePart(pa[i] ?? '0', pb[i] ?? '0');
    if (c !== 0) return c;
  }
  return 0;
}

function comparePart(x: string, y: string): -1 | 0 | 1 {
  const xn = /^\d+$/.test(x);
  const yn = /^\d+$/.test(y);
  if (xn && yn) {
    // Compare as digit strings so parts beyond 2^53 still order correctly.
    const xs = x.replace(/^0+(?=\d)/, '');
    const ys = y.replace(/^0+(?=\d)/, '');
    if (xs.length !== ys.length) return xs.length < ys.length ? -1 : 1;
    return xs < ys ? -1 : xs > ys ? 1 : 0;
  }
  if (xn !== yn) return xn ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Newest first, comparing numerically part by part; versions that compare equal (`5.2` and
 * `5.2.0`, `5.9` and `05.9`) by their text, so that every list puts them in the same order.
 *
 * @example
 * ['5.2', '5.10', '5.2.0'].sort(newestFirst); // ['5.10', '5.2', '5.2.0']
 */
export function newestFirst(a: string, b: string): number {
  return compareVersions(b, a) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Sorts versions newest first, comparing numerically part by part ({@link newestFirst}).
 *
 * @example
 * sortVersionsDescending(['5.9', '5.10', '5.2.1']); // ['5.10', '5.9', '5.2.1']
 */
export function sortVersionsDescending(versions: Iterable<string>): string[] {
  return [...versions].sort(newestFirst);
}
