/**
 * BatchNorm folding for inference (`foldBatchNorm`): a folded model predicts what the original predicts in inference
 * mode, has no BatchNormalization left after a convolution, fuses the ReLUs and the residual Add + ReLU it can
 * (Conv2DResidual, on the onednn and the cpu backend, and through a save and load), keeps every other layer, leaves
 * the original untouched and leaks no tensors. The tiny model's folded weights are derived by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { Conv2DResidual, ResNet18, ResNet50, foldBatchNorm, foldSummary } from '../src/model/index.js';
import { mulberry32 } from '../src/data/random.js';

const backend = await initBackend('auto');

/** A seeded uniform generator in [0, 1), so failures reproduce. */
const rng = mulberry32;

/** `n` seeded values uniform in [lo, hi). */
function uniform(next: () => number, n: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * next());
}

/**
 * Gives every BatchNormalization of `model` non-trivial seeded parameters and statistics: gamma in [0.5, 1.5),
 * beta and the moving mean in [-0.5, 0.5), the moving variance in [0.5, 2) (positive). A freshly built model has
 * gamma 1, beta 0, mean 0 and variance 1, which would make folding nearly a no-op.
 */
function randomizeBatchNorms(model: tf.LayersModel, seed: number): void {
  const next = rng(seed);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const values = layer.weights.map((w) => {
      const n = w.shape.reduce((a, b) => (a ?? 1) * (b ?? 1), 1) as number;
      const short = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
      if (short === 'gamma') return uniform(next, n, 0.5, 1.5);
      if (short === 'moving_variance') return uniform(next, n, 0.5, 2);
      return uniform(next, n, -0.5, 0.5); // beta, moving_mean
    });
    const tensors = values.map((v, i) => tf.tensor(v, layer.weights[i].shape as number[]));
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}

