/**
 * The model that evaluate and predict run: loaded from disk or given by the caller, then copied with its BatchNorms
 * folded into the convolutions and its ReLUs fused ({@link foldBatchNorm}): the same predictions in inference mode,
 * with fewer passes over the activations.
 */
import type * as tf from '@tensorflow/tfjs';
import { foldBatchNorm } from '../model/index.js';
import { checkpointInapplicable, resolveModelDir, type CheckpointChoice } from './checkpoint.js';
import { loadModel } from './io.js';

/**
 * Loads `model` if it is a path (a saved model folder, a run folder's latest or best checkpoint as `checkpoint` says,
 * latest when it is not given, or a Keras `.h5` or `.hdf5` file) and returns its folded copy, which the caller disposes. A model
 * loaded here is disposed once folded (the copy keeps the weights it shares); a model object given by the caller is
 * left untouched. A `checkpoint` given for anything but a training run folder is an error: it would be ignored.
 */
export async function loadInferenceModel(
  model: string | tf.LayersModel,
  checkpoint?: CheckpointChoice,
): Promise<tf.LayersModel> {
  // A missing path is left to resolveModelDir, which names it: dropping the checkpoint would not help there.
  if (checkpoint !== undefined && (typeof model !== 'string' || (await checkpointInapplicable(model)))) {
    const what = typeof model === 'string' ? model : 'a model object';
    throw new Error(`checkpoint '${checkpoint}' applies to training run folders, and ${what} is not one: leave checkpoint out`);
  }
  const loaded = typeof model === 'string' ? await loadModel(await resolveModelDir(model, checkpoint)) : model;
  try {
    return foldBatchNorm(loaded);
  } finally {
    if (typeof model === 'string') loaded.dispose();
  }
}
