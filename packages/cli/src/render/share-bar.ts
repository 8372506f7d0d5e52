const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/**
 * A horizontal bar, `value / max` of `width` cells, in eighths of a cell; any value above zero
 * shows at least a sliver.
 *
 * @example
 * shareBar(3, 4, 8); // '██████'
 */
export function shareBar(value: number, max: number, width: number): string {
  if (value <= 0 || max <= 0) return '';
  const eighths = Math.max(1, Math.round((value / max) * width * 8));
  return '█'.repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8];
}
