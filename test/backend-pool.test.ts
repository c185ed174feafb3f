/**
 * Recycling of native kernels' output arrays (src/backend/buffer_pool.ts): arrays that only native kernels saw are
 * reused after their tensor is disposed, and arrays that anything else saw (dataSync, a CPU kernel's subarray view)
 * never are, so no value a user or a CPU kernel holds can change under it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { bufferPool } from '../src/backend/buffer_pool.js';
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
});
