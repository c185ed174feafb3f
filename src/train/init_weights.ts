/**
 * Starting a model from another one's weights (fine-tuning): each layer of the model takes the weights of the layer of
 * the same name in a saved model, a training run or a Keras HDF5 file, where their shapes match, and keeps its own
 * initial weights elsewhere (typically the classifier, whose classes differ). This library's networks use the spec's
 * layer names (`conv1`, `bn_conv1`, `res2a_branch2a`, ...), the names of Keras's original ResNet50, so a Keras weights
 * file with those names serves too.
 */
import * as tf from '@tensorflow/tfjs';

import { listNames } from '../data/errors.js';
import { isKerasH5Path, readKerasH5LayerWeights, type StoredLayerWeights } from '../io/keras_h5.js';
import { resolveModelDir } from './checkpoint.js';
import { loadModel } from './io.js';

/** What {@link initWeightsFrom} did. */
export interface InitWeightsResult {
  /** The layers (with weights) that took the source's weights. */
  loaded: string[];
  /** The layers (with weights) that kept their own, and why: not in the source, or other shapes. */
  kept: { layer: string; why: string }[];
}

/** The weights of every layer of a saved model (its folder, a run's latest checkpoint) with weights, by name. */
async function modelLayerWeights(path: string): Promise<Map<string, StoredLayerWeights>> {
  const source = await loadModel(await resolveModelDir(path, 'latest'));
  try {
    const layers = new Map<string, StoredLayerWeights>();
    for (const layer of source.layers) {
      if (layer.weights.length === 0) continue;
      layers.set(layer.name, {
        names: layer.weights.map((w) => w.name),
        shapes: layer.weights.map((w) => w.shape as number[]),
        values: layer.weights.map((w) => Float32Array.from(w.read().dataSync())),
      });
    }
    return layers;
  } finally {
    source.dispose();
  }
}

/**
 * Sets the weights of `model`'s layers from the layers of the same name in `path` (a saved model folder, a training
 * run folder, or a Keras `.h5`/`.hdf5` weights or model file) whose weights have the same shapes, in the same order.
 * Throws a one-line error naming `path` when it cannot be read, or when none of its layers fits the model (another
 * architecture, or other layer names).
 */
export async function initWeightsFrom(model: tf.LayersModel, path: string): Promise<InitWeightsResult> {
  const source = isKerasH5Path(path) ? await readKerasH5LayerWeights(path) : await modelLayerWeights(path);
  const result: InitWeightsResult = { loaded: [], kept: [] };
  const assignments: { layer: tf.layers.Layer; stored: StoredLayerWeights }[] = [];
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const stored = source.get(layer.name);
    const shapes = layer.weights.map((w) => w.shape as number[]);
    if (stored === undefined) {
      result.kept.push({ layer: layer.name, why: 'not in the source' });
    } else if (stored.shapes.length !== shapes.length || stored.shapes.some((s, i) => !tf.util.arraysEqual(s, shapes[i]))) {
      result.kept.push({ layer: layer.name, why: `other shapes ([${stored.shapes.map((s) => s.join('x')).join(', ')}] in the source)` });
    } else {
      assignments.push({ layer, stored });
      result.loaded.push(layer.name);
    }
  }
  if (assignments.length === 0) throw new Error(`${path}: none of its layers fits the model (by layer name and weight shapes)`);
  for (const { layer, stored } of assignments) {
    const tensors = stored.values.map((v, i) => tf.tensor(v, stored.shapes[i], 'float32'));
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
  return result;
}

/**
 * One line saying what {@link initWeightsFrom} did: `initial weights: 105 of 106 layers from runs/signs; fc3 (other
 * shapes ([2048x6, 6] in the source)) kept its own`. The layers that kept their own are listed as `listNames` lists
 * names: all of up to four, else the first three and how many more.
 */
export function describeInitWeights(result: InitWeightsResult, path: string): string {
  const total = result.loaded.length + result.kept.length;
  const kept = result.kept.length === 0 ? ''
    : `; ${listNames(result.kept.map((k) => `${k.layer} (${k.why})`))} kept ${result.kept.length === 1 ? 'its' : 'their'} own`;
  return `initial weights: ${result.loaded.length} of ${total} layers from ${path}${kept}`;
}
