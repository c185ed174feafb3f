/**
 * The onednn backend's convolution kernels (Conv2D, FusedConv2D, Conv2DBackpropInput, Conv2DBackpropFilter)
 * against tfjs's CPU kernels on seeded random data: forward results and gradients, relative error <= 1e-4
 * (see relErr in backend-helpers.ts). Each case also checks that the native code really ran. The onednn-only
 * OnednnConv2DResidual (conv + bias + residual, then the activation) is checked against tfjs's conv, add and relu.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { conv2dResidual } from '../src/model/index.js';
import { assertClose, countNativeCalls, onBoth, randomValues, relErr, SKIP_NATIVE, TOLERANCE } from './backend-helpers.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dilations?: number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** Gradients are defined by tfjs for this case (no dilation, no rounding mode). */
  grads: boolean;
}

const CASES: ConvCase[] = [
  { name: 'batch 1, 3x3, stride 1, same, odd sizes', x: [1, 7, 5, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'same', grads: true },
  { name: '3x3, stride 2, valid', x: [2, 9, 9, 5], filter: [3, 3, 5, 6], strides: 2, pad: 'valid', grads: true },
  { name: '7x7, stride 2, same, non-square input', x: [2, 11, 8, 3], filter: [7, 7, 3, 8], strides: 2, pad: 'same', grads: true },
  { name: '1x1, stride 2, same', x: [3, 6, 6, 12], filter: [1, 1, 12, 20], strides: 2, pad: 'same', grads: true },
  // 1x1, stride 1, unpadded: the native code runs these as matrix products.
  { name: '1x1, stride 1, valid, odd channels', x: [2, 5, 7, 9], filter: [1, 1, 9, 13], strides: 1, pad: 'valid', grads: true },
  { name: 'batch 1, 1x1, stride 1, same, 40 -> 24 channels', x: [1, 3, 5, 40], filter: [1, 1, 40, 24], strides: 1, pad: 'same', grads: true },
  {
    name: 'non-square 3x2 filter, strides [1, 2], explicit pads',
    x: [1, 6, 9, 4],
    filter: [3, 2, 4, 5],
    strides: [1, 2],
    pad: [[0, 0], [1, 2], [2, 0], [0, 0]],
    grads: true,
  },
  { name: '3x3, 16 -> 24 channels, same', x: [2, 8, 8, 16], filter: [3, 3, 16, 24], strides: 1, pad: 'same', grads: true },
  { name: 'even 2x2 filter, stride 2, valid, odd input', x: [2, 11, 10, 7], filter: [2, 2, 7, 3], strides: 2, pad: 'valid', grads: true },
  { name: 'numeric pad with ceil rounding', x: [1, 8, 8, 3], filter: [3, 3, 3, 4], strides: 2, pad: 1, dimRoundingMode: 'ceil', grads: false },
  { name: 'dilation 2, same', x: [1, 10, 9, 4], filter: [3, 3, 4, 5], strides: 1, pad: 'same', dilations: 2, grads: false },
  // Filters that outweigh the output (4 * batch * outH * outW <= outC): the native code runs these as matrix
  // products over x's patches (im2col, and col2im for the input gradient).
  { name: 'patches: batch 1, 3x3, same, 3x3 output, 40 channels', x: [1, 3, 3, 4], filter: [3, 3, 4, 40], strides: 1, pad: 'same', grads: true },
  { name: 'patches: 3x3, stride 2, same, odd input', x: [2, 5, 5, 3], filter: [3, 3, 3, 80], strides: 2, pad: 'same', grads: true },
  { name: 'patches: 1x1, stride 2', x: [1, 4, 4, 8], filter: [1, 1, 8, 20], strides: 2, pad: 'valid', grads: true },
  { name: 'patches: 2x3 filter, valid, non-square input', x: [2, 3, 4, 5], filter: [2, 3, 5, 32], strides: 1, pad: 'valid', grads: true },
  { name: 'patches: dilation 2, same', x: [1, 6, 6, 3], filter: [3, 3, 3, 150], strides: 1, pad: 'same', dilations: 2, grads: false },
];

/** Input tensors of a case: x, filter, bias, and a random weighting of the output used as the gradient. */
function makeInputs(c: ConvCase, seed: number) {
  const x = tf.tensor4d(randomValues(tf.util.sizeFromShape(c.x), seed), c.x);
  const filter = tf.tensor4d(randomValues(tf.util.sizeFromShape(c.filter), seed + 1, 0.5), c.filter);
  const bias = tf.tensor1d(randomValues(c.filter[3], seed + 2, 0.5));
  return { x, filter, bias };
}

function conv(c: ConvCase, x: tf.Tensor4D, filter: tf.Tensor4D): tf.Tensor4D {
  return tf.conv2d(x, filter, c.strides, c.pad, 'NHWC', c.dilations ?? 1, c.dimRoundingMode);
}

function fused(c: ConvCase, x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D | undefined, activation: tf.fused.Activation, leakyreluAlpha?: number): tf.Tensor4D {
  return tf.fused.conv2d({
    x, filter, bias, strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations: c.dilations ?? 1,
    dimRoundingMode: c.dimRoundingMode, activation, leakyreluAlpha,
  });
}

/** A random weighting r of the conv output, so that d(sum(y * r))/dy = r. */
function weighting(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(randomValues(tf.util.sizeFromShape(shape), seed), shape);
}

describe('onednn conv kernels match the tfjs cpu kernels', { skip: SKIP_NATIVE }, () => {
  CASES.forEach((c, idx) => {
    const seed = 1000 * (idx + 1);
    test(`${c.name}: Conv2D and FusedConv2D (bias + relu) forward`, async () => {
      let result!: Awaited<ReturnType<typeof onBoth>>;
      const calls = await countNativeCalls(async () => {
        result = await onBoth(() => {
          const { x, filter, bias } = makeInputs(c, seed);
          return [conv(c, x, filter), fused(c, x, filter, bias, 'relu'), fused(c, x, filter, undefined, 'linear')];
        });
      });
      assertClose(result.native, result.cpu, 'forward');
      assert.equal(calls.conv2dForward, 3, 'every forward conv ran natively');
    });

    if (c.grads) {
      test(`${c.name}: gradients of conv2d and of fused conv2d with bias and relu`, async () => {
        let result!: Awaited<ReturnType<typeof onBoth>>;
        const calls = await countNativeCalls(async () => {
          result = await onBoth(() => {
            const { x, filter, bias } = makeInputs(c, seed);
            const outShape = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad as 'same' | 'valid').outShape;
            const r = weighting(outShape, seed + 3);
            const plain = tf.grads((a: tf.Tensor, w: tf.Tensor) =>
              tf.sum(tf.mul(conv(c, a as tf.Tensor4D, w as tf.Tensor4D), r)))([x, filter]);
            const withBias = tf.grads((a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
              tf.sum(tf.mul(fused(c, a as tf.Tensor4D, w as tf.Tensor4D, b as tf.Tensor1D, 'relu'), r)))([x, filter, bias]);
            return [...plain, ...withBias];
          });
        });
        assertClose(result.native, result.cpu, 'gradients');
        assert.equal(calls.conv2dBackwardData, 2, 'dx ran natively');
        assert.equal(calls.conv2dBackwardWeights, 2, 'dFilter ran natively');
      });
    }
  });

  test('FusedConv2D with relu6, leakyrelu (alpha 0.1), elu and sigmoid', async () => {
    const c = CASES[2];
    let result!: Awaited<ReturnType<typeof onBoth>>;
    const calls = await countNativeCalls(async () => {
      result = await onBoth(() => {
        const { x, filter, bias } = makeInputs(c, 77);
        return [
          fused(c, x, filter, bias, 'relu6'),
          fused(c, x, filter, bias, 'leakyrelu', 0.1),
          fused(c, x, filter, bias, 'elu'),
          fused(c, x, filter, bias, 'sigmoid'),
        ];
      });
    });
    assertClose(result.native, result.cpu, 'activations');
    assert.equal(calls.conv2dForward, 4);
  });

  // A convolution keeps its filter reordered by data token; a matrix-product convolution (1x1, or over patches) packs
  // a filter it has seen before. The second call with the same filter tensor reuses that copy; a new filter tensor
  // with other values must not.
  for (const c of [CASES[7], CASES[4], CASES[12]]) {
    test(`the same filter gives the same result when its reordered copy is reused: ${c.name}`, async () => {
      const { native, cpu } = await onBoth(() => {
        const { x, filter } = makeInputs(c, 5);
        const other = tf.neg(filter) as tf.Tensor4D;
        return [conv(c, x, filter), conv(c, x, filter), conv(c, x, other), conv(c, x, filter), conv(c, x, other)];
      });
      assertClose(native, cpu, 'repeated filters');
      assert.ok(relErr(native.values[2], native.values[0].map((v) => -v)) <= TOLERANCE, 'negated filter negates y');
      assert.deepEqual(native.values[1], native.values[3], 'the cached copy gives the same bits each time');
    });
  }
});

describe('OnednnConv2DResidual (conv2dResidual) matches conv, add and relu on the cpu backend', { skip: SKIP_NATIVE }, () => {
  const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);
  for (const c of CASES.filter((k) => (k.pad === 'same' || k.pad === 'valid') && k.dilations === undefined)) {
    test(c.name, async () => {
      let result!: Awaited<ReturnType<typeof onBoth>>;
      const calls = await countNativeCalls(async () => {
        result = await onBoth(() => {
          const { x, filter, bias } = makeInputs(c, 31);
          const outShape = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad as 'same' | 'valid').outShape;
          const residual = tf.tensor4d(randomValues(tf.util.sizeFromShape(outShape), 32), outShape);
          const geometry = { strides: pair(c.strides), padding: c.pad as 'same' | 'valid', dilations: [1, 1] as [number, number] };
          return [
            conv2dResidual(x, filter, bias, residual, geometry, 'relu'),
            conv2dResidual(x, filter, undefined, residual, geometry, 'relu'),
            conv2dResidual(x, filter, bias, residual, geometry, 'linear'),
          ];
        });
      });
      assertClose(result.native, result.cpu, 'conv + residual');
      assert.equal(calls.conv2dForward, 3, 'ran natively');
      const [relu, , linear] = result.cpu.values;
      assert.ok(linear.some((v) => v < 0) && relu.every((v) => v >= 0), 'the relu cases differ from the linear one');
    });
  }
});

