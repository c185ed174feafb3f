/**
 * Runs the CLI in this process through `run(argv)`, capturing what its own code (or commander) writes to stdout and
 * stderr. Other writes, such as the test runner's reports of earlier tests, pass through.
 */
import { run } from '../src/cli/main.js';

/** What a CLI run printed, and its exit code. */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `resnet <argv>` in-process and returns its exit code and captured output. */
export async function runCaptured(argv: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  const stderrWrite = process.stderr.write.bind(process.stderr);
  const capture = (original: typeof process.stdout.write, append: (s: string) => void) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      // Only what the CLI's code or commander writes is captured.
      if (!/[/\\](?:dist[/\\]src|node_modules[/\\]commander)[/\\]/.test(new Error().stack ?? '')) {
        return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
      }
      append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture(stdoutWrite, (s) => (out += s));
  process.stderr.write = capture(stderrWrite, (s) => (err += s));
  try {
    return { code: await run(argv), out, err };
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
}

/** A fake terminal of `columns` columns (none: a size it does not tell) that keeps every chunk written to it. */
export function fakeTerminal(columns: number | undefined, isTTY = true): NodeJS.WriteStream & { chunks: string[]; text: () => string } {
  const t = {
    chunks: [] as string[],
    text: () => t.chunks.join(''),
    isTTY,
    columns,
    write(chunk: string | Uint8Array) {
      t.chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return true;
    },
    cursorTo() {
      return true;
    },
    moveCursor() {
      return true;
    },
    clearLine() {
      return true;
    },
    on() {
      return t;
    },
    removeListener() {
      return t;
    },
  };
  return t as unknown as NodeJS.WriteStream & { chunks: string[]; text: () => string };
}
