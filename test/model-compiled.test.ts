/**
 * Compiled inference (`compileForInference`, and `InferenceModel`, what `foldBatchNorm` returns): on the onednn
 * backend it predicts what tfjs-layers' own executor predicts for the same model (batched and not, every covered
 * layer kind), and what the unfolded model predicts on tfjs's plain `cpu` backend; it says why it does not compile
 * what it does not cover, and those models still predict through tfjs; changed weights are seen; no tensor leaks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeBackendAvailable } from '../src/backend/index.js';
import { InferenceModel, ResNet18, ResNet50, compileForInference, foldBatchNorm } from '../src/model/index.js';
import { mulberry32 } from '../src/data/random.js';
import { TOLERANCE, relErr } from './backend-helpers.js';

const onednn = nativeBackendAvailable();

/** A seeded batch of `n` inputs for `model`, uniform in [-1, 1). */
function batchFor(model: tf.LayersModel, n: number, seed: number): tf.Tensor {
  const shape = [n, ...(model.inputs[0].shape.slice(1) as number[])];
  const next = mulberry32(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 2 * next() - 1), shape);
}

/**
 * Gives every weight of `model` seeded values in [-0.3, 0.3) (variances in [0.5, 1.5)), so no layer is trivial.
 * With `unitGammas`, BatchNorm scales are in [0.5, 1.5) too: with small scales every BatchNorm shrinks the signal, and
 * after a ResNet's stack of them the output hardly depends on the input (nor on the early layers' kernels).
 */
function randomizeWeights(model: tf.LayersModel, seed: number, unitGammas = false): void {
  const next = mulberry32(seed);
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const tensors = layer.weights.map((w) => {
      const n = (w.shape as number[]).reduce((a, b) => a * b, 1);
      const positive = w.originalName.endsWith('moving_variance') || (unitGammas && w.originalName.endsWith('gamma'));
      return tf.tensor(Float32Array.from({ length: n }, () => (positive ? 0.5 + next() : 0.6 * next() - 0.3)), w.shape as number[]);
    });
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}

/** What tfjs-layers' own executor predicts (LayersModel's predict, not InferenceModel's). */
function tfjsPredict(model: tf.LayersModel, x: tf.Tensor, batchSize = 32): Float32Array {
  const y = tf.LayersModel.prototype.predict.call(model, x, { batchSize }) as tf.Tensor;
  const values = y.dataSync() as Float32Array;
  y.dispose();
  return values;
}

/**
 * What tfjs-layers' own executor predicts for `model` on tfjs's plain `cpu` backend (tfjs's own kernels, none of
 * ours); the backend is `onednn` again afterwards.
 */
async function cpuPredict(model: tf.LayersModel, x: tf.Tensor): Promise<Float32Array> {
  await initBackend('cpu');
  try {
    return tfjsPredict(model, x);
  } finally {
    await initBackend('onednn');
  }
}

/** What `model.predict` gives, with its shape. */
function predictOf(model: tf.LayersModel, x: tf.Tensor, batchSize?: number): { values: Float32Array; shape: number[] } {
  const y = model.predict(x, batchSize === undefined ? {} : { batchSize }) as tf.Tensor;
  const out = { values: y.dataSync() as Float32Array, shape: y.shape };
  y.dispose();
  return out;
}

