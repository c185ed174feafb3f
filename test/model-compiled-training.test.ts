/**
 * The compiled training step (src/model/compiled_training.ts) against tfjs's own training: `trainOnBatch` on tfjs's
 * pure-JS cpu backend, from the same weights on the same batch. With plain SGD a weight's change is the learning
 * rate times its gradient, so the weights after one step compare the gradients of every layer; BatchNorm's moving
 * statistics, the loss and the accuracy are compared too. Also: the loss and its gradient against tfjs-layers'
 * categorical cross-entropy and tf.grad; the models and settings it refuses, with the reason; CompiledTrainer's
 * fall-back to trainOnBatch; flat tensor counts over steps.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { buildResNet, CompiledTrainer, compileTrainingStep, crossEntropy, type ArchName } from '../src/model/index.js';
import { randomValues, relErr, SKIP_NATIVE } from './backend-helpers.js';

/** Relative tolerance of a weight's change against the cpu backend's (float32 sums in another order). */
const TOLERANCE = 1e-4;

interface Setup {
  arch: ArchName;
  widthDivisor: number;
  size: number;
  batch: number;
}

/** A ResNet compiled for training with `optimizer`, its weights set from a seed (gammas and variances positive). */
function model(s: Setup, optimizer: () => tf.Optimizer, seed = 1): tf.LayersModel {
  const m = buildResNet(s.arch, { inputShape: [s.size, s.size, 3], classes: 6, widthDivisor: s.widthDivisor });
  m.compile({ optimizer: optimizer(), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  m.setWeights(m.weights.map((w, i) => tf.tidy(() => {
    const values = tf.tensor(randomValues(tf.util.sizeFromShape(w.shape as number[]), seed * 1000 + i, 0.2), w.shape as number[]);
    return /gamma|moving_variance/.test(w.name) ? tf.add(tf.abs(values), 0.8) : values;
  })));
  return m;
}

/** One batch: seeded images and labels cycling through the 6 classes, as arrays. */
function batchOf(s: Setup): { x: Float32Array; y: Float32Array } {
  const x = randomValues(s.batch * s.size * s.size * 3, 7, 1);
  const y = new Float32Array(s.batch * 6);
  for (let i = 0; i < s.batch; i++) y[i * 6 + (i % 6)] = 1;
  return { x, y };
}

/**
 * Weights by the first model's names (a second model built in the same process gets other unique variable names,
 * its weights come in the same order).
 */
function weightsOf(m: tf.LayersModel, names: string[] = m.weights.map((w) => w.name)): Map<string, Float32Array> {
  return new Map(m.weights.map((w, i) => [names[i], Float32Array.from(w.read().dataSync())]));
}

/**
 * The biases of convolutions that a BatchNormalization alone reads: the normalization removes them, so their true
 * gradient is 0 and both implementations give rounding noise there (about 1e-9).
 */
function biasesBeforeBatchNorm(m: tf.LayersModel): Set<string> {
  const names = new Set<string>();
  for (const layer of m.layers) {
    if (layer.getClassName() !== 'Conv2D') continue;
    const readers = m.layers.filter((l) => l.inboundNodes.some((n) => n.inboundLayers.includes(layer)));
    if (readers.length === 1 && readers[0].getClassName() === 'BatchNormalization' && layer.weights[1] !== undefined) names.add(layer.weights[1].name);
  }
  return names;
}

const SETUPS: Setup[] = [
  { arch: 'resnet50', widthDivisor: 16, size: 40, batch: 4 },
  { arch: 'resnet18', widthDivisor: 8, size: 37, batch: 3 },
];

describe('a compiled training step trains as trainOnBatch on the cpu backend', { skip: SKIP_NATIVE }, () => {
  for (const s of SETUPS) {
    test(`${s.arch} / ${s.widthDivisor} at ${s.size}x${s.size}, batch ${s.batch}: loss, accuracy, every gradient and the moving statistics`, async () => {
      const lr = 0.5;
      const { x, y } = batchOf(s);

      await initBackend('cpu');
      const reference = model(s, () => tf.train.sgd(lr));
      const before = weightsOf(reference);
      const xs = tf.tensor4d(x, [s.batch, s.size, s.size, 3]);
      const ys = tf.tensor2d(y, [s.batch, 6]);
      const [cpuLoss, cpuAcc] = (await reference.trainOnBatch(xs, ys)) as number[];
      const expected = weightsOf(reference);
      const names = reference.weights.map((w) => w.name);
      const zeroGradient = biasesBeforeBatchNorm(reference);
      tf.dispose([xs, ys]);
      reference.dispose();

      await initBackend('onednn');
      const compiled = model(s, () => tf.train.sgd(lr));
      const step = compileTrainingStep(compiled, s.batch);
      assert.ok(typeof step !== 'string', `compiled: ${String(step)}`);
      const { loss, acc } = step.run(x, y);
      const actual = weightsOf(compiled, names);
      compiled.dispose();

      assert.ok(Math.abs(loss - cpuLoss) <= 1e-5 * Math.abs(cpuLoss), `loss ${loss} vs ${cpuLoss}`);
      assert.equal(acc, cpuAcc);
      let compared = 0;
      for (const [name, after] of expected) {
        const start = before.get(name) as Float32Array;
        const got = actual.get(name) as Float32Array;
        let maxDelta = 0;
        let maxError = 0;
        let maxGot = 0;
        for (let i = 0; i < after.length; i++) {
          maxDelta = Math.max(maxDelta, Math.abs(after[i] - start[i]));
          maxGot = Math.max(maxGot, Math.abs(got[i] - start[i]));
          maxError = Math.max(maxError, Math.abs(got[i] - after[i]));
        }
        if (zeroGradient.has(name)) {
          // lr times a gradient of 0 plus rounding noise on both sides (other weights move by about 1e-1).
          assert.ok(maxDelta <= 1e-4 && maxGot <= 1e-4, `${name}: changed by ${maxGot} (cpu ${maxDelta}), its gradient is 0`);
          continue;
        }
        assert.ok(maxDelta > 0 || /moving/.test(name), `${name} changed on cpu`);
        assert.ok(maxError <= TOLERANCE * Math.max(maxDelta, 1e-6), `${name}: change off by ${maxError}, cpu's change up to ${maxDelta}`);
        compared++;
      }
      assert.ok(compared > 40, `${compared} weights compared`);
    });
  }

  test('Adam through the model\'s own optimizer: the same losses as trainOnBatch on onednn over three steps, state included', async () => {
    await initBackend('onednn');
    const s = SETUPS[0];
    const { x, y } = batchOf(s);
    // A small rate: Adam's first steps move every weight by about the rate whatever its gradient's size, so tiny
    // float32 differences in near-zero gradients grow quickly with a large one (as between tfjs's cpu and onednn).
    const a = model(s, () => tf.train.adam(1e-4));
    const b = model(s, () => tf.train.adam(1e-4));
    const xs = tf.tensor4d(x, [s.batch, s.size, s.size, 3]);
    const ys = tf.tensor2d(y, [s.batch, 6]);
    const step = compileTrainingStep(b, s.batch);
    assert.ok(typeof step !== 'string', String(step));
    for (let i = 0; i < 3; i++) {
      const [expected] = (await a.trainOnBatch(xs, ys)) as number[];
      const { loss } = step.run(x, y);
      assert.ok(Math.abs(loss - expected) <= 1e-4 * expected, `step ${i}: ${loss} vs ${expected}`);
    }
    // The optimizer's state is the one trainOnBatch builds: moments per trainable weight, in the same order.
    const stateA = await a.optimizer.getWeights();
    const stateB = await b.optimizer.getWeights();
    // Named after each model's own variables (unique per process), in the same order.
    const rename = new Map(a.trainableWeights.map((w, i) => [(w.read() as tf.Variable).name, (b.trainableWeights[i].read() as tf.Variable).name]));
    assert.deepEqual(stateB.map((w) => w.name), stateA.map((w) => w.name.replace(/^(.*)\/([mv])$/, (_, v: string, k: string) => `${rename.get(v) ?? '?'}/${k}`)));
    assert.deepEqual(stateB.map((w) => w.tensor.shape), stateA.map((w) => w.tensor.shape));
    assert.equal(stateB.length, 1 + 2 * b.trainableWeights.length);
    tf.dispose([xs, ys]);
    a.dispose();
    b.dispose();
  });

  test('numTensors stays flat over steps, and the step keeps no tensor', async () => {
    await initBackend('onednn');
    const s = SETUPS[1];
    const m = model(s, () => tf.train.adam(1e-3));
    const trainer = new CompiledTrainer(m);
    const { x, y } = batchOf(s);
    const xs = tf.tensor4d(x, [s.batch, s.size, s.size, 3]);
    const ys = tf.tensor2d(y, [s.batch, 6]);
    await trainer.trainOnBatch(xs, ys);
    const start = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) await trainer.trainOnBatch(xs, ys);
    assert.equal(tf.memory().numTensors, start);
    assert.ok(typeof trainer.stepFor(s.batch) !== 'string', 'it ran compiled');
    tf.dispose([xs, ys]);
    m.dispose();
  });
});

/** A small functional model's input and output, made with fresh layers. */
type Graph = () => { input: tf.SymbolicTensor; output: tf.SymbolicTensor };

const L = tf.layers;
const conv3 = (filters: number, o: Record<string, unknown> = {}): tf.layers.Layer => L.conv2d({ filters, kernelSize: 3, padding: 'same', ...o });
const linear = (): tf.layers.Layer => L.activation({ activation: 'linear' });
const relu = (): tf.layers.Layer => L.activation({ activation: 'relu' });
const softmaxOf = (t: tf.SymbolicTensor): tf.SymbolicTensor => L.dense({ units: 3, activation: 'softmax' }).apply(L.flatten().apply(t)) as tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, input: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor => layer.apply(input) as tf.SymbolicTensor;

/** A compiled functional model of `graph` with seeded weights. */
function graphModel(graph: Graph): tf.LayersModel {
  const { input, output } = graph();
  const m = tf.model({ inputs: input, outputs: output });
  m.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  m.setWeights(m.weights.map((w, i) => tf.tidy(() => {
    const values = tf.tensor(randomValues(tf.util.sizeFromShape(w.shape as number[]), 2000 + i, 0.5), w.shape as number[]);
    return /gamma|moving_variance/.test(w.name) ? tf.add(tf.abs(values), 0.8) : values;
  })));
  return m;
}

/**
 * One SGD step of `graph` through trainOnBatch on cpu and compiled on onednn: the same loss and weight changes (1e-4
 * of the largest change of each weight; biases a BatchNormalization alone reads move by rounding noise only). Also
 * checks that the compiled step left its input array as it was.
 */
async function assertSameStep(graph: Graph, inShape: number[], batch = 2): Promise<void> {
  const x = randomValues(batch * tf.util.sizeFromShape(inShape), 7, 1);
  const y = new Float32Array(batch * 3);
  for (let i = 0; i < batch; i++) y[i * 3 + (i % 3)] = 1;
  await initBackend('cpu');
  const reference = graphModel(graph);
  const names = reference.weights.map((w) => w.name);
  const before = weightsOf(reference);
  const xs = tf.tensor(x, [batch, ...inShape]);
  const ys = tf.tensor2d(y, [batch, 3]);
  const [cpuLoss] = (await reference.trainOnBatch(xs, ys)) as number[];
  const expected = weightsOf(reference);
  const zeroGradient = biasesBeforeBatchNorm(reference);
  tf.dispose([xs, ys]);
  reference.dispose();

  await initBackend('onednn');
  const compiled = graphModel(graph);
  const step = compileTrainingStep(compiled, batch);
  assert.ok(typeof step !== 'string', `compiled: ${String(step)}`);
  const input = Float32Array.from(x);
  const { loss } = step.run(input, y);
  const actual = weightsOf(compiled, names);
  compiled.dispose();
  assert.deepEqual(input, x, 'the input array is left as it was');
  assert.ok(Math.abs(loss - cpuLoss) <= 1e-5 * Math.abs(cpuLoss), `loss ${loss} vs ${cpuLoss}`);
  for (const [name, after] of expected) {
    const start = before.get(name) as Float32Array;
    const got = actual.get(name) as Float32Array;
    let maxDelta = 0;
    let maxError = 0;
    for (let i = 0; i < after.length; i++) {
      maxDelta = Math.max(maxDelta, Math.abs(after[i] - start[i]));
      maxError = Math.max(maxError, Math.abs(got[i] - after[i]));
    }
    const tolerance = zeroGradient.has(name) ? 1e-4 : TOLERANCE * Math.max(maxDelta, 1e-6);
    assert.ok(maxError <= tolerance, `${name}: change off by ${maxError}, cpu's change up to ${maxDelta}`);
  }
}

describe('small graphs of unusual shape train compiled as trainOnBatch on cpu', { skip: SKIP_NATIVE }, () => {
  const S = [6, 6, 2];
  const cases: [string, Graph][] = [
    ['a ReLU of a linear Activation whose source an Add also reads (no ReLU in place over a shared buffer)', () => {
      const input = tf.input({ shape: S });
      const c = apply(conv3(3), input);
      return { input, output: softmaxOf(apply(L.add(), [apply(relu(), apply(linear(), c)), c])) };
    }],
    ['a ReLU of a Flatten of a convolution that another convolution also reads', () => {
      const input = tf.input({ shape: S });
      const c = apply(conv3(3), input);
      const r = apply(relu(), apply(L.flatten(), c));
      const g = apply(L.flatten(), apply(conv3(3), c));
      return { input, output: apply(L.dense({ units: 3, activation: 'softmax' }), apply(L.add(), [r, g])) };
    }],
    ['a chain of views: an Add passes its gradient to one view of a value another layer also reads', () => {
      const input = tf.input({ shape: S });
      const b = apply(conv3(3), input);
      const a = apply(linear(), apply(conv3(3), input));
      return { input, output: softmaxOf(apply(L.add(), [apply(linear(), a), apply(conv3(3), a), b])) };
    }],
    ['a fused BatchNorm + ReLU read by a convolution and, through a Flatten, by an Add of four', () => {
      const input = tf.input({ shape: S });
      const r = apply(relu(), apply(L.batchNormalization(), apply(conv3(3), input)));
      const p = apply(conv3(3), input);
      const sum = apply(L.add(), [apply(L.flatten(), r), apply(L.flatten(), apply(conv3(3), r)), apply(L.flatten(), p),
        apply(L.flatten(), apply(conv3(3), apply(conv3(3), p)))]);
      return { input, output: apply(L.dense({ units: 3, activation: 'softmax' }), sum) };
    }],
    ['a tensor read by three layers, an Add of three, a strided convolution, pooling', () => {
      const input = tf.input({ shape: S });
      const t = apply(relu(), apply(conv3(4), input));
      const sum = apply(L.add(), [t, apply(conv3(4), t), apply(L.batchNormalization(), t)]);
      const pooled = apply(L.maxPooling2d({ poolSize: 2, padding: 'same' }), apply(conv3(4, { strides: 2 }), sum));
      return { input, output: apply(L.dense({ units: 3, activation: 'softmax' }), apply(L.globalAveragePooling2d({}), pooled)) };
    }],
  ];
  for (const [name, graph] of cases) test(name, () => assertSameStep(graph, S));

  test('a dilated convolution (whose gradient tfjs does not have) as the 5x5 convolution with the same taps', async () => {
    // A 3x3 convolution with dilation 2 is a 5x5 one whose taps off the even positions are 0; tfjs trains the latter.
    const shape = [7, 7, 2];
    const build = (kernelSize: number, dilationRate: number): tf.LayersModel => {
      const input = tf.input({ shape });
      const c = apply(L.conv2d({ filters: 3, kernelSize, dilationRate, padding: 'same' }), input);
      const m = tf.model({ inputs: input, outputs: softmaxOf(c) });
      m.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      return m;
    };
    const k3 = randomValues(3 * 3 * 2 * 3, 90, 0.5);
    const k5 = new Float32Array(5 * 5 * 2 * 3);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let c = 0; c < 6; c++) k5[((2 * i) * 5 + 2 * j) * 6 + c] = k3[(i * 3 + j) * 6 + c];
    const rest = (m: tf.LayersModel): tf.Tensor[] => m.weights.slice(1).map((w, i) => tf.tensor(randomValues(tf.util.sizeFromShape(w.shape as number[]), 91 + i, 0.5), w.shape as number[]));
    const x = randomValues(2 * 7 * 7 * 2, 92);
    const y = Float32Array.from([1, 0, 0, 0, 1, 0]);

    await initBackend('cpu');
    const wide = build(5, 1);
    wide.setWeights([tf.tensor(k5, [5, 5, 2, 3]), ...rest(wide)]);
    await wide.trainOnBatch(tf.tensor(x, [2, ...shape]), tf.tensor2d(y, [2, 3]));
    const wideAfter = wide.weights.map((w) => Float32Array.from(w.read().dataSync()));
    wide.dispose();

    await initBackend('onednn');
    const dilated = build(3, 2);
    dilated.setWeights([tf.tensor(k3, [3, 3, 2, 3]), ...rest(dilated)]);
    const step = compileTrainingStep(dilated, 2);
    assert.ok(typeof step !== 'string', String(step));
    step.run(x, y);
    const after = dilated.weights.map((w) => Float32Array.from(w.read().dataSync()));
    dilated.dispose();
    const taps = new Float32Array(k3.length);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let c = 0; c < 6; c++) taps[(i * 3 + j) * 6 + c] = wideAfter[0][((2 * i) * 5 + 2 * j) * 6 + c];
    [[after[0], taps], ...after.slice(1).map((w, i) => [w, wideAfter[i + 1]])].forEach(([got, expected], i) => {
      assert.ok(relErr(got, expected) <= TOLERANCE, `weight ${i}: relative error ${relErr(got, expected)}`);
    });
    assert.ok(relErr(taps, k3) > 1e-3, 'the step changed the kernel');
  });
});

