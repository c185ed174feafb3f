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
import { type ProgressReporter, streamReporter } from './progress.js';
import type { LrSchedule } from './schedule.js';
import { writeReport } from './report.js';
import { REPORT_DIR } from './run_layout.js';
import { type TrainOptions, type TrainResult, describeBatchSize, describeOptimizer, describePreciseBn, train, trainSegments } from './train.js';

/** Where Debian's `dataset-fashion-mnist` package installs the IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The command that installs the data, for error messages. */
export const FASHION_MNIST_INSTALL = 'sudo apt-get install dataset-fashion-mnist';

/** The demo's settings. */
export interface DemoSettings {
  /** Folder of the Fashion-MNIST IDX files. */
  data: string;
  /** Epochs. */
  epochs: number;
  /** Training images (a class-balanced pick of the 60,000; 10% of them validate). */
  limit: number;
  /** Test images evaluated at the end (a class-balanced pick of the 10,000). */
  testLimit: number;
  /** Architecture. */
  arch: ArchName;
  /** Filter-count divisor (1 = the architecture as specified). */
  widthDivisor: number;
  /** Input shape; the 28x28 grey images are resized to it. */
  inputShape: [number, number, number];
  /** Batch size. */
  batchSize: number;
  /** Learning rate (Adam). */
  lr: number;
  /** Learning-rate schedule over the run's steps (see `learningRateAt`). */
  lrSchedule: LrSchedule;
  /** BatchNorm recalibration batches after each epoch (see `recalibrateBatchNorm`). */
  preciseBn: number;
  /** Run folder. An existing demo run there is continued, not overwritten. */
  out: string;
  /** Backend. */
  backend: BackendChoice;
  /** Seed. */
  seed: number;
}

/**
 * The demo's defaults: ResNet-50 as specified, at 40x40x3 (close to its smallest input, 37), on 6,000 training
 * images for 2 epochs with Adam at 3e-4 decayed by a cosine schedule; BatchNorm statistics re-estimated over 20
 * batches after each epoch, without which the inference-mode accuracy after so few steps stays near chance (see
 * `batchnorm.ts`). Chosen by validation accuracy among 3,000 or 6,000 images, Adam at 1e-3 or 3e-4, constant or
 * cosine (0.79 against 0.64 to 0.77), in about 70 s on 2 cores.
 */
export const DEMO_DEFAULTS: Readonly<DemoSettings> = {
  data: FASHION_MNIST_DIR,
  epochs: 2,
  limit: 6000,
  testLimit: 1000,
  arch: 'resnet50',
  widthDivisor: 1,
  inputShape: [40, 40, 3],
  batchSize: 32,
  lr: 0.0003,
  lrSchedule: 'cosine',
  preciseBn: 20,
  out: join('runs', 'demo'),
  backend: 'auto',
  seed: 0,
};

/** Options of {@link demo}: any of the settings (the rest from {@link DEMO_DEFAULTS}), and where progress goes. */
export interface DemoOptions extends Partial<DemoSettings> {
  /** Progress output (default: stderr). */
  reporter?: ProgressReporter;
  /** How messages name options, as {@link TrainOptions.optionNames} (the CLI passes 'cli'). */
  optionNames?: TrainOptions['optionNames'];
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
  const o: DemoSettings = { ...DEMO_DEFAULTS };
  for (const [k, v] of Object.entries(options)) if (v !== undefined && k in o) (o as unknown as Record<string, unknown>)[k] = v;
  if (!(await exists(o.data))) {
    throw new Error(`Fashion-MNIST not found at ${o.data}: install it with \`${FASHION_MNIST_INSTALL}\` (Debian/Ubuntu)`);
  }
  // One reporter for the training and the test evaluation after it (train() would make its own).
  const reporter = options.reporter ?? streamReporter();
  const training = await train({
    data: o.data,
    valSplit: 0.1,
    limit: o.limit,
    inputShape: o.inputShape,
    arch: o.arch,
    widthDivisor: o.widthDivisor,
    epochs: o.epochs,
    batchSize: o.batchSize,
    lr: o.lr,
    lrSchedule: o.lrSchedule,
    preciseBn: o.preciseBn,
    optimizer: 'adam',
    out: o.out,
    resume: true,
    seed: o.seed,
    backend: o.backend,
    report: false,
    reporter,
    optionNames: options.optionNames,
  });
  try {
    const testSet = (await openDataset(o.data, { split: 'test', inputShape: o.inputShape, limit: o.testLimit, seed: o.seed })).train;
    const test = await evaluateModel(training.model, testSet, o.batchSize, training.state.classes, (done, total) =>
      reporter.evaluate?.('the test set', done, total),
    );
    const reportDir = join(training.out, REPORT_DIR);
    const segments = trainSegments(training.state);
    await writeReport(reportDir, {
      title: `Demo: ${o.arch} on Fashion-MNIST`,
      classes: training.state.classes,
      history: training.state.history,
      evaluation: { split: 'test', ...test },
      facts: {
        architecture: o.widthDivisor === 1 ? o.arch : `${o.arch} (filters / ${o.widthDivisor})`,
        'input shape': formatImageShape(o.inputShape),
        'training images': training.trainSize,
        'validation images': training.validationSize,
        'test images': test.count,
        optimizer: describeOptimizer(segments, training.state.epoch),
        'batch size': describeBatchSize(segments, training.state.epoch),
        'BatchNorm recalibration': describePreciseBn(o.preciseBn),
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
