/**
 * Shared fixtures of the saving and loading tests: a tiny dense model whose kernel is one constant, so that what
 * loads back tells which save (or which checkpoint) it came from, and the reader of that constant.
 */
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../src/train/index.js';

/** A tiny dense model (3 inputs, 2 units) whose kernel is all `value` and whose bias is zero. */
export function tinyDenseModel(value: number): tf.LayersModel {
  const input = tf.input({ shape: [3] });
  const output = tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.constant({ value }), biasInitializer: 'zeros' }).apply(input) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

/**
 * The first kernel value of the {@link tinyDenseModel} at `path` (a model folder, its model.json, a Keras HDF5 file, a
 * checkpoint pointer file: whatever `loadModel` takes), loaded back with our loader `loadModel` and disposed.
 */
export async function savedKernelValue(path: string): Promise<number> {
  const model = await loadModel(path);
  try {
    // The dense layer is layers[1], after the input layer.
    return (await model.layers[1].getWeights()[0].data())[0];
  } finally {
    model.dispose();
  }
}