describe('what a compiled training step refuses, and the fall-back', { skip: SKIP_NATIVE }, () => {
  const s = SETUPS[1];

  test('reasons: another backend, an uncompiled model, another loss, an uncovered layer, a frozen layer', async () => {
    await initBackend('cpu');
    const onCpu = model(s, () => tf.train.sgd(0.1));
    assert.match(String(compileTrainingStep(onCpu, 2)), /^backend cpu is not onednn$/);
    onCpu.dispose();

    await initBackend('onednn');
    const bare = buildResNet('resnet18', { inputShape: [37, 37, 3], classes: 6, widthDivisor: 8 });
    assert.equal(compileTrainingStep(bare, 2), 'the model is not compiled');
    bare.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    assert.equal(compileTrainingStep(bare, 2), 'loss "meanSquaredError", not categoricalCrossentropy');
    bare.dispose();

    const input = tf.input({ shape: [8] });
    const dropped = tf.layers.dropout({ rate: 0.5 }).apply(input) as tf.SymbolicTensor;
    const withDropout = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, activation: 'softmax' }).apply(dropped) as tf.SymbolicTensor });
    withDropout.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    assert.match(String(compileTrainingStep(withDropout, 2)), /: Dropout is not covered$/);
    withDropout.dispose();

    const frozen = model(s, () => tf.train.sgd(0.1));
    frozen.getLayer('conv1').trainable = false;
    frozen.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    assert.match(String(compileTrainingStep(frozen, 2)), /^conv1 is not trainable/);
    frozen.dispose();
    const allFrozen = model(s, () => tf.train.sgd(0.1));
    allFrozen.trainable = false;
    allFrozen.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    assert.match(String(compileTrainingStep(allFrozen, 2)), /is not trainable/);
    allFrozen.dispose();
  });

  test('reasons: metrics, one class, an int32 input, a fixed batch size, a nested model, a zero padding not read by a valid convolution', async () => {
    await initBackend('onednn');
    const compiled = (m: tf.LayersModel, metrics: string[] = ['accuracy']): tf.LayersModel => {
      m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics });
      return m;
    };
    const dense = (units: number, opts: Parameters<typeof tf.input>[0] = { shape: [4] }): tf.LayersModel => {
      const input = tf.input(opts);
      return tf.model({ inputs: input, outputs: apply(L.dense({ units, activation: 'softmax' }), input) });
    };
    assert.equal(compileTrainingStep(compiled(dense(3), []), 2), 'metrics [], not accuracy alone');
    assert.equal(compileTrainingStep(compiled(dense(3), ['accuracy', 'precision']), 2), 'metrics [acc,precision], not accuracy alone');
    assert.ok(typeof compileTrainingStep(compiled(dense(3), ['acc']), 2) !== 'string', "'acc' is accuracy");
    const oneLoss = dense(3);
    oneLoss.compile({ optimizer: 'sgd', loss: ['categoricalCrossentropy'], metrics: ['accuracy'] });
    assert.ok(typeof compileTrainingStep(oneLoss, 2) !== 'string', 'a list of one loss');
    assert.match(String(compileTrainingStep(compiled(dense(1)), 2)), /needs at least 2 classes$/);
    assert.equal(compileTrainingStep(compiled(dense(3, { shape: [4], dtype: 'int32' })), 2), 'the input is int32, not float32');
    assert.equal(compileTrainingStep(compiled(dense(3, { batchShape: [4, 4] })), 2), 'the input takes batches of 4, not 2');
    const inner = dense(3);
    const outer = tf.input({ shape: [4] });
    assert.match(String(compileTrainingStep(compiled(tf.model({ inputs: outer, outputs: apply(inner, outer) })), 2)), /is a nested model$/);
    for (const reader of [relu(), L.maxPooling2d({ poolSize: 2 }), conv3(2)]) {
      const input = tf.input({ shape: [4, 4, 2] });
      const padded = apply(L.zeroPadding2d({ padding: 1 }), input);
      const m = compiled(tf.model({ inputs: input, outputs: softmaxOf(apply(reader, padded)) }));
      assert.match(String(compileTrainingStep(m, 2)), /a zero padding is covered only when one 'valid' convolution alone reads it/);
    }
  });

  test('CompiledTrainer plans again after a recompile with another loss, and then trains through trainOnBatch', async () => {
    await initBackend('onednn');
    const m = model(s, () => tf.train.sgd(0.1));
    const trainer = new CompiledTrainer(m);
    assert.ok(typeof trainer.stepFor(2) !== 'string');
    m.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError', metrics: ['accuracy'] });
    assert.equal(trainer.stepFor(2), 'loss "meanSquaredError", not categoricalCrossentropy');
    m.dispose();
  });

  test('CompiledTrainer trains what does not compile with trainOnBatch: the same numbers as trainOnBatch itself', async () => {
    await initBackend('onednn');
    const build = (): tf.LayersModel => {
      const input = tf.input({ shape: [6] });
      const hidden = tf.layers.dense({ units: 5, activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(input);
      const output = tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }).apply(hidden);
      const m = tf.model({ inputs: input, outputs: output as tf.SymbolicTensor });
      m.compile({ optimizer: tf.train.sgd(0.3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      return m;
    };
    const a = build();
    const b = build();
    const trainer = new CompiledTrainer(b);
    const xs = tf.tensor2d(randomValues(24, 5), [4, 6]);
    const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3).toFloat();
    assert.match(String(trainer.stepFor(4)), /a Dense layer is covered only as the softmax output/);
    for (let i = 0; i < 2; i++) {
      const expected = (await a.trainOnBatch(xs, ys)) as number[];
      assert.deepEqual(await trainer.trainOnBatch(xs, ys), expected);
    }
    // A model compiled without the accuracy metric: one line saying so, before any step changes a weight.
    b.compile({ optimizer: tf.train.sgd(0.3), loss: 'categoricalCrossentropy' });
    const before = weightsOf(b);
    await assert.rejects(new CompiledTrainer(b).trainOnBatch(xs, ys),
      /^Error: CompiledTrainer: \S+ is compiled with metrics \[\]; it returns \[loss, accuracy\]: compile the model with metrics: \['accuracy'\]$/);
    for (const [name, values] of weightsOf(b)) assert.deepEqual(values, before.get(name), `${name}: no step was taken`);
    tf.dispose([xs, ys]);
    a.dispose();
    b.dispose();
  });
});