test('a folded ResNet-50 compiles, and predicts what tfjs-layers predicts, batched or not, and what cpu predicts unfolded', { skip: !onednn && 'the onednn addon is not built' }, async () => {
  await initBackend('onednn');
  const model = ResNet50({ inputShape: [40, 40, 3], classes: 4, widthDivisor: 16 });
  randomizeWeights(model, 1);
  const folded = foldBatchNorm(model);
  const x = batchFor(model, 5, 2);
  try {
    assert.ok(folded instanceof InferenceModel);
    assert.equal(folded.getClassName(), 'Model', 'it serializes as a standard functional model');
    const plan = compileForInference(folded, 5);
    if (typeof plan === 'string') assert.fail(plan);
    // 53 convolutions (conv1 with the stem's zero padding folded in), max pooling, average pooling and fc: Flatten
    // is a view.
    assert.equal(plan.calls, 56);
    const reference = tfjsPredict(folded, x);
    // All five at once, in batches of 2 (2, 2, 1: two compiled batch sizes), and predictOnBatch.
    for (const batchSize of [undefined, 2]) {
      const got = predictOf(folded, x, batchSize);
      assert.deepEqual(got.shape, [5, 4]);
      assert.ok(relErr(got.values, reference) < 1e-5, `batchSize ${String(batchSize)}: ${relErr(got.values, reference)}`);
    }
    const onBatch = folded.predictOnBatch(x) as tf.Tensor;
    assert.ok(relErr(onBatch.dataSync(), reference) < 1e-5);
    onBatch.dispose();
    // Rows of a softmax: probabilities.
    for (let r = 0; r < 5; r++) assert.ok(Math.abs(reference.slice(r * 4, r * 4 + 4).reduce((a, b) => a + b, 0) - 1) < 1e-5);

    // Independent of every native kernel: the unfolded model in inference mode on tfjs's cpu backend.
    const compiled = predictOf(folded, x).values;
    await initBackend('cpu');
    const cpu = tfjsPredict(model, x);
    assert.ok(relErr(compiled, cpu) < 1e-4, `against cpu: ${relErr(compiled, cpu)}`);
  } finally {
    await initBackend('onednn');
    tf.dispose([x]);
    folded.dispose();
    model.dispose();
  }
});

test('a folded ResNet-50 backbone (no softmax to saturate) gives features that follow the input and match cpu unfolded', { skip: !onednn && 'the onednn addon is not built' }, async () => {
  // The full model's softmax over 4 classes hides most of what the early layers do: there the check against cpu says
  // little about them. The backbone's pooled features show every layer's work.
  await initBackend('onednn');
  const model = ResNet50({ inputShape: [40, 40, 3], includeTop: false, pooling: 'avg', widthDivisor: 16 });
  randomizeWeights(model, 5, true);
  const folded = foldBatchNorm(model);
  const x = batchFor(model, 3, 6);
  const zeros = tf.zerosLike(x);
  try {
    assert.equal(typeof compileForInference(folded, 3), 'object', 'it compiles');
    const features = predictOf(folded, x).values;
    const ofZeros = predictOf(folded, zeros).values;
    assert.ok(relErr(features, ofZeros) > 100 * TOLERANCE, `the features hardly depend on the input: ${relErr(features, ofZeros)}`);
    await initBackend('cpu');
    const cpu = tfjsPredict(model, x);
    assert.ok(relErr(features, cpu) < TOLERANCE, `against cpu: ${relErr(features, cpu)}`);
  } finally {
    await initBackend('onednn');
    tf.dispose([x, zeros]);
    folded.dispose();
    model.dispose();
  }
});

test('global pooling tops (includeTop: false) compile and agree with tfjs-layers, and with tfjs\'s cpu kernels', { skip: !onednn && 'the onednn addon is not built' }, async () => {
  await initBackend('onednn');
  for (const pooling of ['avg', 'max'] as const) {
    const model = ResNet18({ inputShape: [40, 40, 3], includeTop: false, pooling, widthDivisor: 16 });
    randomizeWeights(model, 3, true);
    const folded = foldBatchNorm(model);
    const x = batchFor(model, 3, 4);
    const zeros = tf.zerosLike(x);
    try {
      assert.notEqual(typeof compileForInference(folded, 3), 'string', pooling);
      const got = predictOf(folded, x);
      assert.equal(got.shape.length, 2, pooling);
      // The comparisons below see every layer: the output follows the input.
      assert.ok(relErr(got.values, predictOf(folded, zeros).values) > 100 * TOLERANCE, `${pooling}: the output hardly depends on the input`);
      assert.ok(relErr(got.values, tfjsPredict(folded, x)) < 1e-5, pooling);
      // Independent of the native kernels, which tfjs-layers' executor above also calls on onednn.
      const cpu = await cpuPredict(folded, x);
      assert.ok(relErr(got.values, cpu) <= TOLERANCE, `${pooling} against cpu: ${relErr(got.values, cpu)}`);
    } finally {
      tf.dispose([x, zeros]);
      folded.dispose();
      model.dispose();
    }
  }
});

