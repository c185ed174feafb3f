/**
 * The onednn backend's element-wise kernels (Add, Sub, Multiply, RealDiv, SquaredDifference, Maximum, Minimum,
 * Relu, Step, Sqrt, Rsqrt, Square, Neg, AddN, and the fused Relu gradient) against tfjs's CPU kernels on seeded
 * random data, forward and gradients, over broadcasting patterns that run natively and ones that fall back.
 *
 * IEEE float arithmetic rounds +, -, *, / and sqrt exactly as tfjs's double arithmetic rounded to float32 does, so
 * most results must be bit-identical; the others are held to relErr <= 1e-4 (backend-helpers.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { countNativeCalls, onBoth, rand, relErr, SKIP_NATIVE, TOLERANCE } from './backend-helpers.js';
import type { Outputs } from './backend-helpers.js';

/** Values in [0.5, 1.5) or their negatives: safe divisors. */
const divisor = (shape: number[], seed: number): tf.Tensor =>
  tf.tidy(() => {
    const r = rand(shape, seed);
    return tf.add(r, tf.mul(tf.sign(r), 0.5));
  });

function assertSame(native: Outputs, cpu: Outputs, what: string, exact: boolean): void {
  assert.deepEqual(native.shapes, cpu.shapes, `${what}: shapes`);
  native.values.forEach((v, i) => {
    if (exact) {
      for (let j = 0; j < v.length; j++) {
        if (!Object.is(v[j], cpu.values[i][j]) && !(v[j] === 0 && cpu.values[i][j] === 0)) {
          assert.fail(`${what}: output ${i}[${j}] is ${v[j]}, cpu gives ${cpu.values[i][j]}`);
        }
      }
    } else {
      const err = relErr(v, cpu.values[i]);
      assert.ok(err <= TOLERANCE, `${what}: output ${i} relative error ${err}`);
    }
  });
}

type BinaryFn = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

const BINARY: { name: string; fn: BinaryFn; exact: boolean }[] = [
  { name: 'add', fn: tf.add, exact: true },
  { name: 'sub', fn: tf.sub, exact: true },
  { name: 'mul', fn: tf.mul, exact: true },
  { name: 'div', fn: tf.div, exact: true },
  { name: 'squaredDifference', fn: tf.squaredDifference, exact: false },
  { name: 'maximum', fn: tf.maximum, exact: true },
  { name: 'minimum', fn: tf.minimum, exact: true },
];

/** Broadcasting patterns: [a's shape, b's shape]. */
const SHAPES: { name: string; a: number[]; b: number[] }[] = [
  { name: 'same shape, odd sizes', a: [2, 5, 7, 3], b: [2, 5, 7, 3] },
  { name: 'scalar b', a: [4, 6], b: [] },
  { name: 'scalar a', a: [], b: [3, 5] },
  { name: 'per-channel [C] b', a: [2, 4, 4, 5], b: [5] },
  { name: '[1,1,1,C] a', a: [1, 1, 1, 5], b: [2, 4, 4, 5] },
  { name: 'leading [N,H,W,1] b', a: [2, 4, 3, 6], b: [2, 4, 3, 1] },
  { name: 'middle axes broadcast on both sides', a: [2, 1, 4, 5], b: [2, 3, 1, 5] },
  { name: 'outer product [3,1] and [1,4]', a: [3, 1], b: [1, 4] },
  { name: 'rank 1 and rank 3', a: [7], b: [2, 3, 7] },
  { name: 'large, same shape (multi-threaded)', a: [4, 32, 32, 16], b: [4, 32, 32, 16] },
  { name: 'large, per-channel (multi-threaded)', a: [8, 16, 16, 32], b: [32] },
  { name: 'large, [N,1,1,C] against [N,H,W,C] (multi-threaded)', a: [8, 16, 16, 32], b: [8, 1, 1, 32] },
];