describe('CompiledTrainer across batch sizes', { skip: SKIP_NATIVE }, () => {
  test('the steps of two batch sizes share their arrays, and train bit for bit as steps with arrays of their own', async () => {
    await initBackend('onednn');
    const s = SETUPS[0];
    const full = batchOf(s);
    const sizes = [s.batch, s.batch - 1, s.batch, s.batch - 1];
    const batches = sizes.map((n) => ({ n, x: full.x.subarray(0, n * s.size * s.size * 3), y: full.y.subarray(0, n * 6) }));

    // Steps compiled alone, each with fresh (zeroed) arrays of its own.
    const alone = model(s, () => tf.train.sgd(0.01));
    const names = alone.weights.map((w) => w.name);
    const steps = new Map(sizes.map((n) => [n, compileTrainingStep(alone, n)]));
    const expectedLosses = batches.map((b) => {
      const step = steps.get(b.n);
      assert.ok(step !== undefined && typeof step !== 'string', `compiles: ${String(step)}`);
      return step.run(b.x, b.y).loss;
    });
    const expected = weightsOf(alone);
    alone.dispose();

    // A CompiledTrainer: the smaller batch's step runs in arrays the larger one's left its values in.
    const shared = model(s, () => tf.train.sgd(0.01));
    const trainer = new CompiledTrainer(shared);
    const plans = (): number => (tf.memory() as tf.MemoryInfo & { numBytesInNativePlans: number }).numBytesInNativePlans;
    const start = plans();
    const held: number[] = [];
    const losses: number[] = [];
    for (const b of batches) {
      const xs = tf.tensor4d(b.x, [b.n, s.size, s.size, 3]);
      const ys = tf.tensor2d(b.y, [b.n, 6]);
      losses.push((await trainer.trainOnBatch(xs, ys))[0]);
      held.push(plans() - start);
      tf.dispose([xs, ys]);
    }
    const actual = weightsOf(shared, names);
    trainer.dispose();
    shared.dispose();

    assert.ok(held[1] < held[0] * 1.1, `a second batch size added ${held[1] - held[0]} bytes to ${held[0]}`);
    assert.deepEqual(losses, expectedLosses);
    for (const [name, values] of expected) assert.deepEqual(actual.get(name), values, name);
  });

  test('int32 labels (tf.oneHot) train through the compiled step, as float32 ones do', async () => {
    await initBackend('onednn');
    const s = SETUPS[1];
    const m = model(s, () => tf.train.sgd(0.1));
    const trainer = new CompiledTrainer(m);
    let fallbacks = 0;
    const trainOnBatch = m.trainOnBatch.bind(m);
    m.trainOnBatch = (x, y) => {
      fallbacks++;
      return trainOnBatch(x, y);
    };
    const { x } = batchOf(s);
    const xs = tf.tensor4d(x, [s.batch, s.size, s.size, 3]);
    const ys = tf.oneHot(tf.tensor1d([0, 1, 2], 'int32'), 6);
    assert.equal(ys.dtype, 'int32');
    const tensors = tf.memory().numTensors;
    const [loss, acc] = await trainer.trainOnBatch(xs, ys);
    assert.equal(fallbacks, 0, 'no step went through trainOnBatch');
    assert.ok(Number.isFinite(loss) && acc >= 0 && acc <= 1);
    assert.equal(tf.memory().numTensors, tensors, 'the cast labels are disposed');
    tf.dispose([xs, ys]);
    trainer.dispose();
    m.dispose();
  });
});

