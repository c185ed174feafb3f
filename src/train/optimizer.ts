/**
 * Optimizers by name, and their state on disk so that `--resume` continues exactly where training stopped.
 *
 * The state is what `optimizer.getWeights()` returns: the iteration count (`iter`) first, then the slot variables
 * (Adam's first and second moments, RMSProp's mean squares and moments), one per trainable weight and in the model's
 * trainable-weight order. It is stored as `optimizer.json` (class, config, weight specs) + `optimizer.bin` (data).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { messageOf } from '../data/errors.js';
import { writeFileSynced } from './fsutil.js';

/** The optimizers `train` offers. */
export type OptimizerName = 'adam' | 'sgd' | 'rmsprop';

/** All optimizer names, for option parsing. */
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['adam', 'sgd', 'rmsprop'];

/** File names of the stored optimizer state. */
export const OPTIMIZER_JSON = 'optimizer.json';
export const OPTIMIZER_BIN = 'optimizer.bin';

/** Creates a fresh optimizer: Adam and RMSProp with the Keras defaults, plain SGD. */
export function createOptimizer(name: OptimizerName, learningRate: number): tf.Optimizer {
  switch (name) {
    case 'adam':
      return tf.train.adam(learningRate, 0.9, 0.999, 1e-7);
    case 'sgd':
      return tf.train.sgd(learningRate);
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

/**
 * Restores the state written by {@link writeOptimizerFiles} from `dir` into `optimizer`, which must be of the same kind
 * and belong to (be compiled into) `model`. Checks that every slot variable matches the shape of the trainable weight
 * it belongs to, so that state from another architecture is refused with a clear message instead of corrupting
 * training.
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
  if (doc.className !== optimizer.getClassName()) {
    throw new Error(`${jsonPath}: the checkpoint's optimizer is ${doc.className}, not ${optimizer.getClassName()}`);
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
    await optimizer.setWeights(named);
  } finally {
    // setWeights() wraps each tensor in a new variable that holds its own reference to the data.
    tf.dispose(named.map((n) => n.tensor));
  }
}

