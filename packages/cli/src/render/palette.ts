import picocolors from 'picocolors';

/** Colour functions; all of them return their input unchanged when colour is off. */
export type Palette = ReturnType<typeof picocolors.createColors>;

/**
 * The palette for one run. Whether colour is on is decided once, from the settings (a TTY, no
 * `NO_COLOR`, no `--no-color`), rather than by picocolors' own guess from the process.
 *
 * @example
 * makePalette(false).red('not compliant'); // 'not compliant'
 */
export function makePalette(enabled: boolean): Palette {
  return picocolors.createColors(enabled);
}
