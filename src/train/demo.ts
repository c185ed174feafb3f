/**
 * The demo: train a ResNet on a subset of Fashion-MNIST (Debian package `dataset-fashion-mnist`), evaluate it on the
 * test split and write the report. Sized to finish in a few minutes on two CPU cores with the native backend.
 */
import { join } from 'node:path';
import { type BackendChoice } from '../backend/index.js';
import { openDataset } from '../data/index.js';
import type { ArchName } from '../model/index.js';
import { exists } from './fsutil.js';
import { type EvaluationResult, evaluateModel } from './evaluate.js';
import { formatImageShape } from './io.js';
import type { ProgressReporter } from './progress.js';
import { writeReport } from './report.js';
import { type TrainResult, train } from './train.js';

/** Where Debian's `dataset-fashion-mnist` package installs the IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The command that installs the data, for error messages. */
export const FASHION_MNIST_INSTALL = 'sudo apt-get install dataset-fashion-mnist';

/** Options of {@link demo}; all have defaults. */
export interface DemoOptions {
  /** Folder of the Fashion-MNIST IDX files. Default {@link FASHION_MNIST_DIR}. */
  data?: string;
  /** Epochs. Default 2. */
  epochs?: number;
  /** Training images (a class-balanced pick of the 60,000; 10% of them validate). Default 3000. */
  limit?: number;
  /** Test images evaluated at the end (a class-balanced pick of the 10,000). Default 1000. */
  testLimit?: number;
  /** Architecture. Default `resnet50`. */
  arch?: ArchName;
  /** Filter-count divisor (1 = the architecture as specified). Default 1. */
  widthDivisor?: number;
  /** Input shape; the 28x28 grey images are resized to it. Default 40x40x3, close to the smallest ResNet input (37). */
  inputShape?: [number, number, number];
  /** Batch size. Default 32. */
  batchSize?: number;
  /** Learning rate. Default 0.001 (Adam). */
  lr?: number;
  /** Run folder. Default `runs/demo`. An existing demo run there is continued, not overwritten. */
  out?: string;
  /** Backend. Default `auto`. */
  backend?: BackendChoice;
  /** Seed. Default 0. */
  seed?: number;
  /** Progress output (default: stderr). */
  reporter?: ProgressReporter;
}

/** What {@link demo} returns. The caller owns `training.model` and `training.optimizer`. */
export interface DemoResult {
  training: TrainResult;
  /** Evaluation on the test split. */
  test: EvaluationResult;
  /** Path of `report.md`. */
  report: string;
}

/**
 * Trains on a Fashion-MNIST subset, evaluates on its test split and writes `<out>/report/` (curves, test confusion
 * matrix, per-class precision and recall). Throws, naming the install command, when the data is not installed.
 */
export async function demo(options: DemoOptions = {}): Promise<DemoResult> {
  const dir = options.data ?? FASHION_MNIST_DIR;
  if (!(await exists(dir))) {
    throw new Error(`Fashion-MNIST not found at ${dir}: install it with \`${FASHION_MNIST_INSTALL}\` (Debian/Ubuntu)`);
  }
  const inputShape = options.inputShape ?? [40, 40, 3];
  const out = options.out ?? join('runs', 'demo');
  const training = await train({
    data: dir,
    valSplit: 0.1,
    limit: options.limit ?? 3000,
    inputShape,
    arch: options.arch ?? 'resnet50',
    widthDivisor: options.widthDivisor,
    epochs: options.epochs ?? 2,
    batchSize: options.batchSize ?? 32,
    lr: options.lr ?? 0.001,
    optimizer: 'adam',
    out,
    resume: true,
    seed: options.seed ?? 0,
    backend: options.backend ?? 'auto',
    report: false,
    reporter: options.reporter,
  });
  try {
    const testSet = (await openDataset(dir, { split: 'test', inputShape, limit: options.testLimit ?? 1000, seed: options.seed ?? 0 })).train;
    const test = await evaluateModel(training.model, testSet, options.batchSize ?? 32, training.state.classes);
    const reportDir = join(training.out, 'report');
    await writeReport(reportDir, {
      title: `Demo: ${options.arch ?? 'resnet50'} on Fashion-MNIST`,
      classes: training.state.classes,
      history: training.state.history,
      evaluation: { split: 'test', ...test },
      facts: {
        architecture: options.arch ?? 'resnet50',
        'input shape': formatImageShape(inputShape),
        'training images': training.trainSize,
        'validation images': training.validationSize,
        'test images': test.count,
        backend: training.backend,
        checkpoint: training.checkpoint ?? 'none',
      },
    });
    return { training, test, report: join(reportDir, 'report.md') };
  } catch (err) {
    training.optimizer.dispose();
    training.model.dispose();
    throw err;
  }
}
