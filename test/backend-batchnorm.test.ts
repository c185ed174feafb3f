/**
 * The onednn backend's batch normalization: the FusedBatchNorm kernel and the native FusedBatchNorm gradient
 * (OnednnBatchNormGrad, registered over tfjs's gradient) against tfjs's CPU kernel and tfjs's own gradient on
 * seeded random data. The gradients of all five inputs are compared, directly and through tf.moments as
 * BatchNormalization layers use it in training; parameter shapes the native code does not take must give tfjs's
 * results through the fallbacks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { assertClose, countNativeCalls, onBoth, rand, SKIP_NATIVE } from './backend-helpers.js';

/** Positive variances in [0.2, 1.8). */
const variances = (shape: number[], seed: number): tf.Tensor => tf.tidy(() => tf.add(rand(shape, seed, 0.8), 1));

const SHAPES: { name: string; x: number[] }[] = [
  { name: 'odd sizes', x: [3, 5, 7, 6] },
  { name: 'batch 1', x: [1, 4, 4, 3] },
  { name: '2-D input [N, C]', x: [10, 7] },
  { name: 'one channel', x: [2, 3, 3, 1] },
  { name: 'large (multi-threaded)', x: [8, 16, 16, 32] },
];

describe('onednn batch normalization matches tfjs cpu', { skip: SKIP_NATIVE }, () => {
  SHAPES.forEach((s, idx) => {
    const seed = 100 * (idx + 1);
    const c = s.x[s.x.length - 1];
    test(`${s.name}: forward with and without offset and scale, epsilon 1e-3 and 1e-5`, async () => {
      let result!: Awaited<ReturnType<typeof onBoth>>;
      const calls = await countNativeCalls(async () => {
        result = await onBoth(() => {
          const x = rand(s.x, seed, 3);
          const mean = rand([c], seed + 1);
          const variance = variances([c], seed + 2);
          const offset = rand([c], seed + 3);
          const scale = rand([c], seed + 4, 2);
          return [
            tf.batchNorm(x, mean, variance, offset, scale),
            tf.batchNorm(x, mean, variance, offset, scale, 1e-5),
            tf.batchNorm(x, mean, variance),
            tf.batchNorm(x, mean, variance, undefined, scale),
          ];
        });
      });
      assertClose(result.native, result.cpu, 'forward');
      assert.equal(calls.batchNorm, 4, 'every batch norm ran natively');
    });

    test(`${s.name}: gradients of x, mean, variance, offset and scale (native gradient kernel)`, async () => {
      let result!: Awaited<ReturnType<typeof onBoth>>;
      const calls = await countNativeCalls(async () => {
        result = await onBoth(() => {
          const x = rand(s.x, seed + 5, 3);
          const mean = rand([c], seed + 6);
          const variance = variances([c], seed + 7);
          const offset = rand([c], seed + 8);
          const scale = rand([c], seed + 9, 2);
          const r = rand(s.x, seed + 10);
          return tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, sc: tf.Tensor) =>
            tf.sum(tf.mul(tf.batchNorm(a, m, v, o, sc), r)))([x, mean, variance, offset, scale]);
        });
      });
      assertClose(result.native, result.cpu, 'gradients');
      assert.equal(calls.batchNormGrad, 1, 'the gradient ran as one native kernel');
    });
  });

  test('gradient through tf.moments, as BatchNormalization layers train', async () => {
    let result!: Awaited<ReturnType<typeof onBoth>>;
    const calls = await countNativeCalls(async () => {
      result = await onBoth(() => {
        const x = rand([4, 6, 5, 8], 7, 2);
        const gamma = rand([8], 8, 2);
        const beta = rand([8], 9);
        const r = rand([4, 6, 5, 8], 10);
        return tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
          const { mean, variance } = tf.moments(a, [0, 1, 2]);
          return tf.sum(tf.mul(tf.batchNorm(a, mean, variance, b, g, 1e-3), r));
        })([x, gamma, beta]);
      });
    });
    assertClose(result.native, result.cpu, 'gradients through moments');
    assert.equal(calls.batchNormGrad, 1);
    // Independent check: with batch statistics, the output's sum over the reduced axes does not depend on x, so
    // the gradient of sum(batchNorm(x)) with respect to x is ~0, and the gradient of beta is N*H*W per channel.
    const { native } = await onBoth(() => {
      const x = rand([4, 6, 5, 8], 11, 2);
      const gamma = rand([8], 12, 2);
      const beta = rand([8], 13);
      return tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(a, [0, 1, 2]);
        return tf.sum(tf.batchNorm(a, mean, variance, b, g, 1e-3));
      })([x, gamma, beta]);
    });
    assert.ok(native.values[0].every((v) => Math.abs(v) < 1e-4), 'd sum / dx = 0');
    assert.ok(native.values[2].every((v) => v === 4 * 6 * 5), 'd sum / d beta = N*H*W');
  });

  test('a gradient of the batch-norm gradient uses tfjs ops and matches cpu', async () => {
    const { native, cpu } = await onBoth(() => {
      const x = rand([2, 3, 3, 4], 14, 2);
      const mean = rand([4], 15);
      const variance = variances([4], 16);
      const offset = rand([4], 19);
      const scale = rand([4], 17);
      const r = rand([2, 3, 3, 4], 18);
      return tf.grads((a: tf.Tensor, sc: tf.Tensor) => {
        const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(tf.batchNorm(t, mean, variance, offset, sc)), r)))(a);
        return tf.sum(tf.mul(dx, r));
      })([x, scale]);
    });
    assertClose(native, cpu, 'second-order');
  });

  test('parameters as large as x fall back to the cpu kernel and to tfjs gradient', async () => {
    let result!: Awaited<ReturnType<typeof onBoth>>;
    const calls = await countNativeCalls(async () => {
      result = await onBoth(() => {
        const shape = [2, 3, 3, 4];
        const x = rand(shape, 20);
        const mean = rand(shape, 21);
        const variance = variances(shape, 22);
        const offset = rand(shape, 23);
        const scale = rand(shape, 24);
        const y = tf.batchNorm(x, mean, variance, offset, scale);
        const grads = tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, sc: tf.Tensor) =>
          tf.sum(tf.square(tf.batchNorm(a, m, v, o, sc))))([x, mean, variance, offset, scale]);
        return [y, ...grads];
      });
    });
    assertClose(result.native, result.cpu, 'full-size parameters');
    assert.equal(calls.batchNorm ?? 0, 0, 'forward fell back');
    assert.equal(calls.batchNormGrad ?? 0, 0, 'gradient used tfjs');
  });

  test('the gradient override gives tfjs gradients when the cpu backend is active', async () => {
    // Same computation on cpu with the override registered, and computed by hand from tfjs's formulas.
    await initBackend('onednn'); // registers the override
    await initBackend('cpu');
    const [dx, dMean, dVariance, dOffset, dScale] = tf.tidy(() => {
      const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
      const mean = tf.tensor1d([2, 3]);
      const variance = tf.tensor1d([1, 3]);
      const offset = tf.tensor1d([0.5, -0.5]);
      const scale = tf.tensor1d([2, -1]);
      return tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
        tf.sum(tf.batchNorm(a, m, v, o, s, 1)))([x, mean, variance, offset, scale]).map((t) => t.arraySync());
    });
    // r = 1/sqrt(variance + 1) = [1/sqrt(2), 1/2]; dy = 1.
    const r = [1 / Math.sqrt(2), 0.5];
    const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;
    const xs = [[1, 2], [3, 4], [5, 6]];
    assert.ok((dx as number[][]).every((row) => near(row[0], r[0] * 2) && near(row[1], r[1] * -1)), 'dx');
    assert.ok(near((dMean as number[])[0], -3 * r[0] * 2) && near((dMean as number[])[1], -3 * r[1] * -1), 'dMean');
    const sumXm = [xs.reduce((s, row) => s + row[0] - 2, 0), xs.reduce((s, row) => s + row[1] - 3, 0)];
    assert.ok(near((dVariance as number[])[0], -0.5 * r[0] ** 3 * 2 * sumXm[0]), 'dVariance');
    assert.ok(near((dScale as number[])[1], r[1] * sumXm[1]), 'dScale');
    assert.deepEqual(dOffset, [3, 3]);
  });

  test('no tensors leak over repeated batch-norm training steps', async () => {
    await initBackend('onednn');
    const gamma = tf.variable(rand([6], 30));
    const beta = tf.variable(rand([6], 31));
    const x = rand([4, 5, 5, 6], 32);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        return tf.sum(tf.relu(tf.batchNorm(x, mean, variance, beta, gamma)));
      });
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) step();
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([gamma, beta, x]);
  });
});
