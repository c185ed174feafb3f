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
