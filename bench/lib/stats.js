'use strict';
/** Small statistics helpers: every figure in results.md is a median with its min and max. */

function sorted(values) {
  return [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
}

/** The p-th percentile (0-100) by nearest rank, of a list of numbers. */
function percentile(values, p) {
  const s = sorted(values);
  if (s.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}

function median(values) {
  const s = sorted(values);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** { median, min, max, n } of a list of numbers. */
function summarize(values) {
  const s = sorted(values);
  return { median: median(s), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, n: s.length };
}

/** A number with sensible precision for a table. */
function fmt(value, digits) {
  if (!Number.isFinite(value)) return 'n/a';
  if (digits !== undefined) return value.toFixed(digits);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

/** "median (min - max)" of a summary, with a unit. */
function range(summary, unit = '', digits) {
  const u = unit ? ` ${unit}` : '';
  if (summary.n <= 1) return `${fmt(summary.median, digits)}${u}`;
  return `${fmt(summary.median, digits)}${u} (${fmt(summary.min, digits)} - ${fmt(summary.max, digits)})`;
}

/** A ratio summary, e.g. "1.12x (1.05 - 1.20)". */
function ratio(summary) {
  if (summary.n === 0) return 'n/a';
  if (summary.n <= 1) return `${fmt(summary.median, 2)}x`;
  return `${fmt(summary.median, 2)}x (${fmt(summary.min, 2)} - ${fmt(summary.max, 2)})`;
}

function bytes(n) {
  if (!Number.isFinite(n)) return 'n/a';
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

module.exports = { percentile, median, summarize, fmt, range, ratio, bytes };
