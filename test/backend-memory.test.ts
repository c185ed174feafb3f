/**
 * Memory over a long training run on the onednn backend: tf.memory().numTensors and the process's resident memory
 * stay flat over 50 training steps of a small ResNet-50, through tfjs-layers' trainOnBatch and through the compiled
 * training step (native buffers and cached filter copies are freed with their tensors, recycled output arrays do not
 * pile up, and the compiled step's buffers are made once).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { CompiledTrainer, ResNet50 } from '../src/model/index.js';
import { SKIP_NATIVE } from './backend-helpers.js';

/** A full garbage collection, so that RSS measures what is live rather than where V8's GC cycle happens to be. */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

for (const path of ['trainOnBatch', 'the compiled step'] as const) test(`numTensors and RSS stay flat over 50 training steps on onednn, through ${path}`, { skip: SKIP_NATIVE }, async (t) => {
  await initBackend('onednn');
  const model = ResNet50({ inputShape: [40, 40, 3], classes: 6, widthDivisor: 8 });
  model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const xs = tf.randomUniform([8, 40, 40, 3], 0, 1, 'float32', 1);
  const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 0, 1], 'int32'), 6).toFloat();
  const trainer = new CompiledTrainer(model);
  if (path === 'the compiled step') assert.ok(typeof trainer.stepFor(8) !== 'string', 'it compiles');
  const tensors: number[] = [];
  const dataIds: number[] = [];
  const rss: number[] = [];
  for (let step = 1; step <= 50; step++) {
    if (path === 'trainOnBatch') await model.trainOnBatch(xs, ys);
    else await trainer.trainOnBatch(xs, ys);
    tensors.push(tf.memory().numTensors);
    dataIds.push(tf.engine().backend.numDataIds());
    if (step % 10 === 0) gc();
    rss.push(process.memoryUsage.rss());
  }
  // After the first step (which creates Adam's slots), the tensor count never changes.
  assert.ok(tensors.slice(1).every((n) => n === tensors[1]), `numTensors changed: ${tensors.join(',')}`);
  // And so does the backend's count of data it holds.
  assert.ok(dataIds.slice(1).every((n) => n === dataIds[1]), `numDataIds changed: ${dataIds.join(',')}`);
  // Resident memory after a GC, after 10 warm-up steps versus after 50: no growth beyond noise (16 MiB or 5%).
  const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
  const growth = rss[49] - rss[9];
  t.diagnostic(`RSS after GC: step 10 ${mib(rss[9])} MiB, step 50 ${mib(rss[49])} MiB`);
  assert.ok(growth < Math.max(16 * 2 ** 20, 0.05 * rss[9]), `RSS grew from ${mib(rss[9])} to ${mib(rss[49])} MiB`);
  tf.dispose([xs, ys]);
  model.dispose();
});

test('native kernels pass tfjs\'s own per-kernel leak check (IS_TEST) and hold no data after dispose', { skip: SKIP_NATIVE }, async () => {
  await initBackend('onednn');
  const wasTest = tf.env().getBool('IS_TEST');
  tf.env().set('IS_TEST', true); // the engine then checks every kernel's count of data ids against its outputs
  try {
    const a = tf.randomUniform([2, 9, 9, 8], -1, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, 8, 4], -1, 1, 'float32', 2) as tf.Tensor4D;
    const before = tf.engine().backend.numDataIds();
    for (let i = 0; i < 20; i++) {
      tf.tidy(() => {
        const y = tf.relu(tf.add(tf.mul(a, a), tf.sub(a, 0.5))) as tf.Tensor4D;
        const c = tf.conv2d(y, w, 1, 'same');
        const g = tf.grad((x) => tf.maxPool(tf.conv2d(x as tf.Tensor4D, w, 2, 'valid'), 2, 2, 'valid').sum())(y);
        return tf.sum(c).add(tf.sum(g));
      }).dispose();
    }
    assert.equal(tf.engine().backend.numDataIds(), before);
    tf.dispose([a, w]);
  } finally {
    tf.env().set('IS_TEST', wasTest);
  }
});

test('a synchronous loop whose native outputs are read (never recycled) holds no more memory than a collection frees', { skip: SKIP_NATIVE }, async () => {
  // Read outputs cannot go back to the pool; they must be freed by garbage collection alone, with no turn of the event
  // loop in between (external memory, such as the addon's aligned buffers, is released only on such a turn).
  await initBackend('onednn');
  const x = tf.randomUniform([8, 64, 64, 16], -1, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomUniform([3, 3, 16, 16], -1, 1, 'float32', 2) as tf.Tensor4D;
  gc();
  const before = process.memoryUsage.rss();
  for (let i = 1; i <= 300; i++) {
    const y = tf.conv2d(x, w, 1, 'same'); // 2 MiB
    y.dataSync();
    y.dispose();
    if (i % 50 === 0) gc();
  }
  const growth = process.memoryUsage.rss() - before;
  assert.ok(growth < 200 * 2 ** 20, `RSS grew by ${(growth / 2 ** 20).toFixed(0)} MiB over 300 read outputs of 2 MiB`);
  tf.dispose([x, w]);
});