/**
 * A small graph with each other covered layer kind: asymmetric zero padding, a strided 'same' convolution without
 * bias and with elu, both pooling kinds with 'same' and 'valid' padding, a relu Activation, an Add of two branches,
 * Flatten, a relu Dense and a softmax Dense.
 */
function mixedModel(): tf.LayersModel {
  const input = tf.input({ shape: [9, 11, 3] });
  const padded = tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 3]] }).apply(input) as tf.SymbolicTensor;
  const conv = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, activation: 'elu' }).apply(padded) as tf.SymbolicTensor;
  const a = tf.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same' }).apply(conv) as tf.SymbolicTensor;
  const b = tf.layers.activation({ activation: 'relu' }).apply(tf.layers.conv2d({ filters: 8, kernelSize: 1 }).apply(conv)) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
  const pooled = tf.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'valid' }).apply(sum) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(pooled) as tf.SymbolicTensor;
  const hidden = tf.layers.dense({ units: 5, activation: 'relu' }).apply(flat) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(hidden) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

test('every covered layer kind compiles and agrees with tfjs-layers and with tfjs\'s cpu kernels; changed weights are seen', { skip: !onednn && 'the onednn addon is not built' }, async () => {
  await initBackend('onednn');
  const model = mixedModel();
  randomizeWeights(model, 5);
  const folded = foldBatchNorm(model);
  const x = batchFor(model, 4, 6);
  try {
    assert.notEqual(typeof compileForInference(folded, 4), 'string', String(compileForInference(folded, 4)));
    const compiled = predictOf(folded, x).values;
    assert.ok(relErr(compiled, tfjsPredict(folded, x)) < 1e-5);
    // Independent of the native conv, pooling and matmul kernels, which tfjs-layers' executor above also calls on
    // onednn: the elu convolution without bias, 'same' max pooling and the softmax Dense on tfjs's own kernels.
    const cpu = await cpuPredict(folded, x);
    assert.ok(relErr(compiled, cpu) <= TOLERANCE, `against cpu: ${relErr(compiled, cpu)}`);
    // New weights: the next predict compiles again and follows them.
    randomizeWeights(folded, 7);
    const after = predictOf(folded, x).values;
    assert.ok(relErr(after, tfjsPredict(folded, x)) < 1e-5);
    assert.ok(relErr(after, tfjsPredict(model, x)) > 1e-3, 'the original model still has the old weights');
    // Bad arguments get tfjs's own errors.
    assert.throws(() => folded.predict(x, { batchSize: 0 }), /batchSize is required to be a positive integer/);
    assert.throws(() => folded.predict(tf.zeros([1, 9, 10, 3])), /expected input.* to have shape \[null,9,11,3\]/);
    // Repeated predictions leave no tensor behind.
    predictOf(folded, x);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) predictOf(folded, x, 3);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    x.dispose();
    folded.dispose();
    model.dispose();
  }
});