describe('onednn element-wise kernels match the tfjs cpu kernels', { skip: SKIP_NATIVE }, () => {
  SHAPES.forEach((s, idx) => {
    const seed = 100 * (idx + 1);
    test(`binary ops, ${s.name}: forward`, async () => {
      let result!: Awaited<ReturnType<typeof onBoth>>;
      const calls = await countNativeCalls(async () => {
        result = await onBoth(() => {
          const a = rand(s.a, seed);
          const b = divisor(s.b, seed + 1);
          return BINARY.map((op) => op.fn(a, b));
        });
      });
      BINARY.forEach((op, i) => {
        const one = (o: Outputs): Outputs => ({ shapes: [o.shapes[i]], values: [o.values[i]] });
        assertSame(one(result.native), one(result.cpu), op.name, op.exact);
      });
      // One native call per op, plus the mul and add of divisor().
      assert.equal(calls.binary, BINARY.length + 2, 'every binary op ran natively');
    });

    test(`binary ops, ${s.name}: gradients (sums over the broadcast axes)`, async () => {
      const { native, cpu } = await onBoth(() => {
        const a = rand(s.a, seed + 2);
        const b = divisor(s.b, seed + 3);
        const outShape = tf.add(a, b).shape;
        const r = rand(outShape, seed + 4);
        // tfjs's own gradients of SquaredDifference, Maximum and Minimum do not reduce over broadcast axes (they
        // fail on cpu too): those only with same shapes.
        const sameShape = ['squaredDifference', 'maximum', 'minimum'];
        const ops = s.a.join() === s.b.join() ? BINARY : BINARY.filter((op) => !sameShape.includes(op.name));
        return ops.flatMap((op) => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(op.fn(x, y), r)))([a, b]));
      });
      assertSame(native, cpu, 'gradients', false);
    });
  });

  test('unary ops forward: relu, step (alpha 0 and 0.3), sqrt, rsqrt, square, neg; small and large', async () => {
    for (const shape of [[3, 5, 7], [4, 32, 32, 16]]) {
      let result!: Awaited<ReturnType<typeof onBoth>>;
      const calls = await countNativeCalls(async () => {
        result = await onBoth(() => {
          const x = rand(shape, 7);
          const pos = tf.abs(x);
          return [tf.relu(x), tf.step(x), tf.step(x, 0.3), tf.sqrt(pos), tf.rsqrt(pos), tf.square(x), tf.neg(x)];
        });
      });
      assertSame(result.native, result.cpu, `unary ${shape}`, true);
      assert.ok((calls.unary ?? 0) >= 7, 'unary ran natively');
    }
  });

  test('unary gradients: relu (fused native gradient), sqrt, rsqrt, square, neg', async () => {
    let result!: Awaited<ReturnType<typeof onBoth>>;
    const calls = await countNativeCalls(async () => {
      result = await onBoth(() => {
        const x = rand([2, 9, 9, 8], 9);
        const pos = tf.add(tf.abs(x), 0.1);
        const r = rand(x.shape, 10);
        const g = (f: (t: tf.Tensor) => tf.Tensor, at: tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), r)))(at);
        return [g(tf.relu, x), g(tf.sqrt, pos), g(tf.rsqrt, pos), g(tf.square, x), g(tf.neg, x)];
      });
    });
    assertSame(result.native, result.cpu, 'unary gradients', false);
    // dy * step(x) is bit-identical to tfjs's mul(dy, step(x)).
    assertSame({ shapes: [result.native.shapes[0]], values: [result.native.values[0]] },
      { shapes: [result.cpu.shapes[0]], values: [result.cpu.values[0]] }, 'relu gradient', true);
    // The Relu gradient ran as one fused binary op and not as Step + Multiply.
    assert.ok((calls.binary ?? 0) >= 1);
  });

  test('the relu and square gradients run as one fused kernel each, equal to cpu exactly', async () => {
    const grads = () => {
      const x = rand([3, 7, 7, 5], 11);
      const r = rand([3, 7, 7, 5], 12);
      return [
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), r)))(x),
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(t), r)))(x),
      ];
    };
    const { native, cpu } = await onBoth(grads);
    assertSame(native, cpu, 'fused gradients', true);
    await initBackend('onednn');
    const info = await tf.profile(() => tf.dispose(grads()));
    const kernels = info.kernels.map((k) => k.name);
    assert.ok(kernels.includes('OnednnReluGrad') && kernels.includes('OnednnSquareGrad'), kernels.join());
    assert.ok(!kernels.includes('Step'), `no Step: ${kernels.join()}`);
  });

  test('float32 tensors cast from bool or int32 (which keep their typed array): kernels and fused gradients', async () => {
    // tfjs's CPU Cast to float32 reuses a bool tensor's Uint8Array: the native kernels must not take it as float32
    // data (they fall back) and the fused gradients must convert it.
    const { native, cpu } = await onBoth(() => {
      const fromBool = tf.cast(tf.tensor1d([true, false, true, true], 'bool'), 'float32');
      const fromInt = tf.cast(tf.tensor1d([3, -1, 0, 2], 'int32'), 'float32');
      const r = tf.tensor1d([0.5, -1, 2, 4]);
      const g = (f: (t: tf.Tensor) => tf.Tensor, at: tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), r)))(at);
      return [
        tf.add(fromBool, r), tf.relu(fromInt), tf.mean(fromBool), tf.batchNorm(fromInt, tf.tensor1d([1]), tf.tensor1d([2])),
        g(tf.relu, fromBool), g(tf.square, fromInt), g((t) => tf.mean(t, 0, true), fromBool), g(tf.relu, fromInt),
      ];
    });
    assertSame(native, cpu, 'cast tensors', true);
  });

  test('gradients of gradients (relu, square, mean, sum) use tfjs ops and match cpu', async () => {
    // The fused gradient kernels have no gradients themselves: while an outer tf.grad records, tfjs's own gradients
    // run instead.
    const { native, cpu } = await onBoth(() => {
      const x = rand([2, 3, 4], 13);
      const r = rand([2, 3, 4], 14);
      const second = (f: (t: tf.Tensor) => tf.Tensor) =>
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.grad((u: tf.Tensor) => tf.sum(f(u)))(t), r)))(x);
      return [
        second((u) => tf.mul(tf.relu(u), u)),
        second((u) => tf.mul(tf.square(u), r)),
        second((u) => tf.square(tf.mean(u, [0, 1]))),
        second((u) => tf.square(tf.sum(u, -1))),
      ];
    });
    assertSame(native, cpu, 'second-order gradients', false);
  });

  test('NaN and infinities propagate exactly as on cpu', async () => {
    const special = [NaN, -Infinity, Infinity, 0, -0, 1.5, -2.5, NaN];
    const { native, cpu } = await onBoth(() => {
      const a = tf.tensor1d(special);
      const b = tf.tensor1d([1, NaN, 2, -0, 0, Infinity, NaN, -3]);
      return [
        tf.relu(a), tf.step(a), tf.step(a, 0.5), tf.maximum(a, b), tf.minimum(a, b), tf.add(a, b), tf.mul(a, b),
        tf.div(a, b), tf.sqrt(a), tf.neg(a),
        tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(a),
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(t), b)))(a),
        tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), b)))(tf.tensor1d([1, -1, 2, -2, 0, 3, -3, 4])),
      ];
    });
    assertSame(native, cpu, 'special values', true);
  });

  test('addN adds in order as cpu does', async () => {
    let result!: Awaited<ReturnType<typeof onBoth>>;
    const calls = await countNativeCalls(async () => {
      result = await onBoth(() => {
        const xs = [0, 1, 2, 3].map((i) => rand([4, 64, 33], 20 + i, 10 ** i));
        return [tf.addN(xs), tf.addN(xs.slice(0, 1))];
      });
    });
    assertSame(result.native, result.cpu, 'addN', true);
    assert.equal(calls.addN, 2);
  });

  test('cases that fall back to the cpu kernels: int32, bool, and a broadcast of 8 alternating axes', async () => {
    let result!: Awaited<ReturnType<typeof onBoth>>;
    const calls = await countNativeCalls(async () => {
      result = await onBoth(() => {
        const i1 = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32');
        const i2 = tf.tensor1d([5, -6], 'int32');
        const a = rand([2, 1, 2, 1, 2, 1, 2, 1], 30);
        const b = rand([1, 2, 1, 2, 1, 2, 1, 2], 31);
        return [
          tf.cast(tf.add(i1, i2), 'float32'),
          tf.cast(tf.mul(i1, i2), 'float32'),
          tf.cast(tf.relu(i2), 'float32'),
          tf.cast(tf.maximum(i1, i2), 'float32'),
          tf.add(a, b),
          tf.mul(a, b),
        ];
      });
    });
    assertSame(result.native, result.cpu, 'fallbacks', true);
    assert.deepEqual(Array.from(result.native.values[0]), [6, -4, 8, -2]);
    assert.equal(calls.binary ?? 0, 0, 'no binary op ran natively');
    assert.equal(calls.unary ?? 0, 0, 'no unary op ran natively');
  });

  test('no tensors leak over repeated element-wise forward/backward steps', async () => {
    await initBackend('onednn');
    const w = tf.variable(rand([16], 40));
    const x = rand([4, 8, 8, 16], 41);
    const step = () => {
      const { value, grads } = tf.variableGrads(() =>
        tf.sum(tf.sqrt(tf.add(tf.square(tf.relu(tf.sub(tf.mul(x, w), tf.div(x, tf.add(tf.abs(w), 1))))), 1))));
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) step();
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([w, x]);
  });
});
