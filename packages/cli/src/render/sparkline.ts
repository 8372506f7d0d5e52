const BARS = '▁▂▃▄▅▆▇█';

/**
 * A one-line trend of counts, oldest first: `▁` for none, `▂`..`█` for some, scaled to the
 * largest. Longer series are summed into at most `maxWidth` buckets, the newest bucket complete
 * (the oldest may be partial), so the right edge is always "today".
 *
 * @example
 * sparkline([0, 1, 4, 8, 2]); // '▁▂▅█▃'
 */
export function sparkline(values: readonly number[], maxWidth = values.length): string {
  const series = bucket(values, Math.max(1, maxWidth));
  const max = Math.max(0, ...series);
  return series
    .map((v) => {
      if (v <= 0 || max === 0) return BARS[0];
      // Any occurrence at all must stand out from none, so non-zero starts at the second bar.
      return BARS[1 + Math.min(6, Math.floor((v / max) * 6.999))];
    })
    .join('');
}

/**
 * Sums consecutive values so that at most `width` remain, aligned on the newest value.
 *
 * @example
 * bucket([1, 1, 1, 1, 1], 2); // [2, 3]: buckets of three, counted from the newest
 */
export function bucket(values: readonly number[], width: number): number[] {
  if (values.length <= width) return [...values];
  const size = Math.ceil(values.length / width);
  const out: number[] = [];
  for (let end = values.length; end > 0; end -= size) {
    let sum = 0;
    for (let i = Math.max(0, end - size); i < end; i++) sum += values[i];
    out.unshift(sum);
  }
  return out;
}
