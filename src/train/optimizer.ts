/**
 * Optimizers by name, and their state on disk so that `--resume` continues exactly where training stopped.
 *
 * The state is what `optimizer.getWeights()` returns: the iteration count (`iter`) first, then the slot variables
 * (Adam's first and second moments, RMSProp's mean squares and moments, SGD with momentum's velocities), one per
 * trainable weight and in the model's trainable-weight order. It is stored as `optimizer.json` (class, config, weight
 * specs) + `optimizer.bin` (data).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { messageOf } from '../data/errors.js';
import { writeFileSynced } from './fsutil.js';

/**
 * The optimizers `train` offers: `adam` and `rmsprop` with Keras's defaults besides the learning rate; `sgd` plain, or
 * with momentum (classical or Nesterov's) where `TrainOptions.momentum` is above 0.
 */
export type OptimizerName = 'adam' | 'sgd' | 'rmsprop';

/** All optimizer names, for option parsing. */
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['adam', 'sgd', 'rmsprop'];

/** File names of the stored optimizer state. */
export const OPTIMIZER_JSON = 'optimizer.json';
export const OPTIMIZER_BIN = 'optimizer.bin';

/** Settings of SGD's momentum (Polyak's heavy ball, or Nesterov's), which only `sgd` takes. */
export interface MomentumOptions {
  /** Momentum coefficient in [0, 1); 0 (the default) is plain SGD. */
  momentum?: number;
  /** Nesterov's momentum instead of the classical one; needs `momentum` above 0. Default false. */
  nesterov?: boolean;
}

/**
 * Checks momentum settings against the optimizer they go with: `momentum` must be a number in [0, 1), and momentum
 * above 0 or `nesterov` only goes with `sgd`, and `nesterov` only with momentum above 0. Throws an Error saying which.
 */
export function checkMomentum(name: OptimizerName, { momentum = 0, nesterov = false }: MomentumOptions): void {
  if (!(typeof momentum === 'number' && momentum >= 0 && momentum < 1)) throw new Error(`momentum must be a number in [0, 1), got ${momentum}`);
  if (name !== 'sgd' && (momentum > 0 || nesterov)) {
    const what = [momentum > 0 ? 'momentum' : '', nesterov ? 'nesterov' : ''].filter((w) => w !== '');
    throw new Error(`${what.join(' and ')} ${what.length > 1 ? 'apply' : 'applies'} only to the sgd optimizer, not ${name}`);
  }
  if (nesterov && momentum === 0) throw new Error('nesterov needs a momentum above 0');
}

/**
 * Creates a fresh optimizer: Adam and RMSProp with the Keras defaults; SGD plain, or with `momentum` above 0 tfjs's
 * MomentumOptimizer (velocity `v = momentum * v + g`, step `-lr * v`, or with `nesterov` `-lr * (g + momentum * v)`).
 * Throws on settings that {@link checkMomentum} refuses.
 */
export function createOptimizer(name: OptimizerName, learningRate: number, momentum: MomentumOptions = {}): tf.Optimizer {
  checkMomentum(name, momentum);
  switch (name) {
    case 'adam':
      return tf.train.adam(learningRate, 0.9, 0.999, 1e-7);
    case 'sgd':
      return (momentum.momentum ?? 0) > 0 ? tf.train.momentum(learningRate, momentum.momentum ?? 0, momentum.nesterov ?? false) : tf.train.sgd(learningRate);
    case 'rmsprop':
      return tf.train.rmsprop(learningRate, 0.9, 0, 1e-7);
  }
}

interface OptimizerJson {
  className: string;
  config: tf.serialization.ConfigDict;
  weightSpecs: tf.io.WeightsManifestEntry[];
}

/** Writes the optimizer's state into the folder `dir` as `optimizer.json` + `optimizer.bin`, flushed to disk. */
export async function writeOptimizerFiles(optimizer: tf.Optimizer, dir: string): Promise<void> {
  const weights = await optimizer.getWeights();
  try {
    const { data, specs } = await tf.io.encodeWeights(weights);
    const doc: OptimizerJson = { className: optimizer.getClassName(), config: optimizer.getConfig(), weightSpecs: specs };
    await writeFileSynced(join(dir, OPTIMIZER_BIN), new Uint8Array(data));
    await writeFileSynced(join(dir, OPTIMIZER_JSON), JSON.stringify(doc));
  } finally {
    // getWeights() makes a fresh scalar for `iter`; the slot variables belong to the optimizer.
    weights[0]?.tensor.dispose();
  }
}

/** tfjs's class names of plain SGD and SGD with momentum, which a resume may switch between. */
const SGD_CLASSES = ['SGD', 'Momentum'];

/**
 * Restores the state written by {@link writeOptimizerFiles} from `dir` into `optimizer`, which must be of the same kind
 * and belong to (be compiled into) `model`. Checks that every slot variable matches the shape of the trainable weight
 * it belongs to, so that state from another architecture is refused with a clear message instead of corrupting
 * training.
 *
 * Plain SGD and SGD with momentum count as one kind (a resume may add, change or drop the momentum): momentum state
 * restored into a momentum optimizer keeps its velocities whatever the coefficient; between plain SGD and momentum
 * only the step count carries over (velocities start at 0, or are dropped).
 */
export async function restoreOptimizer(optimizer: tf.Optimizer, model: tf.LayersModel, dir: string): Promise<void> {
  const jsonPath = join(dir, OPTIMIZER_JSON);
  let doc: OptimizerJson;
  let data: Buffer;
  try {
    doc = JSON.parse(await fsp.readFile(jsonPath, 'utf8')) as OptimizerJson;
    data = await fsp.readFile(join(dir, OPTIMIZER_BIN));
  } catch (err) {
    throw new Error(`${jsonPath}: cannot read the optimizer state: ${messageOf(err)}`);
  }
  const className = optimizer.getClassName();
  const sgdSwitch = doc.className !== className && SGD_CLASSES.includes(doc.className) && SGD_CLASSES.includes(className);
  if (doc.className !== className && !sgdSwitch) {
    throw new Error(`${jsonPath}: the checkpoint's optimizer is ${doc.className}, not ${className}`);
  }
  const map = tf.io.decodeWeights(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer, doc.weightSpecs);
  const named: { name: string; tensor: tf.Tensor }[] = doc.weightSpecs.map((s) => ({ name: s.name, tensor: map[s.name] }));
  try {
    const slots = named.slice(1);
    const trainable = model.trainableWeights;
    if (named[0]?.name !== 'iter' || (trainable.length === 0 ? slots.length !== 0 : slots.length % trainable.length !== 0)) {
      throw new Error(`${jsonPath}: ${slots.length} slot variables do not fit a model with ${trainable.length} trainable weights`);
    }
    slots.forEach((slot, i) => {
      const w = trainable[i % trainable.length];
      if (!tf.util.arraysEqual(slot.tensor.shape, w.shape as number[])) {
        throw new Error(`${jsonPath}: slot ${slot.name} has shape [${slot.tensor.shape}], weight ${w.originalName} has [${w.shape}]`);
      }
    });
    await optimizer.setWeights(sgdSwitch ? named.slice(0, 1) : named);
  } finally {
    // setWeights() wraps each tensor in a new variable that holds its own reference to the data.
    tf.dispose(named.map((n) => n.tensor));
  }
}

