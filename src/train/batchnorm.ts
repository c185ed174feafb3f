/**
 * "Precise BatchNorm": re-estimating BatchNorm's moving statistics from the trained weights.
 *
 * In training, each BatchNormalization layer keeps an exponential moving average of the batch means and variances
 * (momentum 0.99, the Keras default), and inference uses those averages. After only a few hundred steps the averages
 * still carry much of their initial values (0.99^300 ≈ 5%) and of statistics from early weights, so inference-mode
 * accuracy lags far behind training accuracy: the effect behind the course's low test accuracy after 2 epochs.
 *
 * {@link recalibrateBatchNorm} replaces them with plain averages over a few batches computed with the current
 * weights: forward passes in training mode with momentum `k / (k + 1)` at batch `k`, which makes each moving value
 * the mean of the batch values seen. No weight is changed.
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/index.js';

/** A BatchNormalization layer, with the momentum tfjs reads at each training-mode call. */
interface BatchNormLayer {
  momentum: number;
}

/** The model's BatchNormalization layers. */
function batchNormLayers(model: tf.LayersModel): (tf.layers.Layer & BatchNormLayer)[] {
  return model.layers.filter((l) => l.getClassName() === 'BatchNormalization') as unknown as (tf.layers.Layer & BatchNormLayer)[];
}

/** Options of {@link recalibrateBatchNorm}. */
export interface RecalibrateOptions {
  /** How many batches to average over. */
  batches: number;
  /** Images per batch. */
  batchSize: number;
  /** Visit the data in a seeded random order (default true). */
  shuffle?: boolean;
  /** Seed and epoch of that order. */
  seed?: number;
  epoch?: number;
}

/**
 * Sets every BatchNormalization layer's moving mean and variance to the average of the batch means and variances over
 * the first `batches` batches of `data`, computed with the model's current weights. Returns the number of batches
 * used (fewer if the data set is smaller). The layers' momentum is restored afterwards.
 */
export async function recalibrateBatchNorm(model: tf.LayersModel, data: Dataset, options: RecalibrateOptions): Promise<number> {
  const layers = batchNormLayers(model);
  if (layers.length === 0 || options.batches <= 0) return 0;
  const saved = layers.map((l) => l.momentum);
  let k = 0;
  try {
    const batches = data.batches({ batchSize: options.batchSize, shuffle: options.shuffle ?? true, seed: options.seed, epoch: options.epoch });
    for await (const { xs, ys } of batches) {
      try {
        for (const l of layers) l.momentum = k / (k + 1);
        tf.tidy(() => {
          model.apply(xs, { training: true });
        });
      } finally {
        tf.dispose([xs, ys]);
      }
      if (++k >= options.batches) break;
    }
  } finally {
    layers.forEach((l, i) => (l.momentum = saved[i]));
  }
  return k;
}