describe('the bias gradient taken from Conv2DBackpropFilter', { skip: SKIP_NATIVE }, () => {
  // oneDNN's convolution primitive gives the per-channel sums of dy with dFilter, and the next Sum of dy over
  // N, H, W takes them; a convolution run as a matmul (1x1) gives none, and every Sum then reduces.
  for (const [c, sumsGiven] of [[CASES[1], true], [CASES[4], false]] as const) {
    test(`${c.name}: Sums of dy after Conv2DBackpropFilter give the cpu sums (${sumsGiven ? 'the first one taken from it' : 'all reduced'})`, async () => {
      const outShape = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad as 'same' | 'valid').outShape;
      let result!: Awaited<ReturnType<typeof onBoth>>;
      const calls = await countNativeCalls(async () => {
        result = await onBoth(() => {
          const { x } = makeInputs(c, 41);
          const dy = tf.tensor4d(randomValues(tf.util.sizeFromShape(outShape), 42), outShape);
          const dFilter = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy },
            { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter }) as tf.Tensor;
          return [
            dFilter,
            tf.sum(tf.reshape(dy, [outShape[0], -1]), 0), // a reshape that moves the channel axis: other sums
            tf.sum(dy, [0, 1, 2]), // taken from the backward-weights pass when it gave them
            tf.sum(dy, [0, 1, 2], true), // computed again: the sums are handed over once
            tf.sum(tf.reshape(dy, [-1, outShape[3]]), 0), // a reshape keeping the channel axis
          ];
        });
      });
      assertClose(result.native, result.cpu, 'sums');
      assert.deepEqual(result.native.shapes.slice(2, 4), [[outShape[3]], [1, 1, 1, outShape[3]]]);
      assert.equal(calls.conv2dBackwardWeights, 1);
      assert.equal(calls.reduce, sumsGiven ? 3 : 4, sumsGiven ? 'the first Sum over N, H, W ran no reduction' : 'every Sum reduced');
    });
  }
});

