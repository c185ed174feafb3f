/**
 * The residual blocks' numbers: each block's output on small known weights, in inference mode, against a plain-loop
 * reference of the spec's steps (convolution, batch normalisation, ReLU, addition) written here in float64.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  identityBlock,
  convolutionalBlock,
  basicIdentityBlock,
  basicConvolutionalBlock,
} from '../src/model/index.js';

await tf.setBackend('cpu');
tf.env().set('IS_TEST', true);

/** One image, channels last: `data[(y * w + x) * c + ch]`. */
interface Image {
  h: number;
  w: number;
  c: number;
  data: Float64Array;
}

/** A convolution's weights: `kernel[((ky * k + kx) * cin + ci) * cout + co]` (the tfjs/Keras layout), `bias[co]`. */
interface ConvWeights {
  k: number;
  cin: number;
  cout: number;
  kernel: Float64Array;
  bias: Float64Array;
}

/** Batch normalisation weights, per channel. */
interface BnWeights {
  gamma: Float64Array;
  beta: Float64Array;
  mean: Float64Array;
  variance: Float64Array;
}

const EPSILON = 1e-3; // the Keras default, checked against the layers' config below

/** 2-D convolution with TensorFlow's 'valid' or 'same' padding (same: pad_total split with the extra at the end). */
function conv2d(x: Image, wt: ConvWeights, stride: number, padding: 'valid' | 'same'): Image {
  const { k, cin, cout } = wt;
  assert.equal(x.c, cin);
  let oh: number, ow: number, padTop: number, padLeft: number;
  if (padding === 'valid') {
    oh = Math.floor((x.h - k) / stride) + 1;
    ow = Math.floor((x.w - k) / stride) + 1;
    padTop = padLeft = 0;
  } else {
    oh = Math.ceil(x.h / stride);
    ow = Math.ceil(x.w / stride);
    padTop = Math.floor(Math.max((oh - 1) * stride + k - x.h, 0) / 2);
    padLeft = Math.floor(Math.max((ow - 1) * stride + k - x.w, 0) / 2);
  }
  const out = new Float64Array(oh * ow * cout);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      for (let co = 0; co < cout; co++) {
        let sum = wt.bias[co];
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * stride + ky - padTop;
          if (iy < 0 || iy >= x.h) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * stride + kx - padLeft;
            if (ix < 0 || ix >= x.w) continue;
            for (let ci = 0; ci < cin; ci++) {
              sum += x.data[(iy * x.w + ix) * cin + ci] * wt.kernel[((ky * k + kx) * cin + ci) * cout + co];
            }
          }
        }
        out[(oy * ow + ox) * cout + co] = sum;
      }
    }
  }
  return { h: oh, w: ow, c: cout, data: out };
}

/** Batch normalisation in inference mode: gamma * (x - mean) / sqrt(variance + epsilon) + beta. */
function batchNorm(x: Image, bn: BnWeights): Image {
  const data = x.data.map((v, i) => {
    const ch = i % x.c;
    return (bn.gamma[ch] * (v - bn.mean[ch])) / Math.sqrt(bn.variance[ch] + EPSILON) + bn.beta[ch];
  });
  return { ...x, data };
}

function relu(x: Image): Image {
  return { ...x, data: x.data.map((v) => Math.max(0, v)) };
}

function add(a: Image, b: Image): Image {
  assert.deepEqual([a.h, a.w, a.c], [b.h, b.w, b.c]);
  return { ...a, data: a.data.map((v, i) => v + b.data[i]) };
}

/** Deterministic small values in [-0.5, 0.5], varied by `salt`. */
function values(n: number, salt: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => (((i * 37 + salt * 11) % 23) - 11) / 22);
}

/** Gives every Conv2D and BatchNormalization layer of the model known weights, and returns them by layer name. */
function setKnownWeights(model: tf.LayersModel): { conv: Map<string, ConvWeights>; bn: Map<string, BnWeights> } {
  const conv = new Map<string, ConvWeights>();
  const bn = new Map<string, BnWeights>();
  model.layers.forEach((layer, li) => {
    if (layer.getClassName() === 'Conv2D') {
      const [k, , cin, cout] = layer.getWeights()[0].shape;
      const w: ConvWeights = { k, cin, cout, kernel: values(k * k * cin * cout, li), bias: values(cout, li + 100).map((v) => v / 5) };
      layer.setWeights([tf.tensor4d(Float32Array.from(w.kernel), [k, k, cin, cout]), tf.tensor1d(Float32Array.from(w.bias))]);
      conv.set(layer.name, w);
    } else if (layer.getClassName() === 'BatchNormalization') {
      assert.equal((layer.getConfig() as { epsilon: number }).epsilon, EPSILON);
      const c = (layer.outputShape as number[])[3];
      const b: BnWeights = {
        gamma: values(c, li).map((v) => 1 + v),
        beta: values(c, li + 1).map((v) => v / 2),
        mean: values(c, li + 2).map((v) => v / 4),
        variance: values(c, li + 3).map((v) => 0.5 + v * v),
      };
      // Set by weight name (before tfjs's uniquifying suffix), not by position, so that gamma, beta, mean and
      // variance cannot be confused.
      const byName: Record<string, Float64Array> = {
        gamma: b.gamma,
        beta: b.beta,
        moving_mean: b.mean,
        moving_variance: b.variance,
      };
      layer.setWeights(layer.weights.map((w) => tf.tensor1d(Float32Array.from(byName[w.originalName.split('/').pop()!]))));
      bn.set(layer.name, b);
    }
  });
  return { conv, bn };
}

