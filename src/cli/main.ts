#!/usr/bin/env node
/**
 * `resnet`: the command-line entry point. Each command lives in `commands/<name>.ts` and exports `register`.
 *
 * Every error reaches the user as one line, `resnet: <message>`: commander's own (bad option values, unknown
 * options or commands, missing required options) exit 2 with a hint naming the command's help; a {@link CliError}
 * exits with its code; anything else exits 1.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { CliError } from './common.js';
import { register as registerSummary } from './commands/summary.js';
import { register as registerPlot } from './commands/plot.js';
import { register as registerTrain } from './commands/train.js';
import { register as registerEvaluate } from './commands/evaluate.js';
import { register as registerPredict } from './commands/predict.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerConvert } from './commands/convert.js';

/** The package version, from `package.json` (two folders above `dist/src/cli/`). */
export function packageVersion(): string {
  const file = fileURLToPath(new URL('../../../package.json', import.meta.url));
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/** The program's help epilogue. */
const PROGRAM_EXAMPLES = `
Examples:
  resnet summary --arch resnet18 --input 64,64,3
  resnet train --data train_signs.h5 --out runs/signs --epochs 20
  resnet train --out runs/signs --resume          continue it (after Ctrl-C)
  resnet evaluate --model runs/signs --data test_signs.h5
  resnet predict --model runs/signs photo.jpg photos/
  resnet demo                                     Fashion-MNIST, a few minutes

Run resnet <command> --help for a command's options and examples.`;

/** The command that raised a commander error, for the `(see resnet <command> --help)` hint. */
const failedCommand = new WeakMap<CommanderError, Command>();

/**
 * Turns a commander error message into the one-line form: without commander's `error: ` prefix, with a suggestion
 * such as `(Did you mean --epochs?)` on the same line, and an invalid option value said as `--epochs: <reason>`. The
 * reason continues the sentence, so commander's capitalised ones start lower-case: `--backend 'foo': allowed choices
 * are auto, onednn, cpu` (a word in capitals, such as `HDF5`, is left as it is).
 */
export function formatCommanderError(message: string): string {
  const line = message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim().replace(/\.$/, '');
  const invalid = /^option '(-[^' ,]*)(?:, (--[^' ]+))?[^']*' argument '(.*)' is invalid\. (.*)$/.exec(line);
  if (invalid === null) return line;
  const [, first, long, value] = invalid;
  const reason = invalid[4].replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase());
  const name = long ?? first;
  // Our parsers' reasons quote the value already ("expected a positive integer, got '-1'"); commander's do not.
  return reason.includes(`'${value}'`) ? `${name}: ${reason}` : `${name} '${value}': ${reason}`;
}

/** Builds the `resnet` program with all of its commands. Exported for tests. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('resnet')
    .description('Build, train and use residual networks (ResNet-50 and family) with TensorFlow.js.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .addHelpText('after', PROGRAM_EXAMPLES)
    // run() prints commander's errors itself, as one line.
    .configureOutput({ outputError: () => {} });
  registerSummary(program);
  registerPlot(program);
  registerTrain(program);
  registerEvaluate(program);
  registerPredict(program);
  registerDemo(program);
  registerConvert(program);
  for (const cmd of [program, ...program.commands]) {
    cmd.configureOutput({ outputError: () => {} });
    cmd.exitOverride((err) => {
      failedCommand.set(err, cmd);
      throw err;
    });
  }
  return program;
}

/**
 * The arguments to hand commander. commander looks for a help request (`-h`, `--help`) before it notices that the
 * command is unknown, so `resnet bogus --help` would print the program's help and exit 0, and `resnet help bogus`
 * the help on stderr; without the help request it reports the unknown command (with its "Did you mean" suggestion)
 * as it does for `resnet bogus`. The program itself takes no option with a value, so its first argument that is not
 * an option names the command.
 */
function argvForCommander(program: Command, argv: string[]): string[] {
  const isHelpFlag = (arg: string) => arg === '-h' || arg === '--help';
  const known = (name: string) => name === 'help' || program.commands.some((c) => c.name() === name || c.aliases().includes(name));
  let at = argv.findIndex((arg) => !arg.startsWith('-'));
  if (at < 0 || argv.slice(0, at).includes('--')) return argv;
  let rest = argv;
  if (argv[at] === 'help') {
    // `resnet help <command>`: the command is the next argument.
    rest = [...argv.slice(0, at), ...argv.slice(at + 1)];
    at = rest.findIndex((arg, i) => i >= at && !arg.startsWith('-'));
    if (at < 0) return argv;
  }
  if (known(rest[at])) return argv;
  return rest.filter((arg) => !isHelpFlag(arg));
}

/** Runs the CLI on `argv` (without `node` and the script), returning the exit code instead of exiting. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argvForCommander(program, argv), { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are not errors; commander has already printed them.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      // `resnet` without a command: commander printed the help to stderr. A usage error, like a bad option.
      if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : 2;
      const cmd = failedCommand.get(err);
      const name = cmd === undefined || cmd === program ? 'resnet' : `resnet ${cmd.name()}`;
      process.stderr.write(`resnet: ${formatCommanderError(err.message)} (see ${name} --help)\n`);
      return 2;
    }
    if (err instanceof CliError) {
      process.stderr.write(`resnet: ${err.message}\n`);
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`resnet: ${message.split('\n')[0]}\n`);
    if (process.env.RESNET_DEBUG) console.error(err);
    return 1;
  }
}

const entry = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (entry === fileURLToPath(import.meta.url)) {
  // A reader that stops early (`resnet summary | head`) closes the pipe: the rest of the output is not wanted.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  // process.exit drops what a pipe has not taken yet (beyond its 64 KiB buffer): exit once both streams are flushed.
  const flushed = (stream: NodeJS.WriteStream): Promise<void> => new Promise((done) => stream.write('', () => done()));
  run(process.argv.slice(2))
    .then(async (code) => {
      await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
      return code;
    })
    .then((code) => process.exit(code));
}
