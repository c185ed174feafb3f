/**
 * Prediction on image files: the top-k classes of each image with their probabilities, in inference mode.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from '../backend/index.js';
import { loadImages } from '../data/index.js';
import type { CheckpointChoice } from './checkpoint.js';
import { loadInferenceModel } from './inference.js';
import { modelClassCount, modelInputShape, modelMetadata } from './io.js';

/** One class and its probability. */
export interface ClassScore {
  /** Class name (from the model's metadata; the index as text when it has none). */
  class: string;
  /** Output index of the class. */
  index: number;
  /** Softmax probability. */
  probability: number;
}

/** The prediction for one image. */
export interface Prediction {
  /** The image file. */
  file: string;
  /** The `topK` most probable classes, most probable first. */
  top: ClassScore[];
}

/** Options of {@link predict}. */
export interface PredictOptions {
  /** A saved model folder (`model.json`), a training run folder (its latest checkpoint), or a loaded model. */
  model: string | tf.LayersModel;
  /** For a training run folder: its latest checkpoint (default) or its best by validation loss. */
  checkpoint?: CheckpointChoice;
  /** Image files (JPEG, PNG, WebP), resized to the model's input shape. */
  images: string[];
  /** How many classes to report per image (default 3, at most the number of classes). */
  topK?: number;
  /** Images per forward pass (default 32). */
  batchSize?: number;
  /** Backend to initialize first (default: leave the current one). */
  backend?: BackendChoice;
}

/**
 * Predicts the top-k classes of each image. A file that is missing or not an image is an error naming the file.
 * A model given by path is loaded and disposed here; a model given as an object is left to the caller. Either way the
 * model runs with its BatchNorms folded ({@link loadInferenceModel}).
 */
export async function predict(options: PredictOptions): Promise<Prediction[]> {
  if (options.images.length === 0) throw new Error('no images to predict');
  if (options.backend !== undefined) await initBackend(options.backend);
  const model = await loadInferenceModel(options.model, options.checkpoint);
  try {
    const shape = modelInputShape(model);
    const n = modelClassCount(model);
    const names = modelMetadata(model).classes;
    const k = Math.min(options.topK ?? 3, n);
    const batchSize = options.batchSize ?? 32;
    const results: Prediction[] = [];
    for (let start = 0; start < options.images.length; start += batchSize) {
      const files = options.images.slice(start, start + batchSize);
      const xs = await loadImages(files, shape);
      const { values, indices } = tf.tidy(() => tf.topk(model.predict(xs) as tf.Tensor2D, k));
      xs.dispose();
      const [v, ix] = await Promise.all([values.data(), indices.data()]);
      tf.dispose([values, indices]);
      files.forEach((file, i) => {
        const top: ClassScore[] = [];
        for (let j = 0; j < k; j++) {
          const index = ix[i * k + j];
          top.push({ class: names?.[index] ?? String(index), index, probability: v[i * k + j] });
        }
        results.push({ file, top });
      });
    }
    return results;
  } finally {
    model.dispose();
  }
}
