/**
 * `resnet demo`: trains a ResNet on a Fashion-MNIST subset (Debian package `dataset-fashion-mnist`), evaluates it on
 * the test split and writes the report. Run it again to continue the same run (more `--epochs`) or re-evaluate.
 */
import { Command, Option } from 'commander';
import { ARCH_NAMES } from '../../model/index.js';
import { missingFoldersSync } from '../../train/fsutil.js';
import { DEMO_DEFAULTS, LR_SCHEDULES, demo, streamReporter, trackProgress, type DemoSettings } from '../../train/index.js';
import { parseNonNegativeInt, parsePositiveInt, parsePositiveNumber, parseShape, untilInterrupted } from '../common.js';
import { addBackendOption } from '../options.js';
import { checkInputOption, checkOutOutsideData, interruptedTraining, refusedOutIsUsageError } from './train.js';

/** `demo`'s options as commander parses them (`--input` is the settings' `inputShape`). */
type DemoCliOptions = Omit<DemoSettings, 'inputShape' | 'seed'> & { input: [number, number, number] };

/** Registers `resnet demo` on the program. */
export function register(program: Command): void {
  const d = DEMO_DEFAULTS;
  const cmd = program
    .command('demo')
    .description('Train on a Fashion-MNIST subset, evaluate on its test split and write a report (a few minutes on 2 cores).')
    .option('--data <dir>', 'folder of the Fashion-MNIST IDX files', d.data)
    .option('--epochs <n>', 'epochs', parsePositiveInt, d.epochs)
    .option('--limit <n>', 'training images (class-balanced pick; 10% validate)', parsePositiveInt, d.limit)
    .option('--test-limit <n>', 'test images to evaluate', parsePositiveInt, d.testLimit)
    .addOption(new Option('--arch <name>', 'architecture').choices(ARCH_NAMES).default(d.arch))
    .option('--width-divisor <n>', 'divide every filter count by n (small, fast variants)', parsePositiveInt, d.widthDivisor)
    .addOption(
      new Option('--input <h,w,c>', 'input shape (the 28x28 images are resized to it)').argParser(parseShape).default(d.inputShape, d.inputShape.join(',')),
    )
    .option('--batch-size <n>', 'images per training step', parsePositiveInt, d.batchSize)
    .option('--lr <rate>', 'learning rate (Adam)', parsePositiveNumber, d.lr)
    .addOption(new Option('--lr-schedule <name>', "learning-rate schedule: constant, or cosine decay to 0 over the run's steps").choices(LR_SCHEDULES).default(d.lrSchedule))
    .option('--precise-bn <batches>', 're-estimate BatchNorm statistics over this many batches after each epoch (0: off)', (v) => parseNonNegativeInt(v), d.preciseBn)
    .option('--out <dir>', 'run folder (an existing demo run there is continued)', d.out)
    .addHelpText(
      'after',
      `
Ctrl-C stops at once and names the last checkpoint; the same command continues.

Examples:
  resnet demo                                   the default run, in runs/demo
  resnet demo --limit 1000 --test-limit 200 --out runs/quick-demo
  resnet demo --epochs 4                        the default run, on to epoch 4`,
    );
  addBackendOption(cmd).action(async ({ input, ...opts }: DemoCliOptions) => {
    checkOutOutsideData(opts.out, [['--data', opts.data]]);
    checkInputOption(opts.arch, input);
    const created = missingFoldersSync(opts.out);
    const reporter = trackProgress(streamReporter());
    const result = await untilInterrupted(
      () => demo({ ...opts, inputShape: input, reporter, optionNames: 'cli' }).catch(refusedOutIsUsageError),
      () => interruptedTraining(reporter, opts.out, created, 'run the same resnet demo command to continue'),
    );
    result.training.optimizer.dispose();
    result.training.model.dispose();
    process.stdout.write(
      [
        `test: loss ${result.test.loss.toFixed(4)}  accuracy ${result.test.accuracy.toFixed(4)} (${result.test.count} images)`,
        `model: ${result.training.checkpoint}`,
        `report: ${result.report}`,
        '',
      ].join('\n'),
    );
  });
}
