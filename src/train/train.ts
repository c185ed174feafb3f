/**
 * Training with a custom loop: batches stream from a `Dataset`, each one goes through `model.trainOnBatch` (BatchNorm
 * in training mode: batch statistics, moving averages updated), the model is validated after each epoch in inference
 * mode, and a checkpoint is written atomically after each epoch so that `resume` continues exactly where a run
 * stopped, even after a crash or `kill -9`.
 *
 * A run folder holds `checkpoints/` (see `checkpoint.ts`), `log.csv`, `log.json` and `report/` (the epochs so far after
 * each epoch, with the final evaluation at the end).
 */
import { type Dirent, promises as fsp } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from '../backend/index.js';
import { batchCount, openDataset, validationFolderOf, type AugmentOptions, type Dataset } from '../data/index.js';
import { messageOf } from '../data/errors.js';
import { buildResNet, CompiledTrainer, type ArchName, type CompiledTrainingStep } from '../model/index.js';
import {
  BEST_FILE,
  type BestRecord,
  CHECKPOINTS_DIR,
  type EpochRecord,
  LATEST_FILE,
  type TrainState,
  checkpointName,
  cleanRunDir,
  latestCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from './checkpoint.js';
import { recalibrateBatchNorm } from './batchnorm.js';
import { type EvaluationResult, checkCompatible, checkSameClasses, evaluateModel, mapClasses } from './evaluate.js';
import { formatImageShape, loadModel, modelInputShape, modelMetadata, type ModelMetadata } from './io.js';
import { describeInitWeights, initWeightsFrom } from './init_weights.js';
import { TEMP_PREFIX, makeFolder, removeCreatedFolders } from './fsutil.js';
import { listNames } from '../data/errors.js';
import { LOG_FILES, writeLogs } from './log.js';
import { checkMomentum, createOptimizer, restoreOptimizer, type MomentumOptions, type OptimizerName } from './optimizer.js';
import { type ProgressReporter, streamReporter } from './progress.js';
import { type ReportInput, type ReportRun, epochsText, writeReport } from './report.js';
import { REPORT_DIR, isCheckpointName } from './run_layout.js';
import { checkPositiveWhole } from './validate.js';
import { LR_SCHEDULES, type LrSchedule, learningRateAt, setLearningRate } from './schedule.js';

/** Options of {@link train}. Only `data` and `out` are required. */
export interface TrainOptions {
  /**
   * Training data: a path, opened at `inputShape` as `openDataset` opens it (a SIGNS-style .h5 file, an image folder,
   * IDX or CIFAR binary files), or an open data set.
   */
  data: string | Dataset;
  /**
   * Validation data (a path opened with split 'test', or a data set). Default: the `val/` (or `validation/`) folder
   * of a `data` folder split into `train/` and such a folder (and `test/`) where `valSplit` is not given, else hold
   * out `valSplit` of `data`. It may hold only some of the training classes (matched by name; the others have no validation images); a class the
   * training data lacks is refused.
   */
  valData?: string | Dataset;
  /**
   * Fraction of `data` held out for validation when `data` is a path and `valData` is absent. Default 0.1, except for
   * a `data` folder with a `val/` (or `validation/`) folder beside `train/`, which validates instead; given, it is
   * held out even there (and the folder is not used). 0: none.
   */
  valSplit?: number;
  /**
   * Validate on only this many images of the validation data: a seeded, class-proportional pick, as `limit` makes of
   * the training data (a full 10,000-image test file validated after every epoch is slow). It applies to a `valData`
   * path and to the `val/` (or `validation/`) folder of a `data` folder that validates the run; other validation data
   * is refused with it (the validation part held out of `data` is sized by `valSplit` instead).
   */
  valLimit?: number;
  /** Architecture of a new model. Default `resnet50`. */
  arch?: ArchName;
  /** Divides every filter count of a new model (1: as specified; 16 or 32: small, fast variants). Default 1. */
  widthDivisor?: number;
  /** Builds a new model instead of `arch` (for experiments and tests). It must output softmax class scores. */
  buildModel?: (inputShape: [number, number, number], classes: number) => tf.LayersModel;
  /** Image shape `[h, w, c]` to train at (images are resized to it). Default: the data's own shape. */
  inputShape?: [number, number, number];
  /**
   * Use only this many images of `data` (a seeded, class-proportional pick). The `valSplit` part is held out of them:
   * `limit` 600 with `valSplit` 0.1 trains on 540 and validates on 60.
   */
  limit?: number;
  /** Total number of epochs (a resumed run trains until it has done this many). Default 2. */
  epochs?: number;
  /** Images per training step. Default 32. */
  batchSize?: number;
  /** Optimizer. Default `adam`. */
  optimizer?: OptimizerName;
  /** Learning rate (with a schedule: its starting value). Default 0.001. */
  lr?: number;
  /**
   * SGD's momentum coefficient, in [0, 1): above 0, `sgd` is SGD with momentum (tfjs's MomentumOptimizer; He et al.
   * train ResNets with 0.9). Default 0, plain SGD. With another optimizer anything above 0 is refused. Stored with
   * the run's arguments (and its velocities with each checkpoint); like `lr`, a resumed run uses the value given.
   */
  momentum?: number;
  /** Nesterov's momentum instead of the classical one. Needs `sgd` and `momentum` above 0. Default false. */
  nesterov?: boolean;
  /**
   * Learning-rate schedule. `constant` (the default): `lr` at every step. `cosine`: step `t` of the run (0-based,
   * counting the steps of earlier epochs, so a resumed run continues the same curve) uses
   * `lr * 0.5 * (1 + cos(pi * t / T))`, where `T = epochs * steps per epoch` is the run's planned number of steps;
   * the rate decays from `lr` towards 0 at the end of the last epoch. It is stored with the run's arguments; like
   * `lr`, the value given to a resumed run is the one it uses (the CLI passes the stored one when none is given).
   */
  lrSchedule?: LrSchedule;
  /** The run folder. */
  out: string;
  /** Continue from the run folder's latest checkpoint (model, optimizer state, epoch count, logs). */
  resume?: boolean;
  /**
   * The run folder's latest checkpoint, for a caller that has already read the run's `checkpoints/latest` pointer:
   * the checkpoint folder it names (`<out>/checkpoints/epoch-0003`), or `null` where the run has none yet. It must be
   * what the pointer names; it spares a second read (the CLI reads the pointer first, to take the run's stored
   * options). Default: {@link train} reads the pointer itself.
   */
  latest?: string | null;
  /**
   * Stop when the validation loss has not improved for this many epochs. Needs validation data (`valData`, or a
   * `valSplit` above 0 of a `data` path): without it {@link train} refuses the option instead of ignoring it. A
   * resumed run whose best epoch already lies this many epochs back (one that it stopped) trains nothing and reports
   * the early stop again; a larger value lets it go on.
   */
  earlyStop?: number;
  /**
   * A new run starts from the weights of this saved model, training run or Keras `.h5`/`.hdf5` file, layer by layer
   * where the layer names and weight shapes match (fine-tuning: the classifier of a model trained on other classes
   * keeps its own initial weights); see {@link initWeightsFrom}. A resumed run continues from its checkpoint instead.
   */
  initWeights?: string;
  /** Random augmentation of training batches. */
  augment?: AugmentOptions;
  /**
   * After each epoch, re-estimate BatchNorm's moving statistics over this many training batches with the epoch's final
   * weights ("precise BN") before validating and saving: forward passes in training mode that set each moving mean
   * and variance to the plain average of those batches' statistics; no weight changes. Keras's moving averages
   * (momentum 0.99) still hold much of their starting values after a few hundred steps, so without it a short run that
   * trains well evaluates and predicts badly. 0 turns it off (as Keras trains). Default 10 (about three training
   * steps' time per epoch).
   */
  preciseBn?: number;
  /** Seed of shuffling, augmentation, `limit` and the validation split. Default 0. */
  seed?: number;
  /** Backend to use. Default `auto`. */
  backend?: BackendChoice;
  /** Checkpoints to keep besides the best one (older ones are deleted). Default 2. */
  keepCheckpoints?: number;
  /**
   * Write `<out>/report/`: after each epoch the history so far (curves, settings), at the end also the final
   * evaluation (confusion matrix on the validation data, else the training data; per-class metrics; the most
   * confident mistakes). Default true.
   */
  report?: boolean;
  /**
   * Where progress and notes go. Default: a bar per epoch on a terminal stderr, one line per epoch otherwise (notes
   * such as the backend in use, one line each). `silentReporter` prints nothing.
   */
  reporter?: ProgressReporter;
  /**
   * How messages and notes name the options: by these option names (`resume: true`, `valSplit`; the default), or,
   * with 'cli', by the `resnet train` flags (`--resume`, `--val-split`), as the CLI asks for.
   */
  optionNames?: 'library' | 'cli';
}

/** Names options in messages: `name('valSplit')` is `valSplit` or `--val-split`, `flag('resume')` `resume: true` or `--resume`. */
interface OptionNamer {
  name(option: string): string;
  flag(option: string): string;
}

/** The {@link OptionNamer} of a style of {@link TrainOptions.optionNames}. */
function optionNamer(style: TrainOptions['optionNames'] = 'library'): OptionNamer {
  const flag = (option: string): string => `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  return style === 'cli'
    ? { name: flag, flag }
    : { name: (option) => option, flag: (option) => `${option}: true` };
}

/** What {@link train} returns. The caller owns `model` and `optimizer` and disposes both. */
export interface TrainResult {
  /** The run folder (absolute). */
  out: string;
  /** Name of the tfjs backend used. */
  backend: string;
  /**
   * The trained model (as after the last epoch), carrying the run's metadata as the checkpoint's saved model does: its
   * `getUserDefinedMetadata()` is a {@link ModelMetadata} (class names, input shape, architecture, data set).
   */
  model: tf.LayersModel;
  /** Its optimizer, with its state. */
  optimizer: tf.Optimizer;
  /** The training state of the last checkpoint. */
  state: RunState;
  /** The latest checkpoint folder. */
  checkpoint: string | undefined;
  /** Number of training images. */
  trainSize: number;
  /** Number of validation images (0 without validation). */
  validationSize: number;
  /** The number of epochs the run was to train (`epochs`). */
  plannedEpochs: number;
  /**
   * Whether early stopping ended the run before `epochs`: after an epoch of this call, or, for a resumed run, already
   * where it stood (nothing was trained then).
   */
  stoppedEarly: boolean;
  /**
   * The checkpoint of the best epoch by the monitored loss (`state.best`: validation loss, else training loss), the
   * one `checkpoints/best` names and `checkpoint: 'best'` of {@link evaluate} and {@link predict} loads; undefined
   * before the first epoch.
   */
  bestCheckpoint: string | undefined;
  /** The final evaluation shown in the report (validation data, else training data), of the weights of `evaluatedEpoch`. */
  evaluation?: EvaluationResult;
  /**
   * The epoch whose weights `evaluation` measured: the last one, or after an early stop the best one (loaded from
   * `bestCheckpoint`; `model` stays the last epoch's).
   */
  evaluatedEpoch?: number;
  /** Files of the report, when written. */
  reportFiles?: string[];
}

/**
 * The settings that trained a stretch of a run's epochs: the optimizer's and the batch size. A run has one; each
 * resume that changes the optimizer, `lr`, `momentum`, `nesterov`, `lrSchedule`, the batch size or (with the cosine
 * schedule, whose length it sets) `epochs` starts another.
 */
export interface TrainSegment {
  /** The first epoch trained with these settings (1-based); the stretch ends where the next one starts. */
  fromEpoch: number;
  optimizer: OptimizerName;
  /** Base learning rate. */
  lr: number;
  /** SGD's momentum; absent (as in states written before it existed) or 0: none. */
  momentum?: number;
  /** Nesterov's momentum; absent: false. */
  nesterov?: boolean;
  lrSchedule: LrSchedule;
  /** The run's planned number of epochs, which the cosine schedule decays over. */
  epochs: number;
  /**
   * Images per training step. Absent in states written before it was recorded (the batch size is then the one of the
   * state's `args`).
   */
  batchSize?: number;
}

/**
 * The training state as {@link train} writes it to `state.json`: a {@link TrainState} with the settings of each
 * stretch of epochs. `segments` is absent in states written before it was recorded (their settings are those of
 * `args`, for every epoch).
 */
export interface RunState extends TrainState {
  /** The optimizer settings of the run's epochs, oldest first; the last one is the latest run's. */
  segments?: TrainSegment[];
  /** How many training and validation images the latest call trained on (absent in states written before). */
  images?: { train: number; validation: number };
}

/**
 * The settings of a state's epochs, oldest first. A state written before they were recorded says only how the call
 * that wrote it was set (its `args`), so those settings stand for all its epochs; one whose arguments say nothing
 * usable gives no segments. Segments written before the batch size was part of them get the batch size of the
 * state's arguments.
 */
export function trainSegments(state: RunState): TrainSegment[] {
  if (state.segments !== undefined) {
    const batchSize = state.args.batchSize;
    if (typeof batchSize !== 'number') return state.segments;
    return state.segments.map((segment) => (segment.batchSize === undefined ? { ...segment, batchSize } : segment));
  }
  const settings = state.epoch < 1 ? undefined : settingsOf(state.args);
  return settings === undefined ? [] : [{ fromEpoch: 1, ...settings }];
}

/**
 * The settings that a call's arguments give (train's own, from describeArgs, or a stored state's `args`), or
 * undefined when they say nothing usable about the optimizer.
 */
function settingsOf(args: Record<string, unknown>): Omit<TrainSegment, 'fromEpoch'> | undefined {
  const { optimizer, lr, lrSchedule, epochs, momentum, nesterov, batchSize } = args;
  if (typeof optimizer !== 'string' || typeof lr !== 'number' || typeof epochs !== 'number') return undefined;
  const schedule = lrSchedule === undefined ? 'constant' : lrSchedule;
  if (!LR_SCHEDULES.includes(schedule as LrSchedule)) return undefined;
  const settings: Omit<TrainSegment, 'fromEpoch'> = { optimizer: optimizer as OptimizerName, lr, lrSchedule: schedule as LrSchedule, epochs };
  if (typeof momentum === 'number' && momentum > 0) settings.momentum = momentum;
  if (nesterov === true) settings.nesterov = true;
  if (typeof batchSize === 'number') settings.batchSize = batchSize;
  return settings;
}

/**
 * Whether two settings give the same steps: the same optimizer, momentum, learning rates (the cosine schedule's
 * length matters, the constant one's not) and batch size.
 */
function sameSettings(a: Omit<TrainSegment, 'fromEpoch'>, b: Omit<TrainSegment, 'fromEpoch'>): boolean {
  return (
    a.optimizer === b.optimizer &&
    a.lr === b.lr &&
    (a.momentum ?? 0) === (b.momentum ?? 0) &&
    (a.nesterov ?? false) === (b.nesterov ?? false) &&
    a.lrSchedule === b.lrSchedule &&
    (a.lrSchedule === 'constant' || a.epochs === b.epochs) &&
    a.batchSize === b.batchSize
  );
}

/** One stretch's settings in words: `sgd (lr 0.1, momentum 0.9, nesterov, cosine decay to 0 over 90 epochs)`. */
function describeSettings(s: Omit<TrainSegment, 'fromEpoch'>): string {
  const parts = [`lr ${s.lr}`];
  if ((s.momentum ?? 0) > 0) parts.push(`momentum ${s.momentum}`);
  if (s.nesterov === true) parts.push('nesterov');
  if (s.lrSchedule === 'cosine') parts.push(`cosine decay to 0 over ${epochsText(s.epochs)}`);
  return `${s.optimizer} (${parts.join(', ')})`;
}

/**
 * The optimizer line of a report: the settings, e.g. `adam (lr 0.001)`, `sgd (lr 0.1, momentum 0.9, nesterov)` or
 * `adam (lr 0.001, cosine decay to 0 over 6 epochs)`, and where a resume changed them, each stretch's with its epochs, oldest first:
 * `epochs 1-3: adam (lr 0.001); epochs 4-6: adam (lr 0.0005, cosine decay to 0 over 6 epochs)`. `lastEpoch` ends
 * the last stretch; epochs before the first stretch (or all, without one) are `not recorded`.
 */
export function describeOptimizer(segments: readonly TrainSegment[], lastEpoch: number): string {
  const stretches = stretchesOf(segments, lastEpoch, describeSettings);
  if (stretches.length === 1) return stretches[0].text;
  return stretches.map((s) => `${s.epochs}: ${s.text}`).join('; ');
}

/**
 * The batch size line of a report: `32`, and where a resume changed it, each stretch's with its epochs, oldest first:
 * `32 (epochs 1-3), 16 (epochs 4-6)`. `lastEpoch` ends the last stretch; epochs before the first stretch (or all,
 * without one), and stretches whose batch size was not recorded, are `not recorded`.
 */
export function describeBatchSize(segments: readonly TrainSegment[], lastEpoch: number): string {
  const stretches = stretchesOf(segments, lastEpoch, (s) => (s.batchSize === undefined ? 'not recorded' : String(s.batchSize)));
  if (stretches.length === 1) return stretches[0].text;
  return stretches.map((s) => `${s.text} (${s.epochs})`).join(', ');
}

/**
 * The stretches of epochs 1 to `lastEpoch` that `segments` cover, each with `text(segment)`; neighbours with the same
 * text are one stretch (a resume that changed the batch size alone leaves the optimizer line as it was), and epochs
 * before the first segment are `not recorded`. `epochs` says which they are: `epochs 4-6`, `epoch 3`.
 */
function stretchesOf(segments: readonly TrainSegment[], lastEpoch: number, text: (s: TrainSegment) => string): { epochs: string; text: string }[] {
  const all: { from: number; text: string }[] = segments.filter((s) => s.fromEpoch <= lastEpoch).map((s) => ({ from: s.fromEpoch, text: text(s) }));
  if ((all[0]?.from ?? Infinity) > 1) all.unshift({ from: 1, text: 'not recorded' });
  const merged = all.filter((s, i) => i === 0 || s.text !== all[i - 1].text);
  return merged.map((s, i) => {
    const to = i + 1 < merged.length ? merged[i + 1].from - 1 : lastEpoch;
    return { epochs: to > s.from ? `epochs ${s.from}-${to}` : `epoch ${s.from}`, text: s.text };
  });
}

/** Thrown when the training loss becomes NaN or infinite. The last good checkpoint is left as it was. */
export class TrainingDivergedError extends Error {
  constructor(
    /** The epoch it diverged in (1-based). */
    readonly epoch: number,
    /** The training step of that epoch whose loss was not finite (1-based). */
    readonly batch: number,
    /** That step's loss: NaN or infinite. */
    readonly loss: number,
    /** The latest complete checkpoint, from before the divergence (undefined if none was written yet). */
    readonly checkpoint: string | undefined,
  ) {
    super(`training diverged: loss is ${loss} at epoch ${epoch} batch ${batch}; last good checkpoint: ${checkpoint ?? 'none'}`);
    this.name = 'TrainingDivergedError';
  }
}

/** The data a run trains and validates on. */
interface RunData {
  train: Dataset;
  validation?: Dataset;
  /** Where `validation` is the `val/` (or `validation/`) folder of a `data` folder split into parts: its path. */
  validationFolder?: string;
  /** A one-line note where `data` has such a folder and the run does not validate on it. */
  unusedFolderNote?: string;
}

/**
 * Opens the training and validation data. A `data` folder split into `train/` and `val/` (or `validation/`, with or
 * without `test/`) trains on `train/` and validates on the other where neither `valData` nor `valSplit` is given.
 */
async function openRunData(o: TrainOptions, inputShape: [number, number, number] | undefined): Promise<RunData> {
  const opt = optionNamer(o.optionNames);
  const seed = o.seed ?? 0;
  let train: Dataset;
  let validation: Dataset | undefined;
  let validationFolder: string | undefined;
  let unusedFolderNote: string | undefined;
  if (typeof o.data === 'string') {
    const folder = await validationFolderOf(o.data);
    if (folder !== undefined && o.valData === undefined && o.valSplit === undefined) {
      validationFolder = folder;
    } else if (folder !== undefined) {
      const instead = o.valData !== undefined
        ? `${opt.name('valData')} ${typeof o.valData === 'string' ? o.valData : o.valData.name} validates instead`
        : o.valSplit === 0
          ? `${opt.name('valSplit')} 0 asks for no validation`
          : `${opt.name('valSplit')} ${o.valSplit} holds out part of the training images instead`;
      unusedFolderNote = `note: ${folder} is not used for validation: ${instead}`;
    }
    const split = o.valData === undefined && validationFolder === undefined ? (o.valSplit ?? 0.1) : 0;
    const opened = await openDataset(o.data, { inputShape, validationSplit: split, seed, limit: o.limit, split: 'train' });
    train = opened.train;
    validation = opened.validation;
    if (validationFolder !== undefined) {
      validation = (await openDataset(validationFolder, { inputShape: inputShape ?? train.imageShape, seed, limit: o.valLimit })).train;
    }
  } else {
    train = o.data;
  }
  if (typeof o.valData === 'string') {
    validation = (await openDataset(o.valData, { inputShape: inputShape ?? train.imageShape, seed, split: 'test', limit: o.valLimit })).train;
  } else if (o.valData !== undefined) {
    validation = o.valData;
  }
  return { train, validation, validationFolder, unusedFolderNote };
}

/**
 * Whether the run validates on the `val/` (or `validation/`) folder of its `data` folder: there is one, and neither
 * `valData` nor `valSplit` asks for other validation (as {@link openRunData} decides).
 */
async function validatesOnFolder(o: TrainOptions): Promise<boolean> {
  return typeof o.data === 'string' && o.valData === undefined && o.valSplit === undefined && (await validationFolderOf(o.data)) !== undefined;
}

/**
 * Thrown, before anything is read or written, when the run folder may not be trained into: it already holds a
 * training run and `resume` is not set, or it is a folder holding things that are not a run's. Nothing in it was
 * changed. A bad choice of `out`, not a failure of training: the CLI reports it as a usage error (exit 2).
 */
export class RunFolderInUseError extends Error {
  /** @param folder the run folder (absolute); @param message the one-line refusal, naming it. */
  constructor(
    readonly folder: string,
    message: string,
  ) {
    super(message);
    this.name = 'RunFolderInUseError';
  }
}

/** Whether an entry at the top of a run folder is one a run writes: its logs, checkpoints, report or a temporary. */
function isRunEntry(e: Dirent): boolean {
  if (e.name.startsWith(TEMP_PREFIX)) return true;
  return e.isDirectory() ? e.name === CHECKPOINTS_DIR || e.name === REPORT_DIR : e.isFile() && (LOG_FILES as readonly string[]).includes(e.name);
}

/** Whether an entry of `checkpoints/` is one a run writes: a pointer file, a checkpoint folder or a temporary. */
function isCheckpointEntry(e: Dirent): boolean {
  if (e.name.startsWith(TEMP_PREFIX)) return true;
  return e.isDirectory() ? isCheckpointName(e.name) : e.isFile() && (e.name === LATEST_FILE || e.name === BEST_FILE);
}

/** An entry's name as listed in messages: a folder's with a trailing `/`. */
function listed(e: Dirent, under = ''): string {
  return `${under}${e.name}${e.isDirectory() ? '/' : ''}`;
}

/**
 * Checks, before anything is read or written, that the run folder `out` (absolute) may be trained into: it does not
 * exist yet, or it is empty, or it holds a training run. A folder holds a training run when its `checkpoints/latest`
 * pointer exists (a run with at least one checkpoint: a new run then refuses it, `resume` continues it), or when all
 * it holds is what a run that stopped before its first checkpoint can leave: a `checkpoints/` folder with nothing but
 * checkpoint folders, pointers and temporaries in it, beside the run's own logs, `report/` and temporaries.
 *
 * Anything else (a user's files, even one named like a run's `log.csv`) makes it throw a {@link RunFolderInUseError}
 * naming the folder and what it holds, and nothing is changed: a mistyped `--out` must not lose anyone's files. A path that is
 * not a folder is left to `makeFolder`, which says so.
 */
async function checkRunFolder(out: string, opt: OptionNamer): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(out, { withFileTypes: true });
  } catch {
    return; // missing (created later), or not a folder (makeFolder says so)
  }
  const checkpoints = entries.find((e) => e.name === CHECKPOINTS_DIR && e.isDirectory());
  let foreign: string[];
  if (checkpoints === undefined) {
    foreign = entries.map((e) => listed(e));
  } else {
    const inner = await fsp.readdir(join(out, CHECKPOINTS_DIR), { withFileTypes: true });
    if (inner.some((e) => e.name === LATEST_FILE && e.isFile())) return;
    foreign = [
      ...entries.filter((e) => !isRunEntry(e)).map((e) => listed(e)),
      ...inner.filter((e) => !isCheckpointEntry(e)).map((e) => listed(e, `${CHECKPOINTS_DIR}/`)),
    ];
  }
  if (foreign.length > 0) {
    throw new RunFolderInUseError(out, `${out}: folder is not empty and is not a training run (holds ${listNames(foreign.sort())}): choose a new or empty run folder (${opt.name('out')})`);
  }
}

/**
 * Batches of BatchNorm recalibration after each epoch unless `preciseBn` says otherwise. Keras's moving averages
 * (momentum 0.99) still hold much of their starting values after a few hundred steps, so without it a short run that
 * trains well evaluates and predicts badly; 10 batches cost about three training steps' time per epoch.
 */
export const DEFAULT_PRECISE_BN = 10;

/** `--augment` in its own syntax, `flip,shift=0.1,crop`, or `none`. */
export function describeAugment(augment: AugmentOptions | undefined): string {
  const parts = [
    augment?.flip === true ? 'flip' : undefined,
    augment?.shift !== undefined ? `shift=${augment.shift}` : undefined,
    augment?.crop === true ? 'crop' : undefined,
  ].filter((p) => p !== undefined);
  return parts.length === 0 ? 'none' : parts.join(',');
}

/** BatchNorm recalibration in a report, as the demo's says it: `10 batches after each epoch`, or `off`. */
export function describePreciseBn(batches: number): string {
  return batches > 0 ? `${batches} batches after each epoch` : 'off';
}

/** The report's lines on the data a run picked: which images validate it, and `limit`. */
function settingsFacts(o: TrainOptions, data: RunData): Record<string, string> {
  const hasValidation = data.validation !== undefined;
  let validation: string;
  if (!hasValidation) validation = 'none';
  else if (typeof o.valData === 'string') validation = o.valLimit === undefined ? o.valData : `${o.valData} (a class-balanced pick of ${o.valLimit} images)`;
  else if (o.valData !== undefined) validation = o.valData.name;
  else if (data.validationFolder !== undefined) {
    const pick = o.valLimit === undefined ? '' : `; a class-balanced pick of ${o.valLimit} images`;
    validation = `${data.validationFolder} (the data folder's ${basename(data.validationFolder)}/${pick})`;
  }
  else validation = `${Number(((o.valSplit ?? 0.1) * 100).toPrecision(3))}% of the data held out (class-balanced)`;
  const heldOut = heldOutOfData(o, data);
  const used = imagesOfData(o, data);
  const limit = o.limit === undefined
    ? 'none'
    : used !== undefined && o.limit > used
      ? `${o.limit} images, more than the data holds: all ${used} are used`
      : `${o.limit} images of the data (a class-balanced pick${heldOut ? '; the validation part is held out of them' : ''})`;
  return { validation, 'image limit': limit, 'initial weights': o.initWeights === undefined ? 'as built' : `from ${resolve(o.initWeights)}, layers whose names and shapes match` };
}

/**
 * The number of images of a `data` path that the run uses (its training images and the validation part held out of
 * them), which `limit` caps; undefined when `data` is a data set (no limit applies to it).
 */
function imagesOfData(o: TrainOptions, data: RunData): number | undefined {
  if (typeof o.data !== 'string') return undefined;
  return data.train.size + (heldOutOfData(o, data) ? (data.validation?.size ?? 0) : 0);
}

/** Whether the validation images are a part held out of the `data` images (`valSplit`). */
function heldOutOfData(o: TrainOptions, data: RunData): boolean {
  return data.validation !== undefined && o.valData === undefined && data.validationFolder === undefined;
}

/** A note when `limit` (or `valLimit`) asks for more images than its data holds: all of them are used. */
function beyondLimitNote(o: TrainOptions, data: RunData): string | undefined {
  const opt = optionNamer(o.optionNames);
  const notes: string[] = [];
  const used = imagesOfData(o, data);
  if (o.limit !== undefined && used !== undefined && o.limit > used) notes.push(`${opt.name('limit')} ${o.limit} is more than the ${used} images of ${String(o.data)}`);
  if (o.valLimit !== undefined && data.validation !== undefined && o.valLimit > data.validation.size) {
    notes.push(`${opt.name('valLimit')} ${o.valLimit} is more than the ${data.validation.size} images of ${String(data.validationFolder ?? o.valData)}`);
  }
  return notes.length === 0 ? undefined : `note: ${notes.join('; ')}: all of them are used`;
}

/** The run's arguments as JSON values, for `state.json`. */
function describeArgs(o: TrainOptions): Record<string, unknown> {
  const name = (d: string | Dataset | undefined): string | undefined => (d === undefined || typeof d === 'string' ? d : `dataset:${d.name}`);
  return {
    data: name(o.data),
    valData: name(o.valData),
    valSplit: o.valSplit,
    valLimit: o.valLimit,
    arch: o.buildModel !== undefined ? 'custom' : (o.arch ?? 'resnet50'),
    widthDivisor: o.widthDivisor,
    inputShape: o.inputShape,
    limit: o.limit,
    epochs: o.epochs ?? 2,
    batchSize: o.batchSize ?? 32,
    optimizer: o.optimizer ?? 'adam',
    lr: o.lr ?? 0.001,
    momentum: o.momentum ?? 0,
    nesterov: o.nesterov ?? false,
    lrSchedule: o.lrSchedule ?? 'constant',
    earlyStop: o.earlyStop,
    initWeights: o.initWeights === undefined ? undefined : resolve(o.initWeights),
    augment: o.augment,
    preciseBn: o.preciseBn ?? DEFAULT_PRECISE_BN,
    seed: o.seed ?? 0,
  };
}

/**
 * Compiles `model` for training with a fresh optimizer (categorical cross-entropy, accuracy) and returns the optimizer.
 * The caller owns the optimizer (the model does not dispose it). `momentum` applies to `sgd` only (see
 * {@link createOptimizer}).
 */
export function compileForTraining(model: tf.LayersModel, optimizer: OptimizerName = 'adam', lr = 0.001, momentum: MomentumOptions = {}): tf.Optimizer {
  const opt = createOptimizer(optimizer, lr, momentum);
  model.compile({ optimizer: opt, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return opt;
}

/**
 * Trains a model: a new one (`arch` or `buildModel`), or the run's latest checkpoint with `resume`.
 *
 * Each epoch: shuffled (seed, epoch) batches through `trainOnBatch`; validation in inference mode; a checkpoint
 * (model, optimizer state, `state.json`) written atomically; `log.csv` / `log.json` rewritten. A NaN or infinite loss
 * stops training with {@link TrainingDivergedError}, leaving the last good checkpoint intact. `<out>/report/` is
 * written after each epoch (history, curves, settings) and at the end with the evaluation: of the last epoch, or
 * after an early stop of the best one.
 *
 * Refuses, with a {@link RunFolderInUseError} before any slow work, a run folder that already has checkpoints unless
 * `resume` is set, and an existing folder that is neither empty nor a run folder (one holding anything a run does not
 * write: its `checkpoints/`, `report/`, `log.csv`, `log.json`): nothing in it is touched. Options out of range (a
 * batch size of 0, an unknown schedule, `earlyStop` without validation data, …) are a one-line `Error` before that.
 *
 * The caller owns the returned model and optimizer and disposes both.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const out = resolve(options.out);
  const reporter = options.reporter ?? streamReporter();
  const opt = optionNamer(options.optionNames);
  const epochs = options.epochs ?? 2;
  const batchSize = options.batchSize ?? 32;
  const lr = options.lr ?? 0.001;
  const lrSchedule = options.lrSchedule ?? 'constant';
  const seed = options.seed ?? 0;
  checkPositiveWhole(epochs, 'epochs');
  checkPositiveWhole(batchSize, 'batch size');
  if (!(lr > 0 && Number.isFinite(lr))) throw new Error(`learning rate must be a positive number, got ${lr}`);
  if (!LR_SCHEDULES.includes(lrSchedule)) throw new Error(`unknown learning-rate schedule '${String(lrSchedule)}' (known: ${LR_SCHEDULES.join(', ')})`);
  const momentum = { momentum: options.momentum ?? 0, nesterov: options.nesterov ?? false };
  checkMomentum(options.optimizer ?? 'adam', momentum);
  if (options.valLimit !== undefined && typeof options.valData !== 'string' && !(await validatesOnFolder(options))) {
    throw new Error('valLimit needs valData to be a path, or a data folder whose val/ folder validates the run (the validation part held out of data is sized by valSplit)');
  }
  if (options.earlyStop !== undefined) {
    if (!(Number.isInteger(options.earlyStop) && options.earlyStop >= 1)) {
      throw new Error(`earlyStop must be a positive whole number of epochs, got ${options.earlyStop}`);
    }
    // Only a data path is split (and a split above 0 that leaves no validation image fails when the data is opened).
    if (options.valData === undefined && (typeof options.data !== 'string' || (options.valSplit ?? 0.1) === 0)) {
      throw new Error('earlyStop needs validation data: give valData, or a valSplit above 0 (it watches the validation loss)');
    }
  }

  await checkRunFolder(out, opt);
  const latest = options.latest === undefined ? await latestCheckpoint(out) : options.latest === null ? undefined : resolve(options.latest);
  if (latest !== undefined && !options.resume) {
    throw new RunFolderInUseError(out, `${out} already holds a training run (latest checkpoint ${basename(latest)}): continue it with ${opt.flag('resume')}, or choose another run folder (${opt.name('out')})`);
  }
  const backend = await initBackend(options.backend ?? 'auto');
  reporter.message(`backend: ${backend}`);
  // Said at the start, so that a run without --out can be followed (log.csv) while it trains.
  reporter.message(`run folder: ${out} (log.csv gets a line after each epoch)`);

  // The folders made for the run (the run folder and any missing parents), removed again if it fails before writing.
  const created = await makeFolder(out);
  await cleanRunDir(out, latest ?? null);

  const args = describeArgs(options);
  let model: tf.LayersModel | undefined;
  let optimizer: tf.Optimizer | undefined;
  let state: RunState | undefined;
  /** Whether early stopping ended the run: after an epoch of this call, or (resumed) already where it stood. */
  let stoppedEarly = false;
  try {
    if (options.resume && latest !== undefined) {
      ({ model, state } = await loadCheckpoint(latest));
      const shape = modelInputShape(model);
      if (options.inputShape !== undefined && !tf.util.arraysEqual(shape, options.inputShape)) {
        throw new Error(`input shape mismatch: the checkpoint ${latest} takes ${formatImageShape(shape)} images, the options ask for ${formatImageShape(options.inputShape)}`);
      }
      for (const key of ['arch', 'widthDivisor'] as const) {
        const had = state.args[key] ?? (key === 'widthDivisor' ? 1 : undefined);
        const asked = args[key] ?? (key === 'widthDivisor' ? 1 : undefined);
        if (had !== asked) {
          throw new Error(
            `${opt.name(key)} mismatch: the checkpoint ${latest} has ${String(had)}, the options ask for ${String(asked)}; ` +
              `a new run needs another run folder (${opt.name('out')})`,
          );
        }
      }
      // A run that its early-stopping rule ended (or would have, had the process not died first) stays stopped: the
      // rule is met before any epoch of this call, and the stop is reported as when it happened.
      const { best } = state;
      stoppedEarly = best?.monitor === 'val_loss' && stopsEarly(state.epoch, best, options.earlyStop, epochs);
      reporter.message(
        state.epoch >= epochs
          ? `${latest} is at epoch ${state.epoch} and ${opt.name('epochs')} is ${epochs}: nothing to train (pass a larger one to go on)`
          : stoppedEarly && best !== undefined
            ? `${latest} is at epoch ${state.epoch} of ${epochs}, where early stopping's rule is met: ${best.monitor} has not improved for ` +
              `${epochsText(state.epoch - best.epoch)} (best ${best.value.toFixed(4)} at epoch ${best.epoch}) and ${opt.name('earlyStop')} is ` +
              `${options.earlyStop}: nothing to train (pass a larger one to go on)`
            : `resuming from ${latest} (epoch ${state.epoch} of ${epochs})`,
      );
    } else if (options.resume) {
      reporter.message(`no checkpoint in ${out} yet: starting from scratch`);
    }

    const data = await openRunData(options, model === undefined ? options.inputShape : modelInputShape(model));
    // What an image folder holds and skipped, once per source (a held-out validation part describes the same one).
    for (const line of new Set([data.train.description, data.validation?.description])) if (line !== undefined) reporter.message(line);
    if (data.validationFolder !== undefined) {
      reporter.message(`validation: ${data.validationFolder} (the data folder's ${basename(data.validationFolder)}/; ${opt.name('valData')} or ${opt.name('valSplit')} choose otherwise)`);
    }
    if (data.unusedFolderNote !== undefined) reporter.message(data.unusedFolderNote);
    const limitNote = beyondLimitNote(options, data);
    if (limitNote !== undefined) reporter.message(limitNote);
    const source = typeof options.data === 'string' ? options.data : data.train.name;
    if (model === undefined) {
      const shape = options.inputShape ?? data.train.imageShape;
      const classes = data.train.classes.length;
      model = options.buildModel !== undefined
        ? options.buildModel(shape, classes)
        : buildResNet(options.arch ?? 'resnet50', { inputShape: shape, classes, widthDivisor: options.widthDivisor });
      if (options.initWeights !== undefined) {
        reporter.message(describeInitWeights(await initWeightsFrom(model, options.initWeights), options.initWeights));
      }
    }
    checkCompatible(model, data.train, source);
    if (data.validation !== undefined) {
      // Validation data may hold some of the training classes (matched by name); a class training lacks is refused.
      const valSource = typeof options.valData === 'string' ? options.valData : data.validation.name;
      data.validation = mapClasses(data.validation, data.train.classes, `the training data ${source}`, valSource);
      checkCompatible(model, data.validation, valSource);
    }
    if (state !== undefined) checkSameClasses(state.classes, data.train.classes, 'the checkpoint was trained on', source);

    optimizer = compileForTraining(model, options.optimizer ?? 'adam', lr, momentum);
    if (options.resume && latest !== undefined) await restoreOptimizer(optimizer, model, latest);

    const resumed = state;
    const images = { train: data.train.size, validation: data.validation?.size ?? 0 };
    const had = resumed?.images;
    if (had !== undefined && (had.train !== images.train || had.validation !== images.validation)) {
      // The same seed over other images: another validation split and other shuffles than the run had so far.
      reporter.message(
        `note: the data is not what the run trained on so far: ${had.train} training and ${had.validation} validation images then, ` +
          `${images.train} and ${images.validation} now (validation results before and after this point do not compare)`,
      );
    }
    state = { ...(state ?? { epoch: 0, iterations: 0, seed, history: [], classes: data.train.classes, savedAt: '' }), args, images };
    // The epochs this call trains get its settings: the same as the last stretch's continue it, others start one.
    const segments = resumed === undefined ? [] : [...trainSegments(resumed)];
    /** Whether this call trains any epoch. */
    const trainsMore = state.epoch < epochs && !stoppedEarly;
    // Defined: `args` holds this call's settings, checked above.
    const settings = settingsOf(args) as Omit<TrainSegment, 'fromEpoch'>;
    const last = segments[segments.length - 1];
    if (trainsMore && (last === undefined || !sameSettings(last, settings))) segments.push({ fromEpoch: state.epoch + 1, ...settings });
    state.segments = segments;
    // A new run's logs appear with its first epoch; a resumed run's are rewritten from its checkpoint's history.
    if (state.history.length > 0) await writeLogs(out, state.history);
    const metadata: ModelMetadata = {
      classes: data.train.classes,
      inputShape: modelInputShape(model),
      arch: options.buildModel !== undefined ? model.name : (options.arch ?? 'resnet50'),
      dataset: data.train.name,
    };
    // The model itself carries them too (as the checkpoint's model.json does), so that the model returned to the
    // caller names its classes when it predicts or is saved: the same metadata as a model loaded from the checkpoint.
    model.setUserDefinedMetadata({ ...modelMetadata(model), ...metadata });

    let checkpoint = latest;
    // As many as the shuffled training batches: a last batch of a single image is left out (see BatchOptions.dropSingle).
    const steps = batchCount(data.train.size, { batchSize, shuffle: true });
    const validationImages = data.validation === undefined ? 'no validation' : `${data.validation.size} validation`;
    reporter.message(`images: ${data.train.size} training, ${validationImages}; ${steps} step${steps === 1 ? '' : 's'} per epoch (batch size ${batchSize})`);
    if (resumed !== undefined && trainsMore) {
      const note = scheduleChangeNote(resumed, { epochs, lr, lrSchedule }, steps);
      if (note !== undefined) reporter.message(note);
    }
    const reportDir = join(out, REPORT_DIR);
    /** The report of the run as it stands: its history, how it went and its settings. */
    const reportInput = (current: RunState): ReportInput & { run: ReportRun } => {
      const best = current.best;
      const bestDir = best === undefined ? undefined : join(out, CHECKPOINTS_DIR, checkpointName(best.epoch));
      return {
        title: `Training report: ${metadata.arch} on ${data.train.name}`,
        classes: current.classes,
        history: current.history,
        run: {
          folder: out,
          plannedEpochs: epochs,
          stoppedEarly: stoppedEarly ? { patience: options.earlyStop ?? 0 } : undefined,
          best: best === undefined || bestDir === undefined ? undefined : { epoch: best.epoch, monitor: best.monitor, checkpoint: bestDir },
        },
        facts: {
          architecture: String(metadata.arch),
          'input shape': formatImageShape(metadata.inputShape ?? []),
          'training images': data.train.size,
          'validation images': data.validation?.size ?? 0,
          ...settingsFacts(options, data),
          optimizer: describeOptimizer(current.segments ?? [], current.epoch),
          'batch size': describeBatchSize(current.segments ?? [], current.epoch),
          augmentation: describeAugment(options.augment),
          'BatchNorm recalibration': describePreciseBn(options.preciseBn ?? DEFAULT_PRECISE_BN),
          'early stopping': options.earlyStop === undefined ? 'off' : `after ${epochsText(options.earlyStop)} without a lower validation loss`,
          seed,
          backend,
          'latest checkpoint': checkpoint ?? 'none',
          'best checkpoint': bestDir ?? 'none',
        },
      };
    };
    // Training steps run compiled (one planned list of native calls per step) where the model allows it; say which.
    const trainer = new CompiledTrainer(model);
    if (trainsMore) reporter.message(describeTrainingStep(trainer.stepFor(Math.min(batchSize, data.train.size))));
    /** Whether this call has said that the loss sits far above chance (once is enough). */
    let saidSaturated = false;
    /** The validation of the last epoch trained in this call, which the final report reuses. */
    let lastValidation: EvaluationResult | undefined;
    for (let epoch = state.epoch + 1; trainsMore && epoch <= epochs; epoch++) {
      const { record, validation } = await trainEpoch(model, data, {
        epoch, epochs, steps, batchSize, lr, lrSchedule, optimizer, trainer, seed, augment: options.augment, preciseBn: options.preciseBn ?? DEFAULT_PRECISE_BN, reporter, checkpoint,
      });
      lastValidation = validation;
      const monitor: BestRecord['monitor'] = record.val_loss !== undefined ? 'val_loss' : 'loss';
      const value = record[monitor] as number;
      let best: BestRecord | undefined = state.best;
      if (best === undefined || best.monitor !== monitor || value < best.value) best = { monitor, epoch, value };
      state = { ...state, epoch, iterations: optimizer.iterations, best, history: [...state.history, record], savedAt: new Date().toISOString() };
      checkpoint = await saveCheckpoint(out, { model, optimizer, state, metadata }, options.keepCheckpoints ?? 2);
      await writeLogs(out, state.history);
      let reportNote: string | undefined;
      if (options.report !== false) {
        // The report of the epochs so far (curves, table, settings; no evaluation), so that a run interrupted later
        // (Ctrl-C, a crash) has one; it costs a tenth of a second or so, and comes before the epoch's line, so that
        // once that line shows, the report of that epoch is there. Written to a temporary folder and swapped in
        // (writeDirAtomic): a failure while it is written leaves the previous one. A kill between the swap's two
        // renames leaves the previous report only under a temporary name, which the next run clears; that run's first
        // epoch writes the report again. The final report replaces it.
        try {
          const interim = reportInput(state);
          await writeReport(reportDir, { ...interim, run: { ...interim.run, inProgress: true } });
        } catch (err) {
          reportNote = `note: no report after epoch ${epoch}: ${messageOf(err)}`;
        }
      }
      reporter.end(record);
      if (reportNote !== undefined) reporter.message(reportNote); // after the epoch's line, which ends its live bar
      const saturated = saturationNote(record.loss, state.classes.length, options.optionNames);
      if (saturated !== undefined && !saidSaturated) {
        saidSaturated = true;
        reporter.message(saturated);
      }
      // Counted from the best epoch, not from this call's start: a resumed run may have gone without improving longer.
      if (stopsEarly(epoch, best, options.earlyStop, epochs)) {
        reporter.message(`early stop: ${monitor} has not improved for ${epochsText(epoch - best.epoch)} (best ${best.value.toFixed(4)} at epoch ${best.epoch})`);
        stoppedEarly = true;
        break;
      }
    }
    reporter.stop();

    const input = reportInput(state);
    const bestCheckpoint = input.run.best?.checkpoint;
    let evaluation: EvaluationResult | undefined;
    let evaluatedEpoch: number | undefined;
    let reportFiles: string[] | undefined;
    if (options.report !== false) {
      const evalSet = data.validation ?? data.train;
      // After an early stop the report evaluates the best epoch's checkpoint, as Keras's EarlyStopping does with
      // restore_best_weights: the run stopped because the later epochs were worse on the validation data, the report
      // and the final lines point users to `--checkpoint best`, and a confusion matrix of the weights they are told
      // not to use would mislead. Without an early stop the run did what was asked, and the last epoch is evaluated.
      // The returned model stays the last epoch's either way (a resumed run continues from it).
      const best = input.run.best;
      const evalBest = stoppedEarly && best !== undefined && best.epoch !== state.epoch ? best : undefined;
      let evaluated = checkpoint;
      if (evalBest !== undefined) {
        const bestModel = await loadModel(evalBest.checkpoint);
        try {
          evaluation = await evaluateModel(bestModel, evalSet, batchSize, state.classes, (done, total) =>
            reporter.evaluate?.(`epoch ${evalBest.epoch} (the best) on the ${data.validation !== undefined ? 'validation' : 'training'} set`, done, total),
          );
        } finally {
          bestModel.dispose();
        }
        evaluatedEpoch = evalBest.epoch;
        evaluated = evalBest.checkpoint;
      } else {
        // The last epoch's validation is this very evaluation (same weights, data and batch size): reuse it rather
        // than run a second pass over the validation images.
        evaluation = lastValidation ?? (await evaluateModel(model, evalSet, batchSize, state.classes, (done, total) =>
          reporter.evaluate?.(`the ${data.validation !== undefined ? 'validation' : 'training'} set`, done, total),
        ));
        evaluatedEpoch = state.epoch;
      }
      reportFiles = await writeReport(reportDir, {
        ...input,
        evaluation: { split: data.validation !== undefined ? 'validation' : 'training', ...evaluation, epoch: evaluatedEpoch, checkpoint: evaluated },
      });
    }
    return {
      out, backend, model, optimizer, state, checkpoint, trainSize: data.train.size, validationSize: data.validation?.size ?? 0,
      plannedEpochs: epochs, stoppedEarly, bestCheckpoint, evaluation, evaluatedEpoch, reportFiles,
    };
  } catch (err) {
    reporter.stop();
    optimizer?.dispose();
    model?.dispose();
    // A checkpoints/ folder that the first checkpoint's failed write left empty goes again, and so do the run folder
    // and its parents if this call created them and nothing was written into them (bad data, a bad model, a failure
    // in epoch 1): an existing empty folder is left empty. (Both remove empty folders only.)
    await fsp.rmdir(join(out, CHECKPOINTS_DIR)).catch(() => undefined);
    await removeCreatedFolders(created);
    throw err;
  }
}

/**
 * Whether early stopping ends a run after `epoch`: `patience` is set, the run is short of its planned `epochs`, and
 * the best epoch by the monitored loss lies `patience` or more epochs back (counted from the best epoch, so a resumed
 * run that had gone without improving for a while stops as soon as the count reaches the patience).
 */
function stopsEarly(epoch: number, best: BestRecord | undefined, patience: number | undefined, epochs: number): boolean {
  return patience !== undefined && best !== undefined && epoch < epochs && epoch - best.epoch >= patience;
}

/** The line saying how training steps run: compiled (`training step: compiled, 336 native calls`), or not and why. */
export function describeTrainingStep(step: CompiledTrainingStep | string): string {
  return typeof step === 'string'
    ? `training step: tfjs-layers' trainOnBatch (not compiled: ${step})`
    : `training step: compiled, ${step.calls} native calls`;
}

/**
 * A note when an epoch's mean training loss is far above chance level, ln(classes), the loss of predicting every class
 * alike: the model is confidently wrong, its softmax saturated (categorical cross-entropy clips a probability at 1e-7,
 * a loss of 16.1 per image), which a learning rate too high for the batch size usually causes. Undefined otherwise.
 */
export function saturationNote(loss: number, classes: number, optionNames?: TrainOptions['optionNames']): string | undefined {
  const opt = optionNamer(optionNames);
  const chance = Math.log(classes);
  if (!(classes >= 2 && loss > Math.max(5, 3 * chance))) return undefined;
  return `note: the training loss (${loss.toFixed(2)}) is far above chance level (ln ${classes} = ${chance.toFixed(2)}): ` +
    `the model is confidently wrong, its softmax saturated; a lower ${opt.name('lr')} or a larger ${opt.name('batchSize')} usually helps`;
}

/** Per-epoch settings of {@link trainEpoch}. */
interface EpochSettings {
  epoch: number;
  epochs: number;
  steps: number;
  batchSize: number;
  /** Base learning rate. */
  lr: number;
  lrSchedule: LrSchedule;
  /** The model's optimizer, whose learning rate the schedule sets before each step. */
  optimizer: tf.Optimizer;
  /** Runs each training step: compiled where it applies, else `model.trainOnBatch`. */
  trainer: CompiledTrainer;
  seed: number;
  augment?: AugmentOptions;
  /** Batches of BatchNorm recalibration after training (0: none). */
  preciseBn: number;
  reporter: ProgressReporter;
  /** The latest good checkpoint, named if training diverges. */
  checkpoint: string | undefined;
}

/**
 * One epoch: training steps over shuffled batches, then (optionally) BatchNorm recalibration, then validation.
 * Returns the epoch's log record.
 */
async function trainEpoch(model: tf.LayersModel, data: RunData, s: EpochSettings): Promise<{ record: EpochRecord; validation?: EvaluationResult }> {
  s.reporter.start(s.epoch, s.epochs, s.steps);
  const start = performance.now();
  let seen = 0;
  let lossSum = 0;
  let accSum = 0;
  let batch = 0;
  const stepLoss: number[] = [];
  const stepAcc: number[] = [];
  /** Steps of the whole run: earlier epochs' steps count, so a resumed run continues the same schedule. */
  const totalSteps = s.epochs * s.steps;
  const firstStep = (s.epoch - 1) * s.steps;
  const lrAt = (step: number): number => learningRateAt(s.lrSchedule, s.lr, Math.min(step, totalSteps), totalSteps);
  for await (const { xs, ys } of data.train.batches({ batchSize: s.batchSize, shuffle: true, seed: s.seed, epoch: s.epoch, augment: s.augment })) {
    setLearningRate(s.optimizer, lrAt(firstStep + batch));
    batch++;
    const n = xs.shape[0];
    let loss: number;
    let acc: number;
    try {
      [loss, acc] = await s.trainer.trainOnBatch(xs, ys);
    } finally {
      tf.dispose([xs, ys]);
    }
    if (!Number.isFinite(loss)) throw new TrainingDivergedError(s.epoch, batch, loss, s.checkpoint);
    seen += n;
    lossSum += loss * n;
    accSum += acc * n;
    stepLoss.push(roundSignificant(loss));
    stepAcc.push(roundSignificant(acc));
    s.reporter.step(lossSum / seen, accSum / seen, seen / ((performance.now() - start) / 1000));
    // Let signal handlers (Ctrl-C) and timers run between steps: with in-memory data nothing above ever waits.
    await new Promise<void>((resolveStep) => setImmediate(resolveStep));
  }
  const time = (performance.now() - start) / 1000;
  const record: EpochRecord = { epoch: s.epoch, loss: lossSum / seen, acc: accSum / seen, time, images_per_s: seen / time, lr: lrAt(firstStep), step_loss: stepLoss, step_acc: stepAcc };
  if (s.preciseBn > 0) await recalibrateBatchNorm(model, data.train, { batches: s.preciseBn, batchSize: s.batchSize, seed: s.seed, epoch: s.epoch });
  if (data.validation === undefined) return { record };
  const validation = await evaluateModel(model, data.validation, s.batchSize, data.train.classes, (done, total) => s.reporter.validate?.(done, total));
  record.val_loss = validation.loss;
  record.val_acc = validation.accuracy;
  return { record, validation };
}

/**
 * What a resumed run does to the learning-rate curve when its options differ from the stored ones: the schedule is a
 * function of the step, the base rate and the run's planned steps, so a new `--epochs` (with cosine), `--lr` or
 * `--lr-schedule` moves the rate at the resume point. Returns a one-line note giving the rate the stored settings
 * would have used at the next step and the rate the new ones use, or undefined when they agree (or the stored
 * arguments do not say). `steps` is the number of steps per epoch now. A new batch size (other steps per epoch than
 * the stored stretch's) moves no rate: the resume point is the start of an epoch, where step / planned steps is
 * epoch / epochs whatever the steps per epoch, for the stored settings as for the new ones (and {@link train}'s
 * steps count the earlier epochs at the current steps per epoch).
 */
export function scheduleChangeNote(
  resumed: Pick<TrainState, 'epoch' | 'args'>,
  now: { epochs: number; lr: number; lrSchedule: LrSchedule },
  steps: number,
): string | undefined {
  const had = resumed.args;
  const hadEpochs = Number(had.epochs);
  const hadLr = Number(had.lr);
  const hadSchedule = had.lrSchedule === undefined ? 'constant' : had.lrSchedule;
  if (!(Number.isInteger(hadEpochs) && hadEpochs >= 1 && hadLr > 0) || !LR_SCHEDULES.includes(hadSchedule as LrSchedule)) return undefined;
  if (resumed.epoch >= now.epochs) return undefined; // nothing left to train
  const step = resumed.epoch * steps;
  const rateAt = (schedule: LrSchedule, base: number, epochs: number): number =>
    learningRateAt(schedule, base, Math.min(step, epochs * steps), epochs * steps);
  const before = rateAt(hadSchedule as LrSchedule, hadLr, hadEpochs);
  const after = rateAt(now.lrSchedule, now.lr, now.epochs);
  if (Math.abs(after - before) <= 1e-9 * Math.max(before, after)) return undefined;
  const changed = [
    hadEpochs !== now.epochs && (hadSchedule === 'cosine' || now.lrSchedule === 'cosine') ? `epochs ${hadEpochs} -> ${now.epochs}` : undefined,
    hadLr !== now.lr ? `lr ${hadLr} -> ${now.lr}` : undefined,
    hadSchedule !== now.lrSchedule ? `schedule ${hadSchedule} -> ${now.lrSchedule}` : undefined,
  ].filter((c) => c !== undefined);
  const rate = (r: number): string => String(Number(r.toPrecision(4)));
  return `note: the learning rate jumps from ${rate(before)} to ${rate(after)} at epoch ${resumed.epoch + 1} (${changed.join(', ')})`;
}

/** `x` rounded to `digits` significant digits (per-step values are stored compactly in `state.json`). */
function roundSignificant(x: number, digits = 5): number {
  return Number(x.toPrecision(digits));
}
