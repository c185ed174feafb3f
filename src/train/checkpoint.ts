/**
 * Training checkpoints: one folder per epoch, written so that a crash at any instant never breaks the latest one.
 *
 * Layout of a run folder:
 *
 * ```
 * <run>/checkpoints/epoch-0001/   model.json, weights.bin   the model (standard TensorFlow.js layout)
 *                                 optimizer.json, optimizer.bin   optimizer state (iterations, slot variables)
 *                                 state.json                 epoch, best metric, history, seed, arguments
 * <run>/checkpoints/latest        the name of the newest complete checkpoint, e.g. `epoch-0002`
 * <run>/checkpoints/best          the name of the checkpoint with the best monitored metric
 * ```
 *
 * A checkpoint folder is filled under a temporary name, flushed, and renamed into place; only then is `latest`
 * replaced (write to a temporary file, flush, rename). A reader that follows `latest` therefore always finds a
 * complete checkpoint. Older checkpoints are pruned after the pointer moves, keeping the newest few and the best.
 */
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { messageOf } from '../data/errors.js';
import { isKerasH5Path } from '../io/keras_h5.js';
import { exists, removeStaleTemps, writeDirAtomic, writeFileAtomic, writeFileSynced } from './fsutil.js';
import { MODEL_JSON, type ModelMetadata, loadModel, writeModelFiles } from './io.js';
import { formatJson } from './log.js';
import { writeOptimizerFiles } from './optimizer.js';
import {
  BEST_FILE,
  CHECKPOINTS_DIR,
  LATEST_FILE,
  STATE_JSON,
  isCheckpointName,
  pointedCheckpoint,
  pointerTarget,
  readPointer,
} from './run_layout.js';

export { CHECKPOINTS_DIR, LATEST_FILE, BEST_FILE, REPORT_DIR, STATE_JSON } from './run_layout.js';

/** One row of the training log: the metrics of one epoch. */
export interface EpochRecord {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch's batches (weighted by batch size). */
  loss: number;
  /** Mean training accuracy over the epoch. */
  acc: number;
  /** Validation loss after the epoch (inference mode), when there is validation data. */
  val_loss?: number;
  /** Validation accuracy after the epoch, when there is validation data. */
  val_acc?: number;
  /** Wall-clock seconds of the epoch's training steps (validation excluded). */
  time: number;
  /** Training throughput in images per second. */
  images_per_s: number;
  /** Learning rate at the epoch's first step (with `lrSchedule` 'constant': the rate of every step). */
  lr: number;
  /**
   * Training loss of each step (batch) of the epoch, in order, rounded to 5 significant digits. `loss` is their
   * mean weighted by batch size. Absent in runs written before per-step losses were recorded.
   */
  step_loss?: number[];
  /** Training accuracy of each step's batch, in order, rounded to 5 significant digits. Absent like `step_loss`. */
  step_acc?: number[];
}

/** Which metric is watched for early stopping and for the best checkpoint, and its best value. */
export interface BestRecord {
  /** The metric: the validation loss where the run validates, else the training loss. */
  monitor: 'val_loss' | 'loss';
  /** The epoch (1-based) with the lowest value, whose checkpoint `checkpoints/best` names. */
  epoch: number;
  /** That epoch's value of the metric. */
  value: number;
}

/** Everything besides model and optimizer that a resumed run needs. Stored as `state.json`. */
export interface TrainState {
  /** Number of completed epochs. */
  epoch: number;
  /** Optimizer steps taken so far. */
  iterations: number;
  /** Random seed of the run (shuffling, augmentation, validation split). */
  seed: number;
  /** Best monitored value so far. */
  best?: BestRecord;
  /** One record per completed epoch, oldest first. */
  history: EpochRecord[];
  /** Class names, index `i` naming output unit `i`. */
  classes: string[];
  /** The run's arguments, as given (JSON values only). */
  args: Record<string, unknown>;
  /** ISO time the checkpoint was written. */
  savedAt: string;
}

