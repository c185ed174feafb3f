/**
 * The onednn backend's pooling kernels (MaxPool, AvgPool and their gradients) and constant padding (PadV2) against
 * tfjs's CPU kernels on seeded random data: 'same' and 'valid' padding, strides 1 and 2, odd sizes, batch 1, ties
 * (ReLU outputs full of zeros, constant inputs: the max gradient must pick the same cell as tfjs), and fallbacks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { assertClose, countNativeCalls, onBoth, rand, SKIP_NATIVE } from './backend-helpers.js';

type Pad = 'same' | 'valid' | number;

interface PoolCase {
  name: string;
  x: [number, number, number, number];
  filter: number | [number, number];
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /**
   * tfjs's gradients drop dimRoundingMode, so dy has the rounded output's shape while the gradient kernels compute
   * the floor one: such mismatches run on the CPU kernels (whatever they make of it).
   */
  gradFallsBack?: boolean;
}

const CASES: PoolCase[] = [
  { name: '3x3, stride 2, valid (the ResNet stem)', x: [2, 15, 15, 8], filter: 3, strides: 2, pad: 'valid' },
  { name: '3x3, stride 2, same, odd sizes, batch 1', x: [1, 7, 9, 3], filter: 3, strides: 2, pad: 'same' },
  { name: '2x2, stride 2, valid (the ResNet top)', x: [3, 4, 4, 5], filter: 2, strides: 2, pad: 'valid' },
  { name: '2x2, stride 1, same', x: [2, 5, 6, 3], filter: 2, strides: 1, pad: 'same' },
  { name: '3x2 window, strides [1, 2], same', x: [2, 6, 7, 4], filter: [3, 2], strides: [1, 2], pad: 'same' },
  { name: '1x1, stride 1 (identity)', x: [2, 3, 3, 2], filter: 1, strides: 1, pad: 'valid' },
  { name: 'more than one block of channels', x: [2, 6, 6, 130], filter: 3, strides: 2, pad: 'same' },
  {
    name: 'numeric pad 1 with ceil rounding',
    x: [1, 8, 8, 3],
    filter: 3,
    strides: 2,
    pad: 1,
    dimRoundingMode: 'ceil',
    gradFallsBack: true,
  },
  { name: 'large (multi-threaded)', x: [4, 32, 32, 32], filter: 3, strides: 2, pad: 'same' },
];

const maxPool = (c: PoolCase, x: tf.Tensor) => tf.maxPool(x as tf.Tensor4D, c.filter, c.strides, c.pad, c.dimRoundingMode);
const avgPool = (c: PoolCase, x: tf.Tensor) => tf.avgPool(x as tf.Tensor4D, c.filter, c.strides, c.pad, c.dimRoundingMode);

