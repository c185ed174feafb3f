/**
 * Shared helpers for the `resnet` CLI: typed option parsers and the one-line error convention.
 *
 * Every user error is a {@link CliError}: `main.ts` prints `resnet: <message>` on one line and exits with its code
 * (2 for usage errors, 1 for failures of the work itself).
 */
import { InvalidArgumentError } from 'commander';

/** An error meant for the user: printed as one line, without a stack trace. */
export class CliError extends Error {
  /** Process exit code: 2 for bad usage, 1 for a failure of the work itself. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Parses a positive integer option value, for commander. */
export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) <= 0) {
    throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  }
  return Number(value);
}

/**
 * Parses a class count option value (the size of a softmax output), for commander: an integer of at least 2, as the
 * model builders require (a softmax over one class always outputs 1).
 */
export function parseClassCount(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 2) {
    throw new InvalidArgumentError(`expected an integer of at least 2 (a softmax over one class always outputs 1), got '${value}'`);
  }
  return Number(value);
}

/** Parses a non-negative finite number option value, for commander. */
export function parseNonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`expected a non-negative number, got '${value}'`);
  }
  return n;
}

/** Parses a shape such as `64,64,3` (height, width, channels), for commander. */
export function parseShape(value: string): [number, number, number] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length !== 3 || parts.some((p) => !/^\d+$/.test(p) || Number(p) <= 0)) {
    throw new InvalidArgumentError(`expected height,width,channels such as 64,64,3, got '${value}'`);
  }
  return parts.map(Number) as [number, number, number];
}

/** Exit codes of the signals that end a long-running command: 128 + the signal number, as shells report them. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/** A signal that {@link untilInterrupted} handles. */
export type InterruptSignal = keyof typeof SIGNAL_EXIT_CODES;

/**
 * Runs `work` so that SIGINT (Ctrl-C) or SIGTERM ends the command at once instead of killing it mid-line.
 * `onSignal` restores what needs restoring (the terminal under a progress bar) and returns the one-line message; it is
 * synchronous, so that the abandoned work gets no further meanwhile. The returned promise then rejects with a
 * {@link CliError} of that message and exit code 130 (SIGINT) or 143 (SIGTERM), which `main.ts` prints before it
 * exits. The work is not awaited: it must never leave anything half-written (training writes its checkpoints
 * atomically). A second signal gets the default behaviour (the process ends). The handlers are removed once the work
 * or the interruption settles.
 */
export async function untilInterrupted<T>(
  work: () => Promise<T>,
  onSignal: (signal: InterruptSignal) => string,
): Promise<T> {
  const signals = Object.keys(SIGNAL_EXIT_CODES) as InterruptSignal[];
  let handler: ((signal: NodeJS.Signals) => void) | undefined;
  const remove = () => {
    if (handler !== undefined) for (const s of signals) process.removeListener(s, handler);
  };
  const interrupted = new Promise<never>((_, reject) => {
    handler = (signal) => {
      remove();
      const code = SIGNAL_EXIT_CODES[signal as InterruptSignal];
      try {
        reject(new CliError(onSignal(signal as InterruptSignal), code));
      } catch (err) {
        reject(new CliError(`interrupted (${err instanceof Error ? err.message : String(err)})`, code));
      }
    };
    for (const s of signals) process.on(s, handler);
  });
  const running = work();
  // Once interrupted, the work's own outcome no longer matters.
  running.catch(() => {});
  try {
    return await Promise.race([running, interrupted]);
  } finally {
    remove();
  }
}

/** Quotes `arg` for a POSIX shell when it needs it, for commands that messages suggest. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Parses a positive finite number (learning rates), for commander. */
export function parsePositiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got '${value}'`);
  return n;
}

/** Parses a fraction in [0, 1) (validation split), for commander. */
export function parseFraction(value: string): number {
  const n = parseNonNegativeNumber(value);
  if (n >= 1) throw new InvalidArgumentError(`expected a fraction in [0, 1), got '${value}'`);
  return n;
}

/** Parses a non-negative integer (seeds), for commander. */
export function parseNonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected a non-negative whole number, got '${value}'`);
  return Number(value);
}