describe('RESNET_COMPILED_TRAINING=0', { skip: SKIP_NATIVE }, () => {
  test('makes CompiledTrainer run trainOnBatch: the same numbers as trainOnBatch itself', async () => {
    await initBackend('onednn');
    const s = SETUPS[1];
    const { x, y } = batchOf(s);
    const a = model(s, () => tf.train.sgd(0.1));
    const b = model(s, () => tf.train.sgd(0.1));
    const xs = tf.tensor4d(x, [s.batch, s.size, s.size, 3]);
    const ys = tf.tensor2d(y, [s.batch, 6]);
    const before = process.env.RESNET_COMPILED_TRAINING;
    process.env.RESNET_COMPILED_TRAINING = '0';
    try {
      const trainer = new CompiledTrainer(b);
      for (let i = 0; i < 2; i++) assert.deepEqual(await trainer.trainOnBatch(xs, ys), (await a.trainOnBatch(xs, ys)) as number[]);
      assert.deepEqual(weightsOf(b, a.weights.map((w) => w.name)), weightsOf(a));
    } finally {
      if (before === undefined) delete process.env.RESNET_COMPILED_TRAINING;
      else process.env.RESNET_COMPILED_TRAINING = before;
      tf.dispose([xs, ys]);
      a.dispose();
      b.dispose();
    }
  });
});

