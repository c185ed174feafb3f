/**
 * BatchNorm modes: evaluation and prediction normalize with the moving mean and variance (inference mode), training
 * steps with the statistics of the batch (training mode), which also moves the moving averages. Expected values are
 * computed by hand with plain arithmetic from the known BatchNorm weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend } from '../src/backend/index.js';
import { MemorySource, SourceDataset } from '../src/data/index.js';
import { compileForTraining, evaluateModel, predict, recalibrateBatchNorm } from '../src/train/index.js';
import { TEST_BACKEND, tempDir } from './train-fixtures.js';

const EPS = 1e-3; // tfjs BatchNormalization's default epsilon
const MOMENTUM = 0.99; // and its default momentum
const GAMMA = [1.5, 0.5, 2];
const BETA = [0.1, -0.2, 0.3];
const MOVING_MEAN = [0.2, 0.5, 0.7];
const MOVING_VAR = [0.04, 0.25, 0.01];
/** Two 1x1 RGB images, as bytes, and their labels. */
const PIXELS = [
  [51, 204, 102],
  [153, 0, 255],
];
const LABELS = [0, 2];

/** input [1,1,3] → BatchNormalization → flatten → softmax: three "classes", one per channel. */
function bnModel(): tf.LayersModel {
  const input = tf.input({ shape: [1, 1, 3] });
  const bn = tf.layers.batchNormalization({ axis: 3, name: 'bn' }).apply(input) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(bn) as tf.SymbolicTensor;
  const out = tf.layers.activation({ activation: 'softmax' }).apply(flat) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  model.getLayer('bn').setWeights([tf.tensor1d(GAMMA), tf.tensor1d(BETA), tf.tensor1d(MOVING_MEAN), tf.tensor1d(MOVING_VAR)]);
  return model;
}

function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Inputs in [0, 1] as the data layer delivers them. */
const X = PIXELS.map((p) => p.map((v) => v / 255));

/** Hand-computed inference-mode output: normalization with the moving statistics. */
const INFERENCE = X.map((x) => softmax(x.map((v, c) => (GAMMA[c] * (v - MOVING_MEAN[c])) / Math.sqrt(MOVING_VAR[c] + EPS) + BETA[c])));

/** Batch statistics of the two images, per channel (biased variance, as tf.moments). */
const BATCH_MEAN = [0, 1, 2].map((c) => (X[0][c] + X[1][c]) / 2);
const BATCH_VAR = [0, 1, 2].map((c) => ((X[0][c] - BATCH_MEAN[c]) ** 2 + (X[1][c] - BATCH_MEAN[c]) ** 2) / 2);
const TRAINING = X.map((x) => softmax(x.map((v, c) => (GAMMA[c] * (v - BATCH_MEAN[c])) / Math.sqrt(BATCH_VAR[c] + EPS) + BETA[c])));

