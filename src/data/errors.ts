/**
 * The one error type of the data layer.
 */

/**
 * Error for bad data input. Its message is one line that names the file (or folder) and the problem,
 * e.g. `data/x.h5: truncated file: 2000 bytes, the HDF5 header says 1477712`.
 */
export class DataError extends Error {
  /** The file or folder the problem is in. */
  readonly path: string;

  /**
   * Builds the one-line message `<path>: <problem>`; line breaks are folded into spaces. With one argument, that
   * argument is the whole message (it should then name the file itself) and `path` is empty.
   */
  constructor(path: string, problem?: string) {
    super(problem === undefined ? oneLine(path) : `${path}: ${oneLine(problem)}`);
    this.name = 'DataError';
    this.path = problem === undefined ? '' : path;
  }
}

/** Folds whitespace runs (including line breaks) into single spaces. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** The message of anything thrown, as one line (without a dangling colon). */
export function messageOf(err: unknown): string {
  return oneLine(err instanceof Error ? err.message : String(err)).replace(/:$/, '');
}

/**
 * A list of names for a one-line message: all of them when there are at most four (`a, b, c, d`), else the first
 * three and how many more (`a, b, c and 2 more`), in the order given.
 */
export function listNames(names: readonly string[]): string {
  const shown = names.slice(0, names.length > 4 ? 3 : 4);
  return names.length > shown.length ? `${shown.join(', ')} and ${names.length - shown.length} more` : shown.join(', ');
}