describe('onednn pooling and padding kernels match the tfjs cpu kernels', { skip: SKIP_NATIVE }, () => {
  CASES.forEach((c, idx) => {
    const seed = 100 * (idx + 1);
    test(`${c.name}: max and average pooling, forward and gradients`, async () => {
      let result!: Awaited<ReturnType<typeof onBoth>>;
      const calls = await countNativeCalls(async () => {
        result = await onBoth(() => {
          const x = rand(c.x, seed);
          const r = rand(maxPool(c, x).shape, seed + 1);
          return [
            maxPool(c, x),
            avgPool(c, x),
            tf.grad((t: tf.Tensor) => tf.sum(tf.mul(maxPool(c, t), r)))(x),
            tf.grad((t: tf.Tensor) => tf.sum(tf.mul(avgPool(c, t), r)))(x),
          ];
        });
      });
      assertClose(result.native, result.cpu, c.name);
      // One pool for r's shape, two results, two more in the gradients' forward passes.
      assert.equal(calls.pool, 5, 'pooling ran natively');
      const gradCalls = c.gradFallsBack ? 0 : 1;
      assert.equal(calls.maxPoolGrad ?? 0, gradCalls, 'max pooling gradient ran natively unless it falls back');
      assert.equal(calls.avgPoolGrad ?? 0, gradCalls, 'average pooling gradient ran natively unless it falls back');
    });
  });

  test('ties: the max pooling gradient goes to the same cell as on cpu', async () => {
    for (const c of [CASES[0], CASES[1], CASES[3]]) {
      const { native, cpu } = await onBoth(() => {
        // ReLU of random values: a quarter of the windows are all zeros; a constant input ties everywhere.
        const relu = tf.relu(tf.sub(rand(c.x, 7), 0.5));
        const constant = tf.fill(c.x, 0.25);
        const r = rand(maxPool(c, relu).shape, 8);
        const g = (x: tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(maxPool(c, t), r)))(x);
        return [g(relu), g(constant)];
      });
      assertClose(native, cpu, `ties, ${c.name}`);
      // Independent check: each window's gradient lands on one cell, so dx sums to the sum of r.
      const rSum = cpu.values[1].reduce((s, v) => s + v, 0);
      const nSum = native.values[1].reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(rSum - nSum) < 1e-3);
    }
  });

  test('average pooling: values by hand, including the cells outside the input under same padding', async () => {
    await initBackend('onednn');
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const y = tf.avgPool(x, 2, 2, 'same');
    // Windows [[1,2],[4,5]], [[3],[6]], [[7,8]], [[9]], each divided by its cells inside the input.
    assert.deepEqual(Array.from(y.dataSync()), [3, 4.5, 7.5, 9]);
    // The gradient divides by the full window (4) everywhere, as tfjs's AvgPoolGrad does.
    const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.avgPool(t as tf.Tensor4D, 2, 2, 'same')))(x);
    assert.deepEqual(Array.from(dx.dataSync()), new Array(9).fill(0.25));
    tf.dispose([x, y, dx]);
  });

  test('PadV2: NHWC spatial padding, every axis padded, other values, ranks 1 to 5, and its gradient', async () => {
    let result!: Awaited<ReturnType<typeof onBoth>>;
    const calls = await countNativeCalls(async () => {
      result = await onBoth(() => {
        const x = rand([2, 5, 4, 3], 50);
        return [
          tf.pad(x, [[0, 0], [3, 3], [3, 3], [0, 0]]),
          tf.pad(x, [[1, 0], [0, 2], [1, 1], [2, 3]], 2.5),
          tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, 0]]),
          tf.pad(rand([7], 51), [[2, 5]], -1),
          tf.pad(rand([2, 3, 2, 3, 2], 52), [[0, 1], [1, 0], [0, 0], [2, 0], [0, 1]]),
          tf.pad(rand([64, 40, 40, 3], 53), [[0, 0], [3, 3], [3, 3], [0, 0]]),
          tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.pad(t, [[0, 0], [1, 2], [2, 1], [0, 0]]), 3)))(x),
        ];
      });
    });
    assertClose(result.native, result.cpu, 'pad');
    assert.equal(calls.pad, 7, 'every pad ran natively');
  });

  test('int32 pooling input and int32 padding fall back to the cpu kernels', async () => {
    let result!: Awaited<ReturnType<typeof onBoth>>;
    const calls = await countNativeCalls(async () => {
      result = await onBoth(() => {
        const ints = tf.tensor4d([1, 5, 2, 7, 3, 0, 9, 4, 6], [1, 3, 3, 1], 'int32');
        return [
          tf.cast(tf.pad(ints, [[0, 0], [1, 1], [0, 0], [0, 0]], 8), 'float32'),
          tf.cast(tf.maxPool(ints, 2, 1, 'valid'), 'float32'),
        ];
      });
    });
    assertClose(result.native, result.cpu, 'fallbacks');
    assert.deepEqual(Array.from(result.native.values[1]), [7, 5, 9, 6]);
    assert.equal(calls.pad ?? 0, 0);
    assert.equal(calls.pool ?? 0, 0);
  });

  test('no tensors leak over repeated pooling forward/backward passes', async () => {
    await initBackend('onednn');
    const w = tf.variable(rand([4], 60));
    const x = rand([2, 9, 9, 4], 61);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => {
        const y = tf.pad(tf.mul(x, w), [[0, 0], [1, 1], [1, 1], [0, 0]]) as tf.Tensor4D;
        return tf.add(tf.sum(tf.maxPool(y, 3, 2, 'valid')), tf.sum(tf.avgPool(y, 2, 2, 'same')));
      });
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) step();
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([w, x]);
  });
});