function inputImage(h: number, w: number, c: number): Image {
  return { h, w, c, data: Float64Array.from({ length: h * w * c }, (_, i) => Math.sin(i * 0.7) * 1.5) };
}

/** Runs a one-block model on the image with `model.predict` (inference mode) and returns its output. */
function runBlock(
  build: (x: tf.SymbolicTensor) => tf.SymbolicTensor,
  x: Image,
): { model: tf.LayersModel; weights: ReturnType<typeof setKnownWeights>; out: Image } {
  const input = tf.input({ shape: [x.h, x.w, x.c] });
  const model = tf.model({ inputs: input, outputs: build(input) });
  const weights = setKnownWeights(model);
  const y = model.predict(tf.tensor4d(Float32Array.from(x.data), [1, x.h, x.w, x.c])) as tf.Tensor;
  const [, h, w, c] = y.shape;
  const out = { h, w, c, data: Float64Array.from(y.dataSync()) };
  y.dispose();
  return { model, weights, out };
}

function assertClose(actual: Image, expected: Image, what: string): void {
  assert.deepEqual([actual.h, actual.w, actual.c], [expected.h, expected.w, expected.c], `${what}: shape`);
  let zeros = 0;
  expected.data.forEach((e, i) => {
    const a = actual.data[i];
    assert.ok(Math.abs(a - e) <= 1e-4 + 1e-4 * Math.abs(e), `${what}[${i}]: got ${a}, expected ${e}`);
    if (e === 0) zeros++;
  });
  // The final ReLU must have had something to do, and not everything: otherwise the check is weak.
  assert.ok(zeros > 0 && zeros < expected.data.length, `${what}: ${zeros} of ${expected.data.length} outputs are 0`);
}

test('identityBlock matches the spec steps on known weights (1x5x5x4 input, f=3, filters [2,3,4])', () => {
  const x = inputImage(5, 5, 4);
  const { model, weights, out } = runBlock((X) => identityBlock(X, 3, [2, 3, 4], 2, 'b'), x);
  const c = (n: string) => weights.conv.get(`res2b_branch${n}`)!;
  const b = (n: string) => weights.bn.get(`bn2b_branch${n}`)!;
  // First component: 1x1 valid stride 1, BN, ReLU. Second: f x f same, BN, ReLU. Third: 1x1 valid, BN.
  let m = relu(batchNorm(conv2d(x, c('2a'), 1, 'valid'), b('2a')));
  m = relu(batchNorm(conv2d(m, c('2b'), 1, 'same'), b('2b')));
  m = batchNorm(conv2d(m, c('2c'), 1, 'valid'), b('2c'));
  // Final step: add the input, ReLU.
  assertClose(out, relu(add(m, x)), 'identityBlock');
  model.dispose();
});

test('convolutionalBlock matches the spec steps on known weights (1x5x5x3 input, s=2 -> 3x3x4)', () => {
  const x = inputImage(5, 5, 3);
  const { model, weights, out } = runBlock((X) => convolutionalBlock(X, 3, [2, 3, 4], 3, 'a', 2), x);
  const c = (n: string) => weights.conv.get(`res3a_branch${n}`)!;
  const b = (n: string) => weights.bn.get(`bn3a_branch${n}`)!;
  let m = relu(batchNorm(conv2d(x, c('2a'), 2, 'valid'), b('2a')));
  m = relu(batchNorm(conv2d(m, c('2b'), 1, 'same'), b('2b')));
  m = batchNorm(conv2d(m, c('2c'), 1, 'valid'), b('2c'));
  const shortcut = batchNorm(conv2d(x, c('1'), 2, 'valid'), b('1'));
  assertClose(out, relu(add(m, shortcut)), 'convolutionalBlock');
  assert.deepEqual([out.h, out.w, out.c], [3, 3, 4]);
  model.dispose();
});

