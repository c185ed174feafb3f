#!/usr/bin/env node
/**
 * `resnet`: the command-line entry point. Each command lives in `commands/<name>.ts` and exports `register`.
 */
import { realpathSync } from 'node:fs';
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

/** Builds the `resnet` program with all of its commands. Exported for tests. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('resnet')
    .description('Build, train and use residual networks (ResNet-50 and family) with TensorFlow.js.')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerSummary(program);
  registerPlot(program);
  registerTrain(program);
  registerEvaluate(program);
  registerPredict(program);
  registerDemo(program);
  registerConvert(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI on `argv` (without `node` and the script), returning the exit code instead of exiting. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; commander has already printed them.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
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
  run(process.argv.slice(2)).then((code) => process.exit(code));
}