/** Folder name of the checkpoint after `epoch` epochs: `epoch-0003`. */
export function checkpointName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, '0')}`;
}

/** What {@link saveCheckpoint} writes. */
export interface CheckpointContent {
  model: tf.LayersModel;
  optimizer: tf.Optimizer;
  state: TrainState;
  /** Stored in `model.json` so the checkpoint is a self-describing model folder. */
  metadata?: ModelMetadata;
}

/**
 * Writes the checkpoint for `content.state.epoch` under `<runDir>/checkpoints/`, atomically, then moves the `latest`
 * (and, when this epoch is the best, `best`) pointer to it and prunes older checkpoints beyond the newest `keep`
 * (the best one is always kept). Returns the checkpoint folder. If anything fails before the pointer moves, the
 * previous checkpoint stays the latest, intact.
 */
export async function saveCheckpoint(runDir: string, content: CheckpointContent, keep = 2): Promise<string> {
  const root = join(runDir, CHECKPOINTS_DIR);
  const name = checkpointName(content.state.epoch);
  const dir = join(root, name);
  await writeDirAtomic(dir, async (tmp) => {
    await writeModelFiles(content.model, tmp, content.metadata);
    await writeOptimizerFiles(content.optimizer, tmp);
    await writeFileSynced(join(tmp, STATE_JSON), formatJson(content.state));
  });
  await writeFileAtomic(join(root, LATEST_FILE), `${name}\n`);
  if (content.state.best?.epoch === content.state.epoch) await writeFileAtomic(join(root, BEST_FILE), `${name}\n`);
  await pruneCheckpoints(runDir, keep);
  return dir;
}

/** The folder of the newest complete checkpoint of a run, or undefined when there is none yet. */
export async function latestCheckpoint(runDir: string): Promise<string | undefined> {
  return readPointer(runDir, LATEST_FILE);
}

/** The folder of the best checkpoint of a run, or undefined. */
export async function bestCheckpoint(runDir: string): Promise<string | undefined> {
  return readPointer(runDir, BEST_FILE);
}

/**
 * The latest checkpoint of a run, read synchronously (for a signal handler, which must not wait), or undefined when
 * there is none or its pointer is bad.
 */
export function latestCheckpointSync(runDir: string): string | undefined {
  let name: string;
  try {
    name = readFileSync(join(runDir, CHECKPOINTS_DIR, LATEST_FILE), 'utf8').trim();
  } catch {
    return undefined;
  }
  const dir = pointedCheckpoint(runDir, LATEST_FILE, name, (d) => existsSync(d));
  return typeof dir === 'string' ? dir : undefined;
}

/** Reads a checkpoint's `state.json`. */
export async function readState(checkpointDir: string): Promise<TrainState> {
  const file = join(checkpointDir, STATE_JSON);
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as TrainState;
  } catch (err) {
    throw new Error(`${file}: cannot read the training state: ${messageOf(err)}`);
  }
}

/** Loads a checkpoint's model and state (the optimizer is restored by the trainer, once it is compiled in). */
export async function loadCheckpoint(checkpointDir: string): Promise<{ model: tf.LayersModel; state: TrainState }> {
  const state = await readState(checkpointDir);
  const model = await loadModel(checkpointDir);
  return { model, state };
}

/**
 * Removes what an interrupted run left behind: temporary files and folders, and checkpoint folders newer than the
 * `latest` pointer (written completely, but the pointer never moved to them). Returns the names removed. `latest` is
 * the run's latest checkpoint where the caller has already read the pointer ({@link latestCheckpoint}; `null`: the
 * run has none); left out, it is read here.
 */
export async function cleanRunDir(runDir: string, latest?: string | null): Promise<string[]> {
  const root = join(runDir, CHECKPOINTS_DIR);
  const removed = [...(await removeStaleTemps(runDir)), ...(await removeStaleTemps(root))];
  const latestDir = latest === undefined ? await latestCheckpoint(runDir) : (latest ?? undefined);
  const latestEpoch = latestDir === undefined ? 0 : epochOf(latestDir);
  for (const name of await checkpointNames(root)) {
    if (epochOf(name) > latestEpoch) {
      await fsp.rm(join(root, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** Deletes checkpoints older than the newest `keep`, never the one `latest` or `best` names. */
export async function pruneCheckpoints(runDir: string, keep: number): Promise<void> {
  const root = join(runDir, CHECKPOINTS_DIR);
  const names = await checkpointNames(root);
  const protectedDirs = new Set([await latestCheckpoint(runDir), await bestCheckpoint(runDir)].filter((d) => d !== undefined));
  for (const name of names.slice(0, Math.max(0, names.length - keep))) {
    const dir = join(root, name);
    if (!protectedDirs.has(dir)) await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** Names of the checkpoint folders under `root`, oldest first. */
async function checkpointNames(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(root);
  } catch {
    return [];
  }
  return names.filter(isCheckpointName).sort((a, b) => epochOf(a) - epochOf(b));
}

function epochOf(nameOrDir: string): number {
  const m = /epoch-(\d+)$/.exec(nameOrDir);
  return m === null ? 0 : Number(m[1]);
}

/** The values of {@link CheckpointChoice}, in the order the CLI lists them. */
export const CHECKPOINT_CHOICES = ['latest', 'best'] as const;

/**
 * Which checkpoint of a training run folder a model path means: `'latest'`, the last one written (what
 * `<run>/checkpoints/latest` names), or `'best'`, the one with the lowest monitored loss (validation loss, else
 * training loss; what `<run>/checkpoints/best` names).
 */
export type CheckpointChoice = (typeof CHECKPOINT_CHOICES)[number];

/**
 * Whether `path` is a training run folder, the kind of model path that {@link CheckpointChoice} applies to: a folder
 * with a `checkpoints/` sub-folder and no `model.json` of its own (a saved model folder wins, as in
 * {@link resolveModelDir}).
 */
export async function isTrainingRun(path: string): Promise<boolean> {
  const abs = resolve(path);
  return !(await exists(join(abs, MODEL_JSON))) && (await exists(join(abs, CHECKPOINTS_DIR)));
}

/**
 * Whether a checkpoint choice would be ignored for `path`: it exists and is not a training run folder (a saved model
 * folder, a model file, a run's pointer file). A missing path is not: the loader names it.
 */
export async function checkpointInapplicable(path: string): Promise<boolean> {
  return (await exists(path)) && !(await isTrainingRun(path));
}

/**
 * Resolves `--model`: a saved model folder (with `model.json`) is used as is; a run folder written by `train` resolves
 * to its latest checkpoint, or with `checkpoint = 'best'` to its best one; a run's pointer file
 * (`<run>/checkpoints/best` or `latest`) to the checkpoint it names; a Keras `.h5` or `.hdf5` path and any other file (such as
 * `model.json`) are returned as given, for {@link loadModel} to read and to name in its errors. Anything else is a
 * one-line error naming the path.
 */
export async function resolveModelDir(path: string, checkpoint: CheckpointChoice = 'latest'): Promise<string> {
  if (isKerasH5Path(path)) return path; // loadKerasH5 names a missing file or a broken one in its own words
  const abs = resolve(path);
  if (!(await exists(abs))) throw new Error(`${path}: no such model folder`);
  if (await exists(join(abs, MODEL_JSON))) return abs;
  if (await exists(join(abs, CHECKPOINTS_DIR))) {
    const dir = checkpoint === 'best' ? await bestCheckpoint(abs) : await latestCheckpoint(abs);
    if (dir === undefined) throw new Error(`${path}: this training run has no complete ${checkpoint} checkpoint yet`);
    return dir;
  }
  const pointed = await pointerTarget(abs);
  if (pointed !== undefined) return pointed;
  const stat = await fsp.stat(abs);
  if (stat.isFile()) return path; // model.json (or another model file) given directly: named as given in errors
  throw new Error(`${path}: no ${MODEL_JSON} in this folder (neither a saved model nor a training run)`);
}