describe('seeded random convolutions: forward and gradients match the cpu kernels', { skip: SKIP_NATIVE }, () => {
  test('60 random shapes (filters 1-4 each way, strides 1-3, dilation 2, same/valid; most forced onto the matmul paths)', async () => {
    let seed = 12345;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
    let cases = 0;
    let matmulCases = 0;
    for (let t = 0; t < 60; t++) {
      const [kh, kw] = [int(1, 4), int(1, 4)];
      const dilation = (kh > 1 || kw > 1) && next() < 0.2 ? 2 : 1;
      const drawnStride = int(1, 3);
      const stride = dilation > 1 ? 1 : drawnStride; // tfjs takes a stride or a dilation, not both
      const pad = next() < 0.5 ? 'same' : 'valid';
      const [b, ci] = [int(1, 3), int(1, 9)];
      const [h, w] = [int(Math.max(kh * dilation, 2), 7), int(Math.max(kw * dilation, 2), 7)];
      let oc = int(1, 12);
      const info = tf.backend_util.computeConv2DInfo([b, h, w, ci], [kh, kw, ci, oc], stride, dilation, pad);
      const rows = b * info.outHeight * info.outWidth;
      if (next() < 0.7) oc = Math.max(oc, 4 * rows); // a filter that outweighs the output: the matmul path
      if (kh * kw === 1 || 4 * rows <= oc) matmulCases++;
      const xs = randomValues(b * h * w * ci, 100 + t);
      const fs = randomValues(kh * kw * ci * oc, 200 + t, 0.5);
      const label = `case ${t}: x [${b},${h},${w},${ci}], filter ${kh}x${kw}x${ci}x${oc}, stride ${stride}, dilation ${dilation}, ${pad}`;
      const { native, cpu } = await onBoth(() => {
        const x = tf.tensor4d(xs, [b, h, w, ci]);
        const filter = tf.tensor4d(fs, [kh, kw, ci, oc]);
        const bias = tf.mul(tf.range(0, oc), 0.01) as tf.Tensor1D;
        const conv = (a: tf.Tensor, f: tf.Tensor, c: tf.Tensor) => tf.fused.conv2d({
          x: a as tf.Tensor4D, filter: f as tf.Tensor4D, bias: c, strides: stride, pad, dilations: dilation, activation: 'relu',
        });
        const y = conv(x, filter, bias);
        if (dilation > 1) return [y]; // tfjs has no gradients for dilated convolutions
        const r = tf.tensor(randomValues(y.size, 300 + t), y.shape);
        return [y, ...tf.grads((a, f, c) => tf.sum(tf.mul(conv(a, f, c), r)))([x, filter, bias])];
      });
      assertClose(native, cpu, label);
      cases++;
    }
    assert.equal(cases, 60);
    assert.ok(matmulCases >= 30, `${matmulCases} cases on the matmul paths`);
  });
});
