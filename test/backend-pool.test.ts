/**
 * Recycling of native kernels' output arrays (src/backend/buffer_pool.ts): arrays that only native kernels saw are
 * reused after their tensor is disposed, and arrays that anything else saw (dataSync, a CPU kernel's subarray view)
 * never are, so no value a user or a CPU kernel holds can change under it. A full pool drops the lengths used least
 * recently, and tf.memory() reports what the pool and compiled executors hold.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { BufferPool, bufferPool } from '../src/backend/buffer_pool.js';
import { compileTrainingStep, ResNet50 } from '../src/model/index.js';
import { SKIP_NATIVE } from './backend-helpers.js';

describe('onednn output buffer pool', { skip: SKIP_NATIVE }, () => {
  test('a disposed native output that nothing else read is reused by the next output of its size', async () => {
    await initBackend('onednn');
    bufferPool.clear();
    const x = tf.tensor1d([1, -2, 3, -4, 5, -6, 7, -8]);
    const y = tf.relu(x); // native output, never read from JS
    assert.equal(bufferPool.bytes, 0);
    y.dispose();
    assert.equal(bufferPool.bytes, 8 * 4, 'the array went back to the pool');
    const z = tf.neg(x); // takes it again
    assert.equal(bufferPool.bytes, 0);
    assert.deepEqual(Array.from(z.dataSync()), [-1, 2, -3, 4, -5, 6, -7, 8]);
    tf.dispose([x, z]);
  });

  test('an output read with dataSync is never reused: the array the user holds keeps its values', async () => {
    await initBackend('onednn');
    bufferPool.clear();
    const x = tf.tensor1d([1, -2, 3, -4]);
    const y = tf.relu(x);
    const held = y.dataSync();
    y.dispose();
    assert.equal(bufferPool.bytes, 0, 'an escaped array must not enter the pool');
    const others = Array.from({ length: 4 }, () => tf.neg(x));
    assert.deepEqual(Array.from(held), [1, 0, 3, 0]);
    tf.dispose([x, ...others]);
  });

  test('an output viewed by a CPU kernel (slice shares its array) is never reused', async () => {
    await initBackend('onednn');
    bufferPool.clear();
    const x = tf.tensor2d([1, -2, 3, -4, 5, -6], [3, 2]);
    const y = tf.relu(x);
    const view = tf.slice(y, [1, 0], [1, 2]); // the CPU Slice kernel may return a subarray of y's array
    y.dispose();
    const others = Array.from({ length: 4 }, () => tf.neg(x));
    assert.deepEqual(Array.from(view.dataSync()), [3, 0]);
    tf.dispose([x, view, ...others]);
  });

  test('training steps reuse arrays: pooled bytes stay bounded and numTensors stays flat', async () => {
    await initBackend('onednn');
    bufferPool.clear();
    const w = tf.variable(tf.randomNormal([3, 3, 4, 8], 0, 0.1, 'float32', 1));
    const x = tf.randomNormal([2, 9, 9, 4], 0, 1, 'float32', 2);
    const opt = tf.train.adam(0.01);
    const step = (): number => {
      const loss = opt.minimize(() => tf.mean(tf.square(tf.relu(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')))), true);
      const value = loss!.dataSync()[0];
      loss!.dispose();
      return value;
    };
    step();
    const tensors = tf.memory().numTensors;
    const first = bufferPool.bytes;
    const losses = [step(), step(), step(), step()];
    assert.equal(tf.memory().numTensors, tensors);
    assert.ok(first > 0, 'a step gives arrays back to the pool');
    assert.ok(bufferPool.bytes <= first * 2, `pool grows each step: ${first} -> ${bufferPool.bytes}`);
    assert.ok(losses[3] < losses[0], `loss decreases: ${losses.join(', ')}`);
    tf.dispose([w, x]);
    opt.dispose();
  });

  test('a full pool makes room by dropping the lengths used least recently, not the array given back', () => {
    const kib = 1024;
    const pool = new BufferPool(3 * kib); // room for three 1 KiB arrays
    const a = [pool.take(256), pool.take(256)];
    const b = pool.take(128);
    const c = [pool.take(64), pool.take(64)];
    for (const array of a) pool.give(array); // 2 KiB of length 256
    pool.give(b); // 0.5 KiB of length 128: 2.5 KiB
    assert.equal(pool.bytes, 2.5 * kib);
    assert.equal(pool.take(256), a[1], 'a recycled array comes back'); // length 256 is now the most recently used
    pool.give(a[1]);
    for (const array of c) pool.give(array); // 0.5 KiB more: exactly full
    assert.equal(pool.bytes, 3 * kib);
    const d = pool.take(512); // a new length, 2 KiB
    pool.give(d); // over the cap by 2 KiB: lengths 128 (least recent), then 256, go first
    assert.equal(pool.bytes, 2.5 * kib);
    assert.equal(pool.take(128) === b, false, 'length 128, the least recently used, was dropped');
    assert.equal(pool.take(512), d, 'the array just given back stays');
    assert.equal(pool.take(64), c[1]);
    assert.equal(pool.take(64), c[0]);
    assert.equal(pool.bytes, 0, 'of length 256, both arrays were dropped');
    const huge = pool.take(1024);
    pool.give(huge); // 4 KiB: larger than the whole pool
    assert.equal(pool.bytes, 0);
  });

  test('tf.memory() reports the pooled bytes and the arrays a compiled training step holds', async () => {
    await initBackend('onednn');
    bufferPool.clear();
    const x = tf.tensor1d([1, -2, 3, -4, 5, -6, 7, -8]);
    tf.relu(x).dispose();
    const memory = tf.memory() as tf.MemoryInfo & { numBytesInPool: number; numBytesInNativePlans: number };
    assert.equal(memory.numBytesInPool, 8 * 4);
    x.dispose();

    const before = (tf.memory() as typeof memory).numBytesInNativePlans;
    const model = ResNet50({ inputShape: [40, 40, 3], classes: 3, widthDivisor: 16 });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const step = compileTrainingStep(model, 2);
    assert.notEqual(typeof step, 'string', `compiles: ${String(step)}`);
    const held = (tf.memory() as typeof memory).numBytesInNativePlans - before;
    // At least a gradient array for every weight.
    const weightBytes = model.trainableWeights.reduce((n, w) => n + tf.util.sizeFromShape(w.shape as number[]) * 4, 0);
    assert.ok(held >= weightBytes, `the plan's arrays are counted: ${held} bytes, weights alone ${weightBytes}`);
    model.dispose();
  });
});
