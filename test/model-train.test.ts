/**
 * The models are ordinary `tf.LayersModel`s: a narrow ResNet-50 compiles, fits, evaluates and predicts like any
 * other, without leaking tensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ResNet50, ResNet18 } from '../src/model/index.js';

await tf.setBackend('cpu');
tf.env().set('IS_TEST', true);

/** A small one-hot classification set with a learnable signal: the class sets the mean of one channel. */
function dataset(n: number, size: number, classes: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  return tf.tidy(() => {
    const labels = tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), 'int32');
    const noise = tf.randomUniform([n, size, size, 3], -0.5, 0.5, 'float32', 1);
    const signal = tf.oneHot(labels, 3).reshape([n, 1, 1, 3]).mul(2);
    return { x: noise.add(signal) as tf.Tensor4D, y: tf.oneHot(labels, classes).toFloat() as tf.Tensor2D };
  });
}

test('a narrow ResNet50 compiles, fits, evaluates and predicts, without leaking tensors', async () => {
  const model = ResNet50({ inputShape: [40, 40, 3], classes: 3, widthDivisor: 32 });
  assert.ok(model instanceof tf.LayersModel);
  model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const { x, y } = dataset(8, 40, 3);

  const first = await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
  const loss = first.history.loss[0] as number;
  assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
  assert.ok(Number.isFinite(first.history.acc[0] as number));

  // After the first fit created the optimiser's slots, more training must not keep any more tensors.
  const before = tf.memory().numTensors;
  await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
  assert.equal(tf.memory().numTensors, before, 'tensors stay flat over training steps');

  const [evalLoss] = model.evaluate(x, y, { batchSize: 4 }) as tf.Scalar[];
  assert.ok(Number.isFinite(evalLoss.dataSync()[0]));
  tf.dispose(evalLoss);

  const p = model.predict(x) as tf.Tensor2D;
  assert.deepEqual(p.shape, [8, 3]);
  const sums = p.sum(1);
  for (const s of sums.dataSync()) assert.ok(Math.abs(s - 1) < 1e-5, `softmax rows sum to 1, got ${s}`);
  tf.dispose([p, sums, x, y]);
  model.dispose();
});

test('the same seed gives the same initial weights (glorot uniform, seed 0)', () => {
  const a = ResNet18({ widthDivisor: 16 });
  const b = ResNet18({ widthDivisor: 16 });
  const ka = a.getLayer('res3a_branch2a').getWeights()[0];
  const kb = b.getLayer('res3a_branch2a').getWeights()[0];
  assert.deepEqual(Array.from(ka.dataSync()), Array.from(kb.dataSync()));
  // Glorot uniform: values within +-sqrt(6 / (fan_in + fan_out)), fan = 3 * 3 * channels.
  const [k, , cin, cout] = ka.shape;
  const limit = Math.sqrt(6 / (k * k * cin + k * k * cout));
  const values = Array.from(ka.dataSync());
  assert.ok(values.every((v) => Math.abs(v) <= limit));
  assert.ok(Math.max(...values.map(Math.abs)) > limit / 2, 'spread over the range');
  a.dispose();
  b.dispose();
});
