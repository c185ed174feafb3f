/**
 * End to end: a small ResNet-50 (the project's model, filters divided by 16, 40x40x3 input) trained with Adam on
 * the onednn backend gives the same losses as on tfjs's cpu backend, step after step (relative difference <= 1e-3),
 * and its tensor count stays flat. This runs every kernel of a real training step together: padding, convolutions,
 * batch normalization in training mode (one native kernel each way), ReLU, max and average pooling, the
 * residual additions, the dense softmax layer, categorical cross-entropy and Adam's updates.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { ResNet50 } from '../src/model/index.js';
import { countNativeCalls, randomValues, SKIP_NATIVE } from './backend-helpers.js';

const STEPS = 4;
const BATCH = 4;
const SIZE = 40;
const CLASSES = 6;

/** Weights of a freshly built model, as plain arrays (so that both backends start from the same values). */
function initialWeights(): { shape: number[]; values: Float32Array }[] {
  return tf.tidy(() => {
    const model = ResNet50({ inputShape: [SIZE, SIZE, 3], classes: CLASSES, widthDivisor: 16 });
    const weights = model.getWeights().map((w) => ({ shape: w.shape, values: Float32Array.from(w.dataSync()) }));
    model.dispose();
    return weights;
  });
}

/** Trains a fresh model from `weights` for STEPS Adam steps on one seeded batch; returns the losses. */
async function train(weights: { shape: number[]; values: Float32Array }[]): Promise<{ losses: number[]; tensors: number[] }> {
  const model = ResNet50({ inputShape: [SIZE, SIZE, 3], classes: CLASSES, widthDivisor: 16 });
  const initial = weights.map((w) => tf.tensor(w.values, w.shape));
  model.setWeights(initial);
  tf.dispose(initial);
  // A small learning rate: Adam's first steps move every weight by about the learning rate whatever the size of
  // its gradient, so float rounding differences in near-zero gradients (the two backends sum in different orders)
  // become real weight differences. With 1e-2 this run is chaotic: on the cpu backend alone, scaling the initial
  // weights by 1 + 1e-6 * noise moved the third loss from 1.43 to 1.20 or 1.00 (with 1e-3 the backends already
  // differ by 8% at the fourth step; with 1e-4 by 4e-6).
  const optimizer = tf.train.adam(1e-4, 0.9, 0.999, 1e-7);
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  const x = tf.tensor4d(randomValues(BATCH * SIZE * SIZE * 3, 7), [BATCH, SIZE, SIZE, 3]);
  const y = tf.oneHot(tf.tensor1d([0, 3, 5, 1], 'int32'), CLASSES).toFloat();
  const losses: number[] = [];
  const tensors: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    losses.push((await model.trainOnBatch(x, y)) as number);
    tensors.push(tf.memory().numTensors);
  }
  tf.dispose([x, y]);
  model.dispose();
  optimizer.dispose();
  return { losses, tensors };
}

describe('a small ResNet-50 trains the same on onednn as on cpu', { skip: SKIP_NATIVE }, () => {
  test(`${STEPS} Adam steps: same losses (relative 1e-3), flat tensor count, native kernels in use`, async (t) => {
    await initBackend('cpu');
    const weights = initialWeights();
    const cpu = await train(weights);

    await initBackend('onednn');
    let native!: Awaited<ReturnType<typeof train>>;
    const calls = await countNativeCalls(async () => {
      native = await train(weights);
    });

    t.diagnostic(`losses cpu ${cpu.losses.join(', ')}; onednn ${native.losses.join(', ')}`);
    for (let i = 0; i < STEPS; i++) {
      const rel = Math.abs(native.losses[i] - cpu.losses[i]) / Math.abs(cpu.losses[i]);
      assert.ok(rel <= 1e-3, `step ${i}: loss ${native.losses[i]} on onednn, ${cpu.losses[i]} on cpu (relative ${rel})`);
    }
    // Training does something: the loss falls over the steps on one repeated batch.
    assert.ok(cpu.losses[STEPS - 1] < cpu.losses[0], `losses ${cpu.losses}`);
    // Once Adam's slots exist (after the first step), every step leaves the same number of tensors.
    assert.deepEqual(native.tensors.slice(1), new Array(STEPS - 1).fill(native.tensors[1]), `tensors ${native.tensors}`);
    for (const fn of ['conv2dForward', 'conv2dBackwardData', 'conv2dBackwardWeights', 'batchNormTraining', 'batchNormTrainingGrad',
      'binary', 'unary', 'reduce', 'pool', 'maxPoolGrad', 'avgPoolGrad', 'pad']) {
      assert.ok((calls[fn] ?? 0) > 0, `${fn} was called`);
    }
  });
});