/** max|a - b| / max(1, max|b|): the relative error of `a` against the reference `b`. */
function relativeError(a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** The original's and the folded model's predictions on the same seeded random batch. */
function predictBoth(original: tf.LayersModel, folded: tf.LayersModel, batch: number, seed: number): [Float32Array, Float32Array] {
  const shape = original.inputs[0].shape.slice(1) as number[];
  const x = tf.randomNormal([batch, ...shape], 0, 1, 'float32', seed);
  try {
    const [a, b] = [original, folded].map((m) => {
      const y = m.predict(x) as tf.Tensor;
      const values = y.dataSync() as Float32Array;
      y.dispose();
      return values;
    });
    return [a, b];
  } finally {
    x.dispose();
  }
}

/** Number of layers of each class. */
function countByClass(model: tf.LayersModel): Map<string, number> {
  const counts = new Map<string, number>();
  for (const l of model.layers) counts.set(l.getClassName(), (counts.get(l.getClassName()) ?? 0) + 1);
  return counts;
}

/** The class names of the layers feeding `layer` inside `model`. */
function inboundClasses(model: tf.LayersModel, layer: tf.layers.Layer): string[] {
  const modelNodes = new Set(Object.values(model.nodesByDepth).flat());
  return layer.inboundNodes.filter((n) => modelNodes.has(n)).flatMap((n) => n.inboundLayers.map((l) => l.getClassName()));
}

/**
 * Checks the structure of a folded ResNet: no BN, the same convolutions by name, each block's residual Add and the
 * ReLU after it fused into a Conv2DResidual, and no Activation layer left.
 */
function checkFoldedResNet(original: tf.LayersModel, folded: tf.LayersModel, convs: number, blocks: number): void {
  const before = countByClass(original);
  const after = countByClass(folded);
  assert.equal(before.get('BatchNormalization'), convs, 'every conv of a ResNet is followed by a BN');
  assert.equal(before.get('Conv2D'), convs);
  assert.equal(before.get('Add'), blocks);
  assert.equal(after.get('BatchNormalization') ?? 0, 0);
  assert.equal(after.get('Conv2D'), convs - blocks);
  assert.equal(after.get('Conv2DResidual'), blocks);
  // Every ReLU after a conv's BN is fused into the conv, and every Add + ReLU into the conv before it.
  assert.equal(after.get('Activation') ?? 0, 0);
  assert.equal(after.get('Add') ?? 0, 0);
  for (const l of folded.layers.filter((l) => l.getClassName() === 'Conv2DResidual')) {
    assert.equal(l.getConfig().activation, 'relu');
    assert.equal(inboundClasses(folded, l).length, 2, `${l.name} reads x and the shortcut`);
  }
  const isConv = (l: tf.layers.Layer) => l.getClassName() === 'Conv2D' || l.getClassName() === 'Conv2DResidual';
  const convNames = (m: tf.LayersModel) => m.layers.filter(isConv).map((l) => l.name);
  assert.deepEqual(convNames(folded).sort(), convNames(original).sort());
  assert.ok(convNames(folded).includes('res2a_branch2a'));
  // The other layers are all still there, by name.
  const names = new Set(folded.layers.map((l) => l.name));
  for (const l of original.layers) {
    const cls = l.getClassName();
    if (cls !== 'BatchNormalization' && cls !== 'Activation' && cls !== 'Add') assert.ok(names.has(l.name), `${l.name} kept`);
  }
  assert.equal(folded.name, original.name);
  assert.equal(folded.countParams(), original.countParams() - 4 * sumBnChannels(original) + biaslessConvChannels(original));
}

/** Total channels normalized by BN layers (each has 4 parameters per channel). */
function sumBnChannels(model: tf.LayersModel): number {
  return model.layers.filter((l) => l.getClassName() === 'BatchNormalization').reduce((s, l) => s + l.countParams() / 4, 0);
}

/** Output channels of the convs without a bias (folding gives them one). */
function biaslessConvChannels(model: tf.LayersModel): number {
  return model.layers
    .filter((l) => l.getClassName() === 'Conv2D' && l.getConfig().useBias === false)
    .reduce((s, l) => s + Number(l.getConfig().filters), 0);
}

test(`small ResNet-50: the folded model predicts what the original does (backend ${backend})`, () => {
  for (const includeTop of [true, false]) {
    const original = ResNet50({ inputShape: [40, 40, 3], widthDivisor: 16, includeTop });
    randomizeBatchNorms(original, 50);
    const folded = foldBatchNorm(original);
    try {
      checkFoldedResNet(original, folded, 53, 16);
      const summary = foldSummary(folded);
      assert.equal(summary?.foldedBatchNorms.length, 53);
      assert.equal(summary?.fusedActivations.length, 1 + 16 * 2); // the stem's, and two per block
      assert.deepEqual(summary?.foldedBatchNorms[0], { batchNorm: 'bn_conv1', conv: 'conv1' });
      assert.equal(folded.getLayer('res2a_branch2a').getConfig().activation, 'relu');
      assert.equal(summary?.fusedResiduals.length, 16);
      const first = summary?.fusedResiduals[0];
      assert.equal(first?.conv, 'res2a_branch2c');
      assert.equal(original.getLayer(first?.add ?? '').getClassName(), 'Add');
      assert.equal(original.getLayer(first?.activation ?? '').getClassName(), 'Activation');
      // The block's last conv adds the shortcut (here the projection res2a_branch1) and applies the block's ReLU.
      const last = folded.getLayer('res2a_branch2c');
      assert.equal(last.getClassName(), 'Conv2DResidual');
      assert.equal(last.getConfig().activation, 'relu');
      assert.deepEqual(last.inboundNodes[0].inboundLayers.map((l) => l.name), ['res2a_branch2b', 'res2a_branch1']);
      // Softmax probabilities with the top; without it, the raw stage 5 activations (a stricter comparison).
      const [a, b] = predictBoth(original, folded, 4, 1);
      const err = relativeError(b, a);
      assert.ok(err <= 1e-4, `includeTop ${includeTop}: relative error ${err}`);
      if (!includeTop) assert.ok(a.some((v) => Math.abs(v) > 0.1), 'the backbone output is not trivially small');
    } finally {
      original.dispose();
      folded.dispose();
    }
  }
});

test('small ResNet-18: the folded model predicts what the original does', () => {
  const original = ResNet18({ inputShape: [40, 40, 3], widthDivisor: 16, includeTop: false, pooling: 'avg' });
  randomizeBatchNorms(original, 18);
  const folded = foldBatchNorm(original);
  try {
    // 1 stem conv, 8 basic blocks of 2 convs, 3 projection shortcuts.
    checkFoldedResNet(original, folded, 1 + 16 + 3, 8);
    const [a, b] = predictBoth(original, folded, 3, 2);
    const err = relativeError(b, a);
    assert.ok(err <= 1e-4, `relative error ${err}`);
  } finally {
    original.dispose();
    folded.dispose();
  }
});

/** Input 1x1x1 → Conv2D (1 filter, 1x1) → BN → ReLU, with the given weights. */
function tinyModel(useBias: boolean, bn: { scale: boolean; center: boolean }, relu: 'activation' | 'layer', sequential = false): tf.LayersModel {
  const conv = tf.layers.conv2d({ filters: 1, kernelSize: 1, useBias, name: 'tiny_conv', inputShape: sequential ? [1, 1, 1] : undefined });
  const norm = tf.layers.batchNormalization({ axis: 3, epsilon: 1e-3, name: 'tiny_bn', ...bn });
  const act = relu === 'activation' ? tf.layers.activation({ activation: 'relu', name: 'tiny_relu' }) : tf.layers.reLU({ name: 'tiny_relu' });
  let model: tf.LayersModel;
  if (sequential) {
    model = tf.sequential({ layers: [conv, norm, act], name: 'tiny' });
  } else {
    const input = tf.input({ shape: [1, 1, 1] });
    const output = act.apply(norm.apply(conv.apply(input))) as tf.SymbolicTensor;
    model = tf.model({ inputs: input, outputs: output, name: 'tiny' });
  }
  const weights: tf.Tensor[] = [tf.tensor4d([2], [1, 1, 1, 1])];
  if (useBias) weights.push(tf.tensor1d([1]));
  conv.setWeights(weights);
  const bnWeights = [...(bn.scale ? [3] : []), ...(bn.center ? [0.5] : []), 1, 3].map((v) => tf.tensor1d([v]));
  norm.setWeights(bnWeights);
  tf.dispose([...weights, ...bnWeights]);
  return model;
}

test('tiny model: the folded kernel and bias are the ones derived by hand, and predict applies them with a ReLU', () => {
  // BN: gamma 3, beta 0.5, mean 1, var 3, eps 1e-3 after conv kernel 2, bias 1:
  // scale = 3 / sqrt(3.001); kernel' = 2 * scale; bias' = (1 - 1) * scale + 0.5 = 0.5.
  const scale = 3 / Math.sqrt(3.001);
  const xs = [-2, -0.5, 0, 0.25, 1, 3];
  for (const variant of [{ sequential: false, relu: 'activation' as const }, { sequential: true, relu: 'layer' as const }]) {
    const original = tinyModel(true, { scale: true, center: true }, variant.relu, variant.sequential);
    const folded = foldBatchNorm(original);
    try {
      assert.deepEqual(folded.layers.map((l) => l.getClassName()), ['InputLayer', 'Conv2D']);
      const conv = folded.getLayer('tiny_conv');
      assert.equal(conv.getConfig().activation, 'relu');
      const [k, b] = conv.getWeights().map((w) => w.dataSync());
      assert.ok(Math.abs(k[0] - 2 * scale) < 1e-6, `kernel ${k[0]} vs ${2 * scale}`);
      assert.ok(Math.abs(b[0] - 0.5) < 1e-6, `bias ${b[0]}`);
      const y = tf.tidy(() => (folded.predict(tf.tensor4d(xs, [xs.length, 1, 1, 1])) as tf.Tensor).dataSync());
      xs.forEach((x, i) => {
        const expected = Math.max(0, (2 * x + 1 - 1) * scale + 0.5);
        assert.ok(Math.abs(y[i] - expected) < 1e-5, `x ${x}: ${y[i]} vs ${expected}`);
      });
    } finally {
      original.dispose();
      folded.dispose();
    }
  }
});

test('tiny model: a conv without bias gets one, and BN without gamma or beta folds with gamma 1, beta 0', () => {
  // kernel 2, no bias; BN with only mean 1, var 3: scale = 1 / sqrt(3.001), kernel' = 2 * scale, bias' = -scale.
  const scale = 1 / Math.sqrt(3.001);
  const original = tinyModel(false, { scale: false, center: false }, 'activation');
  const folded = foldBatchNorm(original);
  try {
    const conv = folded.getLayer('tiny_conv');
    assert.equal(conv.getConfig().useBias, true);
    const [k, b] = conv.getWeights().map((w) => w.dataSync());
    assert.ok(Math.abs(k[0] - 2 * scale) < 1e-6);
    assert.ok(Math.abs(b[0] + scale) < 1e-6);
    const y = tf.tidy(() => (folded.predict(tf.tensor4d([0.25, 2], [2, 1, 1, 1])) as tf.Tensor).dataSync());
    assert.ok(Math.abs(y[0] - Math.max(0, (0.5 - 1) * scale)) < 1e-6); // relu of a negative: 0
    assert.ok(Math.abs(y[1] - (4 - 1) * scale) < 1e-5);
  } finally {
    original.dispose();
    folded.dispose();
  }
});

test('folding leaves the original unchanged and adds no tensors beyond the new model weights', () => {
  const original = ResNet50({ inputShape: [40, 40, 3], widthDivisor: 16 });
  randomizeBatchNorms(original, 7);
  try {
    const weightsBefore = original.getWeights().map((w) => Float32Array.from(w.dataSync()));
    const [predBefore] = predictBoth(original, original, 2, 3);
    const tensorsBefore = tf.memory().numTensors;
    const folded = foldBatchNorm(original);
    assert.equal(tf.memory().numTensors, tensorsBefore + folded.weights.length);
    folded.dispose();
    assert.equal(tf.memory().numTensors, tensorsBefore);
    // The original's layers, weights and predictions are as before (also after the folded model is disposed).
    assert.equal(countByClass(original).get('BatchNormalization'), 53);
    original.getWeights().forEach((w, i) => assert.deepEqual(w.dataSync(), weightsBefore[i], original.weights[i].name));
    const [predAfter] = predictBoth(original, original, 2, 3);
    assert.deepEqual(predAfter, predBefore);
  } finally {
    original.dispose();
  }
});

test('a BN that does not follow a conv alone is kept: after Dense, on the input, after a conv read twice', () => {
  const input = tf.input({ shape: [4, 4, 2] });
  const onInput = tf.layers.batchNormalization({ name: 'bn_input' }).apply(input) as tf.SymbolicTensor;
  const conv = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'conv_shared' }).apply(onInput) as tf.SymbolicTensor;
  const afterConv = tf.layers.batchNormalization({ name: 'bn_conv_shared' }).apply(conv) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([afterConv, conv]) as tf.SymbolicTensor; // conv is read twice
  const flat = tf.layers.flatten().apply(sum) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: 3, name: 'dense' }).apply(flat) as tf.SymbolicTensor;
  const afterDense = tf.layers.batchNormalization({ name: 'bn_dense' }).apply(dense) as tf.SymbolicTensor;
  const original = tf.model({ inputs: input, outputs: afterDense });
  randomizeBatchNorms(original, 3);
  const folded = foldBatchNorm(original);
  try {
    assert.deepEqual(folded.layers.map((l) => l.name), original.layers.map((l) => l.name));
    assert.equal(foldSummary(folded)?.foldedBatchNorms.length, 0);
    const [a, b] = predictBoth(original, folded, 2, 4);
    assert.ok(relativeError(b, a) <= 1e-6);
  } finally {
    original.dispose();
    folded.dispose();
  }
});

