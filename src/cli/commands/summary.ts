/**
 * `resnet summary`: prints a Keras-style summary of a ResNet (layers, output shapes, parameters, connections, and
 * the parameter totals).
 *
 * Also exports the model options shared with `resnet plot` ({@link addModelOptions}, {@link buildModelFromOptions}).
 */
import { Command, Option } from 'commander';
import type * as tf from '@tensorflow/tfjs';
import { ARCH_NAMES, buildResNet, formatSummary, type ArchName } from '../../model/index.js';
import { initBackend } from '../../backend/index.js';
import { CliError, parseClassCount, parsePositiveInt, parseShape } from '../common.js';

/** The model options of `summary` and `plot`, as commander parses them. */
export interface ModelCliOptions {
  arch: ArchName;
  input: [number, number, number];
  classes: number;
  /** False with `--no-top`. */
  top: boolean;
  pooling?: 'avg' | 'max';
  widthDivisor: number;
}

/** Adds the options that choose and shape a model: `--arch`, `--input`, `--classes`, `--no-top`, `--pooling`, `--width-divisor`. */
export function addModelOptions(cmd: Command): Command {
  return cmd
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
  resnet summary --no-top --pooling avg   the backbone, globally pooled`,
    );
  addModelOptions(cmd).action(async (opts: ModelCliOptions) => {
    const model = await buildModelFromOptions(opts);
    try {
      process.stdout.write(formatSummary(model));
    } finally {
      model.dispose();
    }
  });
}
