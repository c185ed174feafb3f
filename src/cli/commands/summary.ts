/**
 * `resnet summary`: prints a Keras-style summary of a ResNet (layers, output shapes, parameters, connections, and
 * the parameter totals), built from `--arch` and the rest or loaded with `--model`.
 *
 * Also exports the model options shared with `resnet plot` ({@link addModelOptions}, {@link modelFromOptions}).
 */
import { Command, Option } from 'commander';
import type * as tf from '@tensorflow/tfjs';
import { ARCH_NAMES, buildResNet, formatSummary, type ArchName } from '../../model/index.js';
import { initBackend } from '../../backend/index.js';
import { loadModel, resolveModelDir, type CheckpointChoice } from '../../train/index.js';
import { CliError, parseClassCount, parsePositiveInt, parseShape } from '../common.js';
import { addCheckpointOption, checkCheckpointOption, MODEL_OPTION_HELP } from '../options.js';

/** The model options of `summary` and `plot`, as commander parses them. */
export interface ModelCliOptions {
  arch: ArchName;
  input: [number, number, number];
  classes: number;
  /** False with `--no-top`. */
  top: boolean;
  pooling?: 'avg' | 'max';
  widthDivisor: number;
  /** A saved model to show instead of building one. */
  model?: string;
  /** With `--model` naming a training run folder: which checkpoint. */
  checkpoint: CheckpointChoice;
}

/** The options that describe a model to build, by attribute name, with the flag the user types; `--model` excludes them. */
const BUILD_OPTIONS: readonly [keyof ModelCliOptions, string][] = [
  ['arch', '--arch'],
  ['input', '--input'],
  ['classes', '--classes'],
  ['top', '--no-top'],
  ['pooling', '--pooling'],
  ['widthDivisor', '--width-divisor'],
];

/**
 * Adds the options that choose a model: `--model` (a saved one), or `--arch`, `--input`, `--classes`, `--no-top`,
 * `--pooling`, `--width-divisor` (one to build).
 */
export function addModelOptions(cmd: Command): Command {
  return addCheckpointOption(
    cmd.option('--model <path>', `${MODEL_OPTION_HELP}: show a saved model instead of building one (not with --arch and the options after it)`),
  )
    .addOption(new Option('--arch <name>', 'architecture').choices(ARCH_NAMES).default('resnet50'))
    .addOption(
      new Option('--input <h,w,c>', 'input shape: height,width,channels').argParser(parseShape).default([64, 64, 3], '64,64,3'),
    )
    .option('--classes <n>', 'number of classes of the softmax output (at least 2)', parseClassCount, 6)
    .option('--no-top', 'leave out the top (avg_pool, flatten and the fc layer): a backbone')
    .addOption(new Option('--pooling <kind>', 'with --no-top: global pooling at the end').choices(['avg', 'max']))
    .option('--width-divisor <n>', 'divide every filter count by n (small variants)', parsePositiveInt, 1);
}

/**
 * Builds the model the options describe. A model that cannot be built from them (an input too small for the
 * architecture, `--pooling` without `--no-top`) is a usage error: {@link CliError} with exit code 2.
 */
export async function buildModelFromOptions(opts: ModelCliOptions): Promise<tf.LayersModel> {
  await initBackend();
  try {
    return buildResNet(opts.arch, {
      inputShape: opts.input,
      classes: opts.classes,
      includeTop: opts.top,
      pooling: opts.pooling,
      widthDivisor: opts.widthDivisor,
    });
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), 2);
  }
}

/**
 * The model the options of `cmd` choose: the saved one `--model` names (a model folder, `model.json`, a Keras `.h5` or `.hdf5`
 * file or a training run folder's `--checkpoint`), read with `loadModel`, or else one built from `--arch` and the rest
 * ({@link buildModelFromOptions}). `--model` together with an option that builds a model, or `--checkpoint` without
 * `--model`, is a usage error (exit code 2); a model that cannot be loaded is a one-line failure naming the file.
 * The caller disposes the model.
 */
export async function modelFromOptions(opts: ModelCliOptions, cmd: Command): Promise<tf.LayersModel> {
  const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
  const help = `(see resnet ${cmd.name()} --help)`;
  if (opts.model === undefined) {
    if (given('checkpoint')) throw new CliError(`--checkpoint applies only with --model (a training run folder) ${help}`, 2);
    return buildModelFromOptions(opts);
  }
  const clash = BUILD_OPTIONS.find(([name]) => given(name));
  if (clash !== undefined) {
    throw new CliError(`--model and ${clash[1]} cannot be used together: a saved model is shown as it was built ${help}`, 2);
  }
  await checkCheckpointOption(cmd, opts.model);
  await initBackend();
  return loadModel(await resolveModelDir(opts.model, opts.checkpoint));
}

/** Registers `resnet summary` on the program. */
export function register(program: Command): void {
  const cmd = program
    .command('summary')
    .description('Print a Keras-style summary of a model: each layer with its output shape, parameters and inputs, then the parameter totals.')
    .addHelpText(
      'after',
      `
Examples:
  resnet summary                          ResNet-50, 64x64x3 input, 6 classes
  resnet summary --arch resnet18 --input 224,224,3 --classes 1000
  resnet summary --no-top --pooling avg   the backbone, globally pooled
  resnet summary --model runs/signs       a trained run's latest checkpoint`,
    );
  addModelOptions(cmd).action(async (opts: ModelCliOptions, command: Command) => {
    const model = await modelFromOptions(opts, command);
    try {
      process.stdout.write(formatSummary(model));
    } finally {
      model.dispose();
    }
  });
}