test('basic blocks (ResNet-18/34) match their definition, with the asymmetric same padding of stride 2', () => {
  const x = inputImage(6, 6, 3);
  const conv = runBlock((X) => basicConvolutionalBlock(X, 3, [4, 5], 3, 'a', 2), x);
  const c = (n: string) => conv.weights.conv.get(`res3a_branch${n}`)!;
  const b = (n: string) => conv.weights.bn.get(`bn3a_branch${n}`)!;
  let m = relu(batchNorm(conv2d(x, c('2a'), 2, 'same'), b('2a')));
  m = batchNorm(conv2d(m, c('2b'), 1, 'same'), b('2b'));
  const expectedConv = relu(add(m, batchNorm(conv2d(x, c('1'), 2, 'valid'), b('1'))));
  assertClose(conv.out, expectedConv, 'basicConvolutionalBlock');
  conv.model.dispose();

  const y = inputImage(4, 4, 5);
  const id = runBlock((X) => basicIdentityBlock(X, 3, [3, 5], 3, 'b'), y);
  const ci = (n: string) => id.weights.conv.get(`res3b_branch${n}`)!;
  const bi = (n: string) => id.weights.bn.get(`bn3b_branch${n}`)!;
  let n = relu(batchNorm(conv2d(y, ci('2a'), 1, 'same'), bi('2a')));
  n = batchNorm(conv2d(n, ci('2b'), 1, 'same'), bi('2b'));
  assertClose(id.out, relu(add(n, y)), 'basicIdentityBlock');
  id.model.dispose();
});

test('s = 2 halves H and W, rounding up (odd and even sizes); s = 1 and identity blocks keep them', () => {
  const outShape = (h: number, w: number, build: (X: tf.SymbolicTensor) => tf.SymbolicTensor) =>
    build(tf.input({ shape: [h, w, 3] })).shape;
  // A 1x1 valid convolution of stride 2 over n positions gives floor((n - 1) / 2) + 1.
  const cases: [number, number][] = [[15, 8], [16, 8], [8, 4], [7, 4], [2, 1], [1, 1]];
  for (const [n, half] of cases) {
    assert.deepEqual(outShape(n, n + 1, (X) => convolutionalBlock(X, 3, [2, 2, 4], 2, 'a', 2)), [null, half, Math.floor(n / 2) + 1, 4], `bottleneck ${n}`);
    assert.deepEqual(outShape(n, n + 1, (X) => basicConvolutionalBlock(X, 3, [2, 4], 2, 'a', 2)), [null, half, Math.floor(n / 2) + 1, 4], `basic ${n}`);
  }
  assert.deepEqual(outShape(15, 9, (X) => convolutionalBlock(X, 3, [2, 2, 4], 2, 'a', 1)), [null, 15, 9, 4]);
  assert.deepEqual(outShape(15, 9, (X) => convolutionalBlock(X, 3, [2, 2, 4], 2, 'a', 3)), [null, 5, 3, 4]);
  assert.deepEqual(outShape(15, 9, (X) => identityBlock(X, 3, [2, 2, 3], 2, 'b')), [null, 15, 9, 3]);
  assert.deepEqual(outShape(15, 9, (X) => identityBlock(X, 5, [2, 2, 3], 2, 'b')), [null, 15, 9, 3]);
});

test('the blocks name their layers as the spec says and give a clear error on bad arguments', () => {
  const X = tf.input({ shape: [8, 8, 16] });
  const out = convolutionalBlock(X, 3, [4, 4, 16], 4, 'c', 2);
  const model = tf.model({ inputs: X, outputs: out });
  const names = model.layers.map((l) => l.name);
  for (const n of ['2a', '2b', '2c', '1']) {
    assert.ok(names.includes(`res4c_branch${n}`), `res4c_branch${n}`);
    assert.ok(names.includes(`bn4c_branch${n}`), `bn4c_branch${n}`);
  }
  model.dispose();

  const Y = tf.input({ shape: [8, 8, 8] });
  assert.throws(() => identityBlock(Y, 3, [4, 4, 16], 2, 'b'), /input has 8 channels but F3 is 16.*convolutionalBlock/);
  assert.throws(() => basicIdentityBlock(Y, 3, [4, 16], 2, 'b'), /input has 8 channels but F2 is 16/);
  assert.throws(() => identityBlock(Y, 0, [4, 4, 8], 2, 'b'), /f must be a positive integer, got 0/);
  assert.throws(() => identityBlock(Y, 3, [4, 4] as unknown as [number, number, number], 2, 'b'), /filters must be 3 positive integers/);
  assert.throws(() => convolutionalBlock(Y, 3, [4, -1, 8], 2, 'a'), /F2 must be a positive integer, got -1/);
  assert.throws(() => convolutionalBlock(Y, 3, [4, 4, 8], 2, 'a', 0), /s must be a positive integer, got 0/);
  assert.throws(() => convolutionalBlock(Y, 3, [4, 4, 8], 2, ''), /block must be a non-empty alphanumeric string/);
  assert.throws(() => convolutionalBlock(Y, 3, [4, 4, 8], 1.5, 'a'), /stage must be a positive integer/);
  assert.throws(() => identityBlock(tf.input({ shape: [8, 8] }), 3, [4, 4, 8], 2, 'b'), /X must have rank 4/);
});
