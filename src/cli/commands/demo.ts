/**
 * `resnet demo`: trains a ResNet on a Fashion-MNIST subset (Debian package `dataset-fashion-mnist`), evaluates it on
 * the test split and writes the report. Run it again to continue the same run (more `--epochs`) or re-evaluate.
 */
import { Command, Option } from 'commander';
import type { BackendChoice } from '../../backend/index.js';
import { ARCH_NAMES, type ArchName } from '../../model/index.js';
import { FASHION_MNIST_DIR, demo } from '../../train/index.js';
import { parsePositiveInt, parseShape } from '../common.js';
import { addBackendOption, parsePositiveNumber } from './train.js';

interface DemoCliOptions {
  data: string;
  epochs: number;
  limit: number;
  testLimit: number;
  arch: ArchName;
  widthDivisor: number;
  input: [number, number, number];
  batchSize: number;
  lr: number;
  out: string;
  backend: BackendChoice;
}

/** Registers `resnet demo` on the program. */
export function register(program: Command): void {
  const cmd = program
    .command('demo')
    .description('Train on a Fashion-MNIST subset, evaluate on its test split and write a report (a few minutes on 2 cores).')
    .option('--data <dir>', 'folder of the Fashion-MNIST IDX files', FASHION_MNIST_DIR)
    .option('--epochs <n>', 'epochs', parsePositiveInt, 2)
    .option('--limit <n>', 'training images (class-balanced pick; 10% validate)', parsePositiveInt, 3000)
    .option('--test-limit <n>', 'test images to evaluate', parsePositiveInt, 1000)
    .addOption(new Option('--arch <name>', 'architecture').choices(ARCH_NAMES).default('resnet50'))
    .option('--width-divisor <n>', 'divide every filter count by n (small, fast variants)', parsePositiveInt, 1)
    .option('--input <h,w,c>', 'input shape (the 28x28 images are resized to it)', parseShape, [40, 40, 3] as [number, number, number])
    .option('--batch-size <n>', 'images per training step', parsePositiveInt, 32)
    .option('--lr <rate>', 'learning rate (Adam)', parsePositiveNumber, 0.001)
    .option('--out <dir>', 'run folder (an existing demo run there is continued)', 'runs/demo');
  addBackendOption(cmd).action(async (opts: DemoCliOptions) => {
    const result = await demo({
      data: opts.data,
      epochs: opts.epochs,
      limit: opts.limit,
      testLimit: opts.testLimit,
      arch: opts.arch,
      widthDivisor: opts.widthDivisor,
      inputShape: opts.input,
      batchSize: opts.batchSize,
      lr: opts.lr,
      out: opts.out,
      backend: opts.backend,
    });
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