describe('crossEntropy: tfjs-layers categorical cross-entropy and its gradient through the softmax', () => {
  test('loss, accuracy and the gradient with respect to the logits against tfjs on the cpu backend', async () => {
    await initBackend('cpu');
    const rows = 5;
    const classes = 4;
    // Logits spread wide enough that some probabilities fall below 1e-7 or above 1 - 1e-7 (clipped: no gradient).
    const logits = tf.tensor2d(randomValues(rows * classes, 11, 12), [rows, classes]);
    const labels = tf.oneHot(tf.tensor1d([0, 3, 1, 2, 3], 'int32'), classes).toFloat();
    const lossOf = (z: tf.Tensor): tf.Scalar => tf.mean(tf.metrics.categoricalCrossentropy(labels, tf.softmax(z))) as tf.Scalar;
    const expectedLoss = lossOf(logits).dataSync()[0];
    const expectedGrad = tf.grad(lossOf)(logits).dataSync();
    const probabilities = tf.softmax(logits).dataSync() as Float32Array;
    const clipped = Array.from(probabilities).filter((p) => p < 1e-7 || p > 1 - 1e-7).length;
    assert.ok(clipped > 0, 'some probabilities are clipped');
    const dLogits = new Float32Array(rows * classes);
    const { loss, acc } = crossEntropy(probabilities, labels.dataSync() as Float32Array, rows, classes, dLogits);
    assert.ok(Math.abs(loss - expectedLoss) <= 1e-5 * expectedLoss, `loss ${loss} vs ${expectedLoss}`);
    const expectedAcc = tf.mean(tf.metrics.categoricalAccuracy(labels, tf.softmax(logits))).dataSync()[0];
    assert.equal(acc, expectedAcc);
    for (let i = 0; i < dLogits.length; i++) {
      assert.ok(Math.abs(dLogits[i] - expectedGrad[i]) <= 1e-5 + 1e-4 * Math.abs(expectedGrad[i]), `dLogits[${i}] ${dLogits[i]} vs ${expectedGrad[i]}`);
    }
    tf.dispose([logits, labels]);
  });
});
