/**
 * The onednn backend's reductions (Sum, Mean, Max, Min) against tfjs's CPU kernels on seeded random data: leading,
 * trailing, middle and all axes, keepDims, size-1 axes between reduced ones, tensors of millions of values (where a
 * float32 running sum would drift), gradients, the cases that fall back, and no tensor leaks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { planReduce } from '../src/backend/reduce_utils.js';
import { assertClose, countNativeCalls, onBoth, rand, SKIP_NATIVE } from './backend-helpers.js';

const CASES: { name: string; shape: number[]; axis: number | number[] | null }[] = [
  { name: 'leading axes of NHWC to [C]', shape: [3, 5, 7, 6], axis: [0, 1, 2] },
  { name: 'spatial axes (middle block) to [N, C]', shape: [3, 5, 7, 6], axis: [1, 2] },
  { name: 'last axis', shape: [4, 9, 11], axis: -1 },
  { name: 'first axis of a matrix (dense bias gradient)', shape: [13, 10], axis: 0 },
  { name: 'all axes', shape: [3, 4, 5], axis: null },
  { name: 'axes around a size-1 axis', shape: [2, 1, 3, 4], axis: [0, 2] },
  { name: 'only size-1 axes', shape: [3, 1, 4], axis: 1 },
  { name: 'batch 1, leading axes', shape: [1, 6, 6, 9], axis: [0, 1, 2] },
  { name: 'large, leading axes (threads split the reduction)', shape: [16, 32, 32, 8], axis: [0, 1, 2] },
  { name: 'large, all axes', shape: [16, 32, 32, 8], axis: null },
  { name: 'large, last axis (threads split the rows)', shape: [4096, 33], axis: 1 },
];

describe('onednn reduction kernels match the tfjs cpu kernels', { skip: SKIP_NATIVE }, () => {
  test('planReduce turns axes into [outer, size, inner] or declines non-adjacent axes', () => {
    assert.deepEqual(planReduce([2, 3, 4, 5], [0, 1, 2], false), { outShape: [5], outer: 1, size: 24, inner: 5 });
    assert.deepEqual(planReduce([2, 3, 4, 5], [1, 2], true), { outShape: [2, 1, 1, 5], outer: 2, size: 12, inner: 5 });
    assert.deepEqual(planReduce([2, 1, 3, 4], [0, 2], false), { outShape: [1, 4], outer: 1, size: 6, inner: 4 });
    assert.deepEqual(planReduce([2, 3], null, false), { outShape: [], outer: 1, size: 6, inner: 1 });
    assert.match(planReduce([2, 3, 4, 5], [0, 2], false) as string, /not adjacent/);
    assert.match(planReduce([2, 3, 4], [0, 0], false) as string, /names an axis twice/);
  });

  CASES.forEach((c, idx) => {
    test(`sum, mean, max, min: ${c.name} (keepDims false and true)`, async () => {
      let result!: Awaited<ReturnType<typeof onBoth>>;
      const calls = await countNativeCalls(async () => {
        result = await onBoth(() => {
          const x = rand(c.shape, 10 * (idx + 1));
          const axis = c.axis ?? undefined;
          return [false, true].flatMap((keep) => [
            tf.sum(x, axis, keep), tf.mean(x, axis, keep), tf.max(x, axis, keep), tf.min(x, axis, keep),
          ]);
        });
      });
      assertClose(result.native, result.cpu, c.name);
      assert.equal(calls.reduce, 8, 'every reduction ran natively');
    });
  });

  test('sums and means over millions of values stay within 1e-4 of cpu (double accumulation)', async () => {
    // Values in [0, 2): a float32 running sum of 4M of them would lose about 1e-3 relative.
    const { native, cpu } = await onBoth(() => {
      const x = tf.add(rand([1 << 22], 50), 1);
      const y = tf.add(rand([1 << 16, 64], 51), 1);
      return [tf.sum(x), tf.mean(x), tf.sum(y, 0), tf.mean(y, 0)];
    });
    assertClose(native, cpu, 'large sums');
    // Independently: the mean of 1 + uniform[-1, 1) is about 1.
    assert.ok(Math.abs(native.values[1][0] - 1) < 1e-2);
  });

  test('gradients of sum, mean and max over leading and trailing axes', async () => {
    const { native, cpu } = await onBoth(() => {
      const x = rand([3, 5, 4, 6], 60);
      const r = rand([6], 61);
      const r2 = rand([3, 5, 4], 62);
      const g = (f: (t: tf.Tensor) => tf.Tensor) => tf.grad(f)(x);
      return [
        g((t) => tf.sum(tf.mul(tf.sum(t, [0, 1, 2]), r))),
        g((t) => tf.sum(tf.mul(tf.mean(t, [0, 1, 2]), r))),
        g((t) => tf.sum(tf.mul(tf.mean(t, -1), r2))),
        g((t) => tf.sum(tf.mul(tf.max(t, -1), r2))),
        g((t) => tf.mean(t)),
      ];
    });
    assertClose(native, cpu, 'gradients');
  });

  test('gradients of sum and mean run as one OnednnReduceGrad kernel each (no RealDiv) and equal cpu exactly', async () => {
    const grads = () => {
      const x = rand([4, 6, 5, 8], 63);
      const r = rand([8], 64);
      const r2 = rand([4, 1, 1, 8], 65);
      return [
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, [0, 1, 2]), r)))(x),
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.sum(t, [1, 2], true), r2)))(x),
      ];
    };
    const { native, cpu } = await onBoth(grads);
    native.values.forEach((v, i) => assert.deepEqual(Array.from(v), Array.from(cpu.values[i]), `gradient ${i}`));
    await initBackend('onednn');
    const info = await tf.profile(() => tf.dispose(grads()));
    const kernels = info.kernels.map((k) => k.name);
    // Two gradients, each through the outer tf.sum and the inner mean or sum.
    assert.equal(kernels.filter((k) => k === 'OnednnReduceGrad').length, 4, kernels.join());
    assert.ok(!kernels.includes('RealDiv'), `no RealDiv: ${kernels.join()}`);
  });

  test('non-adjacent axes, int32 and bool fall back to the cpu kernels', async () => {
    let result!: Awaited<ReturnType<typeof onBoth>>;
    const calls = await countNativeCalls(async () => {
      result = await onBoth(() => {
        const x = rand([2, 3, 4, 5], 70);
        const ints = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
        return [
          tf.sum(x, [0, 2]),
          tf.sum(x, [0, 0]), // an axis twice: whatever tfjs's kernel makes of it (shape [3, 4, 5])
          tf.mean(x, [1, 3], true),
          tf.max(x, [0, 3]),
          tf.cast(tf.sum(ints, 0), 'float32'),
          tf.cast(tf.max(ints, 1), 'float32'),
          tf.cast(tf.sum(tf.tensor1d([true, false, true], 'bool')), 'float32'),
        ];
      });
    });
    assertClose(result.native, result.cpu, 'fallbacks');
    assert.deepEqual(Array.from(result.native.values[4]), [5, 7, 9]);
    assert.deepEqual(Array.from(result.native.values[6]), [2]);
    assert.equal(calls.reduce ?? 0, 0, 'no reduction ran natively');
  });

  test('no tensors leak over repeated reductions with gradients', async () => {
    await initBackend('onednn');
    const w = tf.variable(rand([8], 80));
    const x = rand([4, 6, 6, 8], 81);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => {
        const { mean, variance } = tf.moments(tf.mul(x, w), [0, 1, 2]);
        return tf.add(tf.sum(mean), tf.max(variance));
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