test('residual fusion: conv + Add + ReLU becomes one Conv2DResidual; on cpu too, and it saves and loads', async () => {
  const input = tf.input({ shape: [5, 5, 4] });
  const a = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv_a' }).apply(input) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'conv_b', useBias: false }).apply(a) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([input, b]) as tf.SymbolicTensor; // the conv is the second input
  const out = tf.layers.activation({ activation: 'relu', name: 'out' }).apply(sum) as tf.SymbolicTensor;
  // An Add of two non-convolutions stays, and so does one whose conv output is also read elsewhere.
  const c = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'conv_c' }).apply(out) as tf.SymbolicTensor;
  const kept = tf.layers.add({ name: 'kept' }).apply([c, out]) as tf.SymbolicTensor;
  const twice = tf.layers.multiply({ name: 'twice' }).apply([kept, c]) as tf.SymbolicTensor;
  const original = tf.model({ inputs: input, outputs: twice });
  const folded = foldBatchNorm(original);
  try {
    assert.deepEqual(foldSummary(folded)?.fusedResiduals, [{ add: 'sum', activation: 'out', conv: 'conv_b' }]);
    const fused = folded.getLayer('conv_b');
    assert.equal(fused.getClassName(), 'Conv2DResidual');
    assert.deepEqual(fused.inboundNodes[0].inboundLayers.map((l) => l.name), ['conv_a', folded.inputLayers[0].name]);
    assert.equal(folded.getLayer('kept').getClassName(), 'Add');
    for (const name of [backend, 'cpu']) {
      await initBackend(name as 'onednn' | 'cpu');
      const [p, q] = predictBoth(original, folded, 2, 5);
      assert.ok(relativeError(q, p) <= 1e-5, `backend ${name}`);
    }
    await initBackend(backend as 'onednn' | 'cpu');
    // The layer serializes: the folded model saves and loads, and predicts the same.
    let artifacts!: tf.io.ModelArtifacts;
    await folded.save(tf.io.withSaveHandler(async (a2) => {
      artifacts = a2;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    try {
      assert.equal(loaded.getLayer('conv_b').getClassName(), 'Conv2DResidual');
      const [p, q] = predictBoth(folded, loaded, 2, 6);
      assert.deepEqual(q, p);
    } finally {
      loaded.dispose();
    }
  } finally {
    original.dispose();
    folded.dispose();
  }
});

test('with residuals: false the folded model has standard tfjs layers only, and the same predictions', () => {
  const original = ResNet50({ inputShape: [40, 40, 3], widthDivisor: 16 });
  randomizeBatchNorms(original, 9);
  const folded = foldBatchNorm(original, { residuals: false });
  try {
    const classes = countByClass(folded);
    assert.equal(classes.get('Conv2DResidual'), undefined);
    assert.equal(classes.get('Add'), 16);
    assert.equal(classes.get('Activation'), 16); // the ReLUs after the additions
    assert.deepEqual(foldSummary(folded)?.fusedResiduals, []);
    const [a, b] = predictBoth(original, folded, 2, 8);
    assert.ok(relativeError(b, a) <= 1e-4);
  } finally {
    original.dispose();
    folded.dispose();
  }
});

test('Conv2DResidual takes only a linear or relu activation', () => {
  assert.throws(() => new Conv2DResidual({ filters: 2, kernelSize: 1, activation: 'sigmoid' as 'relu', name: 'r' }),
    /Conv2DResidual r: activation must be 'linear' or 'relu', got 'sigmoid'/);
});
