/**
 * The onednn backend's matrix-product kernels (BatchMatMul, _FusedMatMul) against tfjs's CPU kernels on seeded
 * random data: results and gradients, relative error <= 1e-4 (see relErr in backend-helpers.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { assertClose, countNativeCalls, onBoth, randomValues, SKIP_NATIVE } from './backend-helpers.js';

const rand = (shape: number[], seed: number): tf.Tensor => tf.tensor(randomValues(tf.util.sizeFromShape(shape), seed), shape);

interface MatMulCase {
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
  /** tfjs's BatchMatMul gradient does not reduce broadcast batch dimensions, so it fails on both backends. */
  broadcast?: boolean;
}

const CASES: MatMulCase[] = [
  { a: [5, 7], b: [7, 3], transposeA: false, transposeB: false },
  { a: [7, 5], b: [7, 3], transposeA: true, transposeB: false },
  { a: [5, 7], b: [3, 7], transposeA: false, transposeB: true },
  { a: [7, 5], b: [3, 7], transposeA: true, transposeB: true },
  { a: [4, 5, 6], b: [4, 6, 3], transposeA: false, transposeB: false },
  { a: [2, 3, 6, 5], b: [2, 3, 3, 6], transposeA: true, transposeB: true },
  { a: [2, 3, 4, 5], b: [5, 6], transposeA: false, transposeB: false, broadcast: true },
  { a: [1, 5, 6], b: [3, 6, 2], transposeA: false, transposeB: false, broadcast: true },
  { a: [3, 6, 5], b: [1, 2, 6], transposeA: true, transposeB: true, broadcast: true },
  { a: [33, 70], b: [70, 17], transposeA: false, transposeB: false },
];

const label = (c: MatMulCase) => `${JSON.stringify(c.a)}${c.transposeA ? 'ᵀ' : ''} x ${JSON.stringify(c.b)}${c.transposeB ? 'ᵀ' : ''}`;

describe('onednn matmul kernels match the tfjs cpu kernels', { skip: SKIP_NATIVE }, () => {
  CASES.forEach((c, idx) => {
    test(`BatchMatMul ${label(c)}: result${c.broadcast ? '' : ' and gradients'}`, async () => {
      let result!: Awaited<ReturnType<typeof onBoth>>;
      const calls = await countNativeCalls(async () => {
        result = await onBoth(() => {
          const a = rand(c.a, 10 * idx + 1);
          const b = rand(c.b, 10 * idx + 2);
          const y = tf.matMul(a, b, c.transposeA, c.transposeB);
          if (c.broadcast) return [y];
          const r = rand(y.shape, 10 * idx + 3);
          const g = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q, c.transposeA, c.transposeB), r)))([a, b]);
          return [y, ...g];
        });
      });
      assertClose(result.native, result.cpu, label(c));
      assert.ok((calls.matmul ?? 0) >= (c.broadcast ? 1 : 3), 'ran natively');
    });
  });

  const activations: Array<[tf.fused.Activation, number | undefined]> = [
    ['linear', undefined], ['relu', undefined], ['relu6', undefined], ['leakyrelu', 0.3], ['elu', undefined], ['sigmoid', undefined],
  ];
  for (const [activation, alpha] of activations) {
    test(`_FusedMatMul with bias and ${activation}, with gradients`, async () => {
      let result!: Awaited<ReturnType<typeof onBoth>>;
      const calls = await countNativeCalls(async () => {
        result = await onBoth(() => {
          const a = rand([6, 9], 1);
          const b = rand([9, 4], 2);
          const bias = rand([4], 3);
          const f = (p: tf.Tensor, q: tf.Tensor, s: tf.Tensor) =>
            tf.fused.matMul({ a: p as tf.Tensor2D, b: q as tf.Tensor2D, bias: s, activation, leakyreluAlpha: alpha });
          const y = f(a, b, bias);
          const r = rand(y.shape, 4);
          const g = tf.grads((p: tf.Tensor, q: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(f(p, q, s), r)))([a, b, bias]);
          return [y, ...g];
        });
      });
      assertClose(result.native, result.cpu, activation);
      assert.ok((calls.matmul ?? 0) >= 3, 'ran natively');
    });
  }

  test('_FusedMatMul with transposes, batch and bias', async () => {
    const { native, cpu } = await onBoth(() =>
      tf.fused.matMul({ a: rand([3, 8, 5], 5) as tf.Tensor3D, b: rand([3, 7, 8], 6) as tf.Tensor3D, transposeA: true, transposeB: true, bias: rand([7], 7), activation: 'relu' }),
    );
    assertClose(native, cpu, 'fused batched');
  });
});
