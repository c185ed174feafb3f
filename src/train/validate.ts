/** Checks of option values that several entry points share, so that they say it in the same words. */

/** Throws `<what> must be a positive whole number, got <value>` unless `value` is one. */
export function checkPositiveWhole(value: number, what: string): void {
  if (!(Number.isInteger(value) && value >= 1)) throw new Error(`${what} must be a positive whole number, got ${value}`);
}