test('a zero padding that only a valid convolution reads is folded into it; one read twice is kept', { skip: !onednn && 'the onednn addon is not built' }, async () => {
  await initBackend('onednn');
  const build = (twice: boolean): tf.LayersModel => {
    const input = tf.input({ shape: [7, 7, 2] });
    const padded = tf.layers.zeroPadding2d({ padding: [[2, 1], [0, 2]] }).apply(input) as tf.SymbolicTensor;
    const conv = (strides: number) => tf.layers.conv2d({ filters: 3, kernelSize: 3, strides, padding: 'valid', activation: 'relu' });
    let top = conv(2).apply(padded) as tf.SymbolicTensor;
    if (twice) top = tf.layers.add().apply([conv(2).apply(padded) as tf.SymbolicTensor, top]) as tf.SymbolicTensor;
    const flat = tf.layers.flatten().apply(top) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 4, activation: 'softmax' }).apply(flat) as tf.SymbolicTensor });
  };
  for (const twice of [false, true]) {
    const model = build(twice);
    randomizeWeights(model, 10);
    const folded = foldBatchNorm(model);
    const x = batchFor(model, 3, 11);
    try {
      const plan = compileForInference(folded, 3);
      if (typeof plan === 'string') assert.fail(plan);
      // Once: the convolution (padding folded in) and fc. Twice: the padding, two convolutions, the Add and fc.
      assert.equal(plan.calls, twice ? 5 : 2);
      assert.ok(relErr(predictOf(folded, x).values, tfjsPredict(folded, x)) < 1e-5, `read twice: ${twice}`);
    } finally {
      x.dispose();
      folded.dispose();
      model.dispose();
    }
  }
});

test('what it does not cover is named, and still predicts through tfjs; on cpu nothing is compiled', { skip: !onednn && 'the onednn addon is not built' }, async () => {
  await initBackend('onednn');
  const input = tf.input({ shape: [6, 6, 2] });
  const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3 }).apply(input) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(conv) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: 3 }).apply(flat) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn_after_dense' }).apply(dense) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: bn });
  randomizeWeights(model, 8);
  const folded = foldBatchNorm(model);
  const x = batchFor(model, 2, 9);
  try {
    assert.equal(compileForInference(folded, 2), 'layer bn_after_dense (BatchNormalization) is not covered');
    assert.ok(relErr(predictOf(folded, x).values, tfjsPredict(model, x)) < 1e-5);
    await initBackend('cpu');
    assert.equal(compileForInference(folded, 2), 'backend cpu is not onednn');
    assert.ok(relErr(predictOf(folded, x).values, tfjsPredict(model, x)) < 1e-5);
  } finally {
    await initBackend('onednn');
    x.dispose();
    folded.dispose();
    model.dispose();
  }
});

test('the compiled batch sizes of a folded model share their buffers, and predict bit for bit as plans of their own', { skip: !onednn && 'the onednn addon is not built' }, async () => {
  await initBackend('onednn');
  const model = ResNet50({ inputShape: [40, 40, 3], classes: 4, widthDivisor: 16 });
  randomizeWeights(model, 11, true);
  const folded = foldBatchNorm(model);
  const x = batchFor(folded, 8, 12);
  // Plans of their own (fresh buffers each), for batches of 5 and 3.
  const expected: number[] = [];
  for (const [start, n] of [[0, 5], [5, 3]]) {
    const plan = compileForInference(folded, n);
    assert.ok(typeof plan !== 'string', `compiles: ${String(plan)}`);
    const rows = x.slice([start, 0, 0, 0], [n, -1, -1, -1]);
    expected.push(...plan.run(rows.dataSync() as Float32Array));
    rows.dispose();
  }
  const plans = (): number => (tf.memory() as tf.MemoryInfo & { numBytesInNativePlans: number }).numBytesInNativePlans;
  const start = plans();
  const five = x.slice([0, 0, 0, 0], [5, -1, -1, -1]);
  const first = predictOf(folded, five, 5);
  five.dispose();
  const held = plans() - start;
  // 8 images in batches of 5: a batch of 5, then one of 3, which runs in the buffers the batch of 5 left its values in.
  const both = predictOf(folded, x, 5);
  assert.ok(plans() - start < held * 1.1, `a second batch size added ${plans() - start - held} bytes to ${held}`);
  assert.deepEqual(Array.from(both.values), expected);
  assert.deepEqual(Array.from(first.values), expected.slice(0, first.values.length));
  x.dispose();
  folded.dispose();
  model.dispose();
});