function assertClose(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

test('BatchNorm: predict() on image files uses the moving statistics', async () => {
  await initBackend(TEST_BACKEND);
  const { dir, cleanup } = tempDir();
  const model = bnModel();
  try {
    const files = await Promise.all(
      PIXELS.map(async (p, i) => {
        const file = join(dir, `img${i}.png`);
        await sharp(Buffer.from(p), { raw: { width: 1, height: 1, channels: 3 } }).png().toFile(file);
        return file;
      }),
    );
    const results = await predict({ model, images: files, topK: 3 });
    results.forEach((r, i) => {
      assert.equal(r.file, files[i]);
      const probs = [0, 0, 0];
      for (const t of r.top) probs[t.index] = t.probability;
      assertClose(probs, INFERENCE[i], 1e-5, `image ${i}`);
      // And it is not what batch statistics would give.
      assert.ok(Math.abs(probs[0] - TRAINING[i][0]) > 1e-2, 'inference differs from training mode');
    });
  } finally {
    model.dispose();
    cleanup();
  }
});

test('BatchNorm: evaluation uses the moving statistics; a training forward pass and trainOnBatch use the batch', async () => {
  await initBackend(TEST_BACKEND);
  const model = bnModel();
  const xs = tf.tensor4d(X.flat(), [2, 1, 1, 3]);
  try {
    // evaluateModel (evaluate's and validation's path): loss from inference-mode probabilities.
    const source = new MemorySource('two', ['a', 'b', 'c'], [1, 1, 3], Int32Array.from(LABELS), Uint8Array.from(PIXELS.flat()), [1, 1, 3]);
    const data = new SourceDataset(source, Int32Array.from([0, 1]));
    const ev = await evaluateModel(model, data, 2);
    const expectedLoss = -(Math.log(INFERENCE[0][LABELS[0]]) + Math.log(INFERENCE[1][LABELS[1]])) / 2;
    assert.ok(Math.abs(ev.loss - expectedLoss) < 1e-5, `loss ${ev.loss} vs ${expectedLoss}`);
    const argmax = INFERENCE.map((p) => p.indexOf(Math.max(...p)));
    assert.equal(ev.accuracy, argmax.filter((a, i) => a === LABELS[i]).length / 2);

    // A training-mode forward pass normalizes with the batch's mean and variance.
    const trained = model.apply(xs, { training: true }) as tf.Tensor;
    assertClose(await trained.data(), TRAINING.flat(), 1e-5, 'training-mode output');
    trained.dispose();

    // trainOnBatch (train's step) runs in training mode: the moving averages move towards the batch statistics.
    model.getLayer('bn').setWeights([tf.tensor1d(GAMMA), tf.tensor1d(BETA), tf.tensor1d(MOVING_MEAN), tf.tensor1d(MOVING_VAR)]);
    const optimizer = compileForTraining(model, 'sgd', 1e-9);
    const ys = tf.oneHot(tf.tensor1d(LABELS, 'int32'), 3).toFloat();
    await model.trainOnBatch(xs, ys);
    ys.dispose();
    optimizer.dispose();
    const [, , movingMean, movingVar] = model.getLayer('bn').getWeights();
    assertClose(await movingMean.data(), MOVING_MEAN.map((m, c) => m - (m - BATCH_MEAN[c]) * (1 - MOMENTUM)), 1e-6, 'moving mean');
    assertClose(await movingVar.data(), MOVING_VAR.map((v, c) => v - (v - BATCH_VAR[c]) * (1 - MOMENTUM)), 1e-6, 'moving variance');
  } finally {
    xs.dispose();
    model.dispose();
  }
});

test('recalibrateBatchNorm: moving statistics become the average of the batch statistics; momentum is restored', async () => {
  await initBackend(TEST_BACKEND);
  const model = bnModel();
  // Six 1x1 RGB images in three batches of two (data set order).
  const pixels = [
    [10, 200, 30],
    [90, 40, 250],
    [0, 255, 128],
    [60, 60, 60],
    [255, 0, 17],
    [123, 77, 201],
  ];
  const source = new MemorySource('six', ['a', 'b', 'c'], [1, 1, 3], Int32Array.from([0, 1, 2, 0, 1, 2]), Uint8Array.from(pixels.flat()), [1, 1, 3]);
  const data = new SourceDataset(source, Int32Array.from([0, 1, 2, 3, 4, 5]));
  try {
    const used = await recalibrateBatchNorm(model, data, { batches: 3, batchSize: 2, shuffle: false });
    assert.equal(used, 3);
    const x = pixels.map((p) => p.map((v) => v / 255));
    const expectedMean = [0, 1, 2].map((c) => [0, 2, 4].reduce((a, b) => a + (x[b][c] + x[b + 1][c]) / 2, 0) / 3);
    const expectedVar = [0, 1, 2].map(
      (c) =>
        [0, 2, 4].reduce((a, b) => {
          const m = (x[b][c] + x[b + 1][c]) / 2;
          return a + ((x[b][c] - m) ** 2 + (x[b + 1][c] - m) ** 2) / 2;
        }, 0) / 3,
    );
    const [gamma, beta, movingMean, movingVar] = model.getLayer('bn').getWeights();
    assertClose(await movingMean.data(), expectedMean, 1e-6, 'moving mean');
    assertClose(await movingVar.data(), expectedVar, 1e-6, 'moving variance');
    assert.deepEqual(Array.from(await gamma.data()), Array.from(Float32Array.from(GAMMA)), 'gamma unchanged');
    assert.deepEqual(Array.from(await beta.data()), Array.from(Float32Array.from(BETA)), 'beta unchanged');
    assert.equal((model.getLayer('bn') as unknown as { momentum: number }).momentum, MOMENTUM);
    // Asking for more batches than there are uses what there is.
    assert.equal(await recalibrateBatchNorm(model, data, { batches: 10, batchSize: 4, shuffle: false }), 2);
  } finally {
    model.dispose();
  }
});
