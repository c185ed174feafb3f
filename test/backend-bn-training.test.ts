/**
 * BatchNormalization in training mode on the onednn backend: the OnednnBatchNormTraining kernel and its gradient
 * (OnednnBatchNormTrainingGrad) against tfjs's own code on the cpu backend (tf.moments then tf.batchNorm, and
 * tfjs's gradients through both), and the BatchNormalization layer hook (batchnorm_layer.ts) against tfjs's layer:
 * same training losses, weights and moving statistics; layers tfjs cannot train (center or scale false) against
 * values computed from tf.moments; cases the hook does not take run tfjs's code.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { batchNormGradApplies } from '../src/backend/kernels/OnednnBatchNormGrad.js';
import { ONEDNN_BATCH_NORM_TRAINING, batchNormTrainingApplies } from '../src/backend/kernels/OnednnBatchNormTraining.js';
import { batchNormTrainingGradApplies } from '../src/backend/kernels/OnednnBatchNormTrainingGrad.js';
import { ResNet50 } from '../src/model/index.js';
import { assertClose, countNativeCalls, onBoth, rand, relErr, SKIP_NATIVE, TOLERANCE } from './backend-helpers.js';

type Outputs = Awaited<ReturnType<typeof onBoth>>;

/**
 * [y, mean, variance] of batch normalization in training mode over every axis but the last: the native kernel on
 * the onednn backend, tfjs's tf.moments and tf.batchNorm (what the layer runs) on any other.
 */
function bnTraining(x: tf.Tensor, scale: tf.Tensor | null, offset: tf.Tensor | null, epsilon: number): tf.Tensor[] {
  if (tf.getBackend() === 'onednn') {
    const inputs: tf.NamedTensorMap = { x };
    if (scale !== null) inputs.scale = scale;
    if (offset !== null) inputs.offset = offset;
    return tf.engine().runKernel(ONEDNN_BATCH_NORM_TRAINING, inputs, { varianceEpsilon: epsilon }) as tf.Tensor[];
  }
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  // Zeros and ones for missing parameters: tfjs's batchNorm gradient fails without them.
  const c = x.shape[x.rank - 1];
  const y = tf.batchNorm(x, mean, variance, offset ?? tf.zeros([c]), scale ?? tf.ones([c]), epsilon);
  return [y, mean, variance];
}

/** Runs `fn` on both backends while counting native calls. */
async function onBothCounting(fn: () => tf.Tensor | tf.Tensor[]): Promise<Outputs & { calls: Record<string, number> }> {
  let result!: Outputs;
  const calls = await countNativeCalls(async () => {
    result = await onBoth(fn);
  });
  return { ...result, calls };
}

const SHAPES: { name: string; x: number[] }[] = [
  { name: 'odd sizes', x: [3, 5, 7, 6] },
  { name: 'batch 1', x: [1, 4, 4, 3] },
  { name: '2-D input [rows, C]', x: [10, 7] },
  { name: 'one channel', x: [2, 3, 3, 1] },
  { name: 'large (multi-threaded)', x: [8, 16, 16, 32] },
];

describe('OnednnBatchNormTraining matches tf.moments + tf.batchNorm on cpu', { skip: SKIP_NATIVE }, () => {
  test('a channel holding NaN or Infinity gets a NaN variance, as tf.moments gives (not 0)', async () => {
    await initBackend('onednn');
    const x = tf.tensor2d([NaN, 1, Infinity, 2, 3, 5, 4, 5, 6], [3, 3]);
    const [y, mean, variance] = bnTraining(x, null, null, 1e-3);
    const v = Array.from(variance.dataSync());
    await initBackend('cpu');
    const expected = Array.from(tf.moments(tf.tensor2d([NaN, 1, Infinity, 2, 3, 5, 4, 5, 6], [3, 3]), [0]).variance.dataSync());
    assert.ok(Number.isNaN(expected[0]) && Number.isNaN(expected[2]), `tf.moments: ${expected}`);
    assert.ok(Number.isNaN(v[0]) && Number.isNaN(v[2]), `variance ${v}`);
    assert.ok(Math.abs(v[1] - expected[1]) <= 1e-6, `variance ${v[1]} vs ${expected[1]}`);
    assert.ok(Number.isNaN(mean.dataSync()[0]));
    tf.dispose([x, y, mean, variance]);
  });

  SHAPES.forEach((s, idx) => {
    const seed = 100 * (idx + 1);
    const c = s.x[s.x.length - 1];
    test(`${s.name}: y, mean and variance, with and without scale and offset`, async () => {
      const { native, cpu, calls } = await onBothCounting(() => {
        // An offset in the data, so that the variance is not the mean of squares.
        const x = tf.add(rand(s.x, seed, 3), 1.5);
        const scale = rand([c], seed + 1, 2);
        const offset = rand([c], seed + 2);
        return [
          ...bnTraining(x, scale, offset, 1e-3),
          ...bnTraining(x, scale, offset, 1e-5),
          ...bnTraining(x, null, null, 1e-3),
          ...bnTraining(x, scale, null, 1e-3),
        ];
      });
      assertClose(native, cpu, 'forward');
      assert.equal(calls.batchNormTraining, 4, 'every call ran natively');
    });

    test(`${s.name}: gradients of x, scale and offset`, async () => {
      const { native, cpu, calls } = await onBothCounting(() => {
        const x = rand(s.x, seed + 3, 3);
        const scale = rand([c], seed + 4, 2);
        const offset = rand([c], seed + 5);
        const r = rand(s.x, seed + 6);
        return tf.grads((a: tf.Tensor, sc: tf.Tensor, o: tf.Tensor) =>
          tf.sum(tf.mul(bnTraining(a, sc, o, 1e-3)[0], r)))([x, scale, offset]);
      });
      assertClose(native, cpu, 'gradients');
      assert.equal(calls.batchNormTrainingGrad, 1, 'the gradient ran as one native kernel');
    });
  });

  test('gradients through the mean and variance outputs too', async () => {
    const { native, cpu, calls } = await onBothCounting(() => {
      const x = rand([4, 3, 5, 6], 7, 2);
      const scale = rand([6], 8, 2);
      const offset = rand([6], 9);
      const r = rand([4, 3, 5, 6], 10);
      const wm = rand([6], 11, 3);
      const wv = rand([6], 12, 3);
      return tf.grads((a: tf.Tensor, sc: tf.Tensor, o: tf.Tensor) => {
        const [y, mean, variance] = bnTraining(a, sc, o, 1e-3);
        return tf.addN([tf.sum(tf.mul(y, r)), tf.sum(tf.mul(mean, wm)), tf.sum(tf.mul(variance, wv))]);
      })([x, scale, offset]);
    });
    assertClose(native, cpu, 'gradients with the statistics in the loss');
    assert.equal(calls.batchNormTrainingGrad, 1);
    // Independent check: a loss of the statistics alone, sum(mean) + sum(variance), has dx = 1/N + 2 (x - mean)/N.
    const { native: stats } = await onBoth(() =>
      tf.grad((a: tf.Tensor) => {
        const [, mean, variance] = bnTraining(a, rand([3], 13), null, 1e-3);
        return tf.add(tf.sum(mean), tf.sum(variance));
      })(tf.tensor2d([1, 10, 0, 2, 30, 4, 3, 20, 8, 6, 40, 0], [4, 3])),
    );
    const xs = [[1, 10, 0], [2, 30, 4], [3, 20, 8], [6, 40, 0]];
    const means = [3, 25, 3];
    const expected = xs.flatMap((row) => row.map((v, ch) => 1 / 4 + (2 * (v - means[ch])) / 4));
    assert.ok(relErr(stats.values[0], expected) <= TOLERANCE, `dx of the statistics: ${stats.values[0]}`);
  });

  test('without an offset, and a scale of ones standing for none', async () => {
    const { native, cpu } = await onBoth(() => {
      const x = rand([5, 4, 3], 14, 2);
      const ones = tf.ones([3]);
      const r = rand([5, 4, 3], 15);
      return tf.grads((a: tf.Tensor, sc: tf.Tensor) => tf.sum(tf.mul(bnTraining(a, sc, null, 1e-3)[0], r)))([x, ones]);
    });
    assertClose(native, cpu, 'gradients without offset');
  });

  test('a gradient of the gradient uses tfjs ops and matches cpu', async () => {
    const { native, cpu, calls } = await onBothCounting(() => {
      const x = rand([3, 4, 5], 16, 2);
      const scale = rand([5], 17, 2);
      const offset = rand([5], 18);
      const r = rand([3, 4, 5], 19);
      const wm = rand([5], 20, 3);
      const wv = rand([5], 21, 3);
      const inner = (t: tf.Tensor, sc: tf.Tensor) => {
        const [y, mean, variance] = bnTraining(t, sc, offset, 1e-3);
        return tf.addN([tf.sum(tf.mul(tf.square(y), r)), tf.sum(tf.mul(mean, wm)), tf.sum(tf.mul(variance, wv))]);
      };
      return tf.grads((a: tf.Tensor, sc: tf.Tensor) => {
        const dx = tf.grad((t: tf.Tensor) => inner(t, sc))(a);
        return tf.sum(tf.mul(dx, r));
      })([x, scale]);
    });
    assertClose(native, cpu, 'second order');
    // The inner gradient, recorded, ran tfjs ops (the kernel has no gradient); the outer one ran natively.
    assert.equal(calls.batchNormTrainingGrad, 1, 'one native gradient: the outer one');
  });

  test('the kernel, its gradient and the moving averages leak no tensors', async () => {
    await initBackend('onednn');
    const gamma = tf.variable(rand([6], 30));
    const beta = tf.variable(rand([6], 31));
    const x = rand([4, 5, 5, 6], 32);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.relu(bnTraining(x, gamma, beta, 1e-3)[0])));
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([gamma, beta, x]);
  });
});

// ---- the layer ----

/** Sets every weight of `model` to seeded values in [-0.5, 0.5), plus 1 for gammas and moving variances. */
function setSeededWeights(model: tf.LayersModel, seed: number): void {
  tf.tidy(() => {
    model.setWeights(model.weights.map((w, i) => {
      const values = rand(w.shape as number[], seed + i, 0.5);
      return /moving_variance|gamma/.test(w.name) ? tf.add(values, 1) : values;
    }));
  });
}

/** conv -> BatchNormalization -> relu -> dense -> BatchNormalization (2-D) -> relu -> dense softmax. */
function smallModel(bnArgs: Parameters<typeof tf.layers.batchNormalization>[0] = {}): tf.LayersModel {
  const input = tf.input({ shape: [5, 5, 2] });
  let h = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ ...bnArgs, momentum: 0.9 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  h = tf.layers.dense({ units: 8 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ ...bnArgs, momentum: 0.8, epsilon: 1e-2 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  // Seeded weights; moving variances and gammas positive.
  setSeededWeights(model, 500);
  return model;
}

interface TrainingRun {
  losses: number[];
  weights: { name: string; values: Float32Array }[];
  calls: Record<string, number>;
}

/** Trains a fresh smallModel(bnArgs) for `steps` batches with plain SGD on `backend`. */
async function train(backend: 'onednn' | 'cpu', steps: number, makeModel: () => tf.LayersModel): Promise<TrainingRun> {
  const losses: number[] = [];
  let weights: TrainingRun['weights'] = [];
  const run = async () => {
    await initBackend(backend);
    const model = makeModel();
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
    const x = tf.add(rand([6, 5, 5, 2], 40), 0.5);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3);
    for (let i = 0; i < steps; i++) losses.push((await model.trainOnBatch(x, y)) as number);
    weights = model.weights.map((w) => ({ name: w.name, values: Float32Array.from(w.read().dataSync()) }));
    tf.dispose([x, y]);
    model.dispose();
  };
  if (backend === 'cpu') {
    await run();
    return { losses, weights, calls: {} };
  }
  const calls = await countNativeCalls(run);
  return { losses, weights, calls };
}

function assertSameTraining(native: TrainingRun, cpu: TrainingRun): void {
  const err = relErr(native.losses, cpu.losses);
  assert.ok(err <= TOLERANCE, `losses ${native.losses} vs ${cpu.losses}`);
  assert.equal(native.weights.length, cpu.weights.length);
  native.weights.forEach((w, i) => {
    const e = relErr(w.values, cpu.weights[i].values);
    assert.ok(e <= TOLERANCE, `${w.name}: relative error ${e}`);
  });
}

describe('BatchNormalization layers train on onednn as tfjs trains them', { skip: SKIP_NATIVE }, () => {
  test('losses, weights and moving statistics over training steps match cpu', async () => {
    const native = await train('onednn', 4, () => smallModel());
    const cpu = await train('cpu', 4, () => smallModel());
    assertSameTraining(native, cpu);
    assert.ok(native.weights.some((w) => /moving_mean/.test(w.name)), 'moving statistics compared');
    assert.ok(cpu.losses[3] < cpu.losses[0], `the model learns: ${cpu.losses}`);
    // 2 layers x 4 steps, forward and backward, and nothing of tf.moments left.
    assert.equal(native.calls.batchNormTraining, 8);
    assert.equal(native.calls.batchNormTrainingGrad, 8);
    assert.equal(native.calls.batchNormGrad ?? 0, 0);
  });

  test('an axis other than the last runs tfjs code: same training-mode output and moving statistics', async () => {
    // (tfjs cannot backpropagate through such a layer on any backend: its batchNorm gradient does not take the
    // broadcast parameters, so this compares training-mode calls without gradients.)
    const run = async (backend: 'onednn' | 'cpu') => {
      await initBackend(backend);
      const layer = tf.layers.batchNormalization({ axis: 1, momentum: 0.5 });
      const x = tf.add(rand([5, 3, 4, 2], 41, 2), 0.5);
      layer.apply(x, { training: true }); // builds the layer
      tf.tidy(() => layer.setWeights([tf.add(rand([3], 42), 1), rand([3], 43), rand([3], 44), tf.add(rand([3], 45), 1)]));
      const ys = [0, 1].map(() => layer.apply(x, { training: true }) as tf.Tensor);
      const out = [...ys, ...layer.getWeights()];
      const outputs = { shapes: out.map((t) => t.shape), values: out.map((t) => Float32Array.from(t.dataSync())) };
      tf.dispose([x, ...ys]);
      layer.dispose();
      return outputs;
    };
    let native!: Awaited<ReturnType<typeof run>>;
    const calls = await countNativeCalls(async () => {
      native = await run('onednn');
    });
    const cpu = await run('cpu');
    assertClose(native, cpu, 'axis 1');
    assert.equal(calls.batchNormTraining ?? 0, 0, 'the hook left axis 1 to tfjs');
  });

  test("moving averages: the same bits as tfjs's own ops (sub, mul by 1 - momentum, sub) from the batch statistics", async () => {
    await initBackend('onednn');
    const c = 256; // many values, so that a rounding left out shows in some of them
    const shape = [4, 3, 3, c];
    const momentum = 0.99;
    const x = tf.add(rand(shape, 60, 3), 0.25);
    const layer = tf.layers.batchNormalization({ momentum, epsilon: 1e-3 });
    layer.build(shape);
    const start = [tf.add(rand([c], 61), 1), rand([c], 62), rand([c], 63), tf.add(rand([c], 64), 1.5)];
    layer.setWeights(start);
    const [gamma, beta, movingMean, movingVariance] = start.map((t) => Float32Array.from(t.dataSync()));
    // The batch statistics the layer's kernel computes.
    const stats = tf.engine().runKernel(ONEDNN_BATCH_NORM_TRAINING, { x, scale: start[0], offset: start[1] }, { varianceEpsilon: 1e-3 }) as tf.Tensor[];
    const [mean, variance] = stats.slice(1).map((t) => Float32Array.from(t.dataSync()));
    tf.dispose(layer.apply(x, { training: true }) as tf.Tensor);
    const after = layer.getWeights().map((t) => Float32Array.from(t.dataSync()));
    // tfjs's doMovingAverage with its own ops, on the cpu backend.
    await initBackend('cpu');
    const expected = [[movingMean, mean], [movingVariance, variance]].map(([orig, value]) =>
      tf.tidy(() => {
        const o = tf.tensor(orig);
        return Float32Array.from(tf.sub(o, tf.mul(tf.sub(o, tf.tensor(value)), 1 - momentum)).dataSync());
      }),
    );
    assert.deepEqual(after[0], gamma, 'gamma is not changed by a forward pass');
    assert.deepEqual(after[1], beta);
    assert.deepEqual(after[2], expected[0], 'moving mean');
    assert.deepEqual(after[3], expected[1], 'moving variance');
    assert.notDeepEqual(after[2], movingMean, 'the moving mean moved');
    tf.dispose([x, ...start, ...stats]);
  });

  for (const flag of ['center', 'scale'] as const) {
    test(`${flag}: false trains (tfjs's own layer cannot): output and moving statistics from tf.moments`, async () => {
      // One training-mode call of a layer without beta (center false) or gamma (scale false) on onednn, against
      // tf.moments and tf.batchNorm on cpu with the missing parameter left out, and the moving averages by hand.
      const shape = [4, 3, 3, 5];
      const momentum = 0.75;
      const epsilon = 1e-3;
      const run = async (backend: 'onednn' | 'cpu') => {
        await initBackend(backend);
        return tf.tidy(() => {
          const x = tf.add(rand(shape, 50, 2), 1);
          const param = tf.add(rand([5], 51), 1);
          const r = rand(shape, 52);
          if (backend === 'onednn') {
            const layer = tf.layers.batchNormalization({ [flag]: false, momentum, epsilon });
            layer.build(shape);
            // Weights in order: the remaining one of gamma/beta, moving mean, moving variance.
            layer.setWeights([param, tf.zeros([5]), tf.ones([5])]);
            const { value, grads } = tf.variableGrads(() => {
              const y = layer.apply(x, { training: true }) as tf.Tensor;
              return tf.sum(tf.mul(y, r));
            }, layer.trainableWeights.map((w) => w.read() as tf.Variable));
            const dParam = Object.values(grads)[0];
            const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layer.apply(a, { training: true }) as tf.Tensor, r)))(x);
            const y = layer.apply(x, { training: true }) as tf.Tensor;
            const [, movingMean, movingVariance] = layer.getWeights();
            return [y, value, dParam, dx, movingMean, movingVariance];
          }
          const { mean, variance } = tf.moments(x, [0, 1, 2]);
          const f = (a: tf.Tensor, p: tf.Tensor) => {
            const m = tf.moments(a, [0, 1, 2]);
            const y = flag === 'center'
              ? tf.batchNorm(a, m.mean, m.variance, tf.zerosLike(p), p, epsilon)
              : tf.batchNorm(a, m.mean, m.variance, p, tf.onesLike(p), epsilon);
            return tf.sum(tf.mul(y, r));
          };
          const value = f(x, param);
          const dParam = tf.grad((p: tf.Tensor) => f(x, p))(param);
          const dx = tf.grad((a: tf.Tensor) => f(a, param))(x);
          const y = flag === 'center'
            ? tf.batchNorm(x, mean, variance, undefined, param, epsilon)
            : tf.batchNorm(x, mean, variance, param, undefined, epsilon);
          // Three training calls, each moving the averages: v <- v - (v - stat) * (1 - momentum).
          let movingMean = tf.zeros([5]);
          let movingVariance = tf.ones([5]);
          for (let i = 0; i < 3; i++) {
            movingMean = tf.sub(movingMean, tf.mul(tf.sub(movingMean, mean), 1 - momentum));
            movingVariance = tf.sub(movingVariance, tf.mul(tf.sub(movingVariance, variance), 1 - momentum));
          }
          return [y, value, dParam, dx, movingMean, movingVariance];
        });
      };
      const toOutputs = (ts: tf.Tensor[]) => {
        const out = { shapes: ts.map((t) => t.shape), values: ts.map((t) => Float32Array.from(t.dataSync())) };
        tf.dispose(ts);
        return out;
      };
      let native!: ReturnType<typeof toOutputs>;
      const calls = await countNativeCalls(async () => {
        native = toOutputs(await run('onednn'));
      });
      const cpu = toOutputs(await run('cpu'));
      assertClose(native, cpu, `${flag}: false`);
      assert.equal(calls.batchNormTraining, 3, 'the layer ran the kernel');
    });
  }

  test('inference mode runs tfjs code; training steps keep numTensors flat', async () => {
    await initBackend('onednn');
    const model = smallModel();
    model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    const x = tf.add(rand([6, 5, 5, 2], 42), 0.5);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3);
    const counts: number[] = [];
    const calls = await countNativeCalls(async () => {
      for (let i = 0; i < 4; i++) {
        await model.trainOnBatch(x, y);
        counts.push(tf.memory().numTensors);
      }
    });
    assert.ok(counts.slice(1).every((n) => n === counts[1]), `numTensors changed: ${counts}`);
    assert.equal(calls.batchNormTraining, 8);
    const predictCalls = await countNativeCalls(() => {
      tf.dispose(model.predict(x) as tf.Tensor);
    });
    assert.equal(predictCalls.batchNormTraining ?? 0, 0, 'predict normalizes with the moving statistics');
    assert.equal(predictCalls.batchNorm, 2, 'with the FusedBatchNorm kernel');
    tf.dispose([x, y]);
    model.dispose();
  });
});

describe('a small ResNet-50 with the native BatchNormalization', { skip: SKIP_NATIVE }, () => {
  test('one training step: the same loss and gradients as on cpu (relative 1e-3)', async () => {
    // Whole-network float32 gradients are compared per weight against the largest value of that gradient. Several
    // training steps cannot be compared this way: on a batch of 4, a relative change of 1e-6 in the initial weights
    // already moves the loss of the third Adam step by 10% or more, on either backend.
    const size = 40;
    const classes = 6;
    const makeModel = () => ResNet50({ inputShape: [size, size, 3], classes, widthDivisor: 16 });
    await initBackend('cpu');
    const initial = tf.tidy(() => {
      const model = makeModel();
      const weights = model.getWeights().map((w) => ({ shape: w.shape, values: Float32Array.from(w.dataSync()) }));
      model.dispose();
      return weights;
    });
    const step = async (backend: 'onednn' | 'cpu') => {
      await initBackend(backend);
      const model = makeModel();
      tf.tidy(() => model.setWeights(initial.map((w) => tf.tensor(w.values, w.shape))));
      const result = tf.tidy(() => {
        const x = rand([4, size, size, 3], 60);
        const y = tf.oneHot(tf.tensor1d([0, 3, 5, 1], 'int32'), classes);
        const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(
          () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor), variables);
        return {
          loss: value.dataSync()[0],
          grads: model.trainableWeights.map((w, i) => ({
            name: w.name,
            values: Float32Array.from(grads[variables[i].name].dataSync()),
          })),
        };
      });
      model.dispose();
      return result;
    };
    let native!: Awaited<ReturnType<typeof step>>;
    const calls = await countNativeCalls(async () => {
      native = await step('onednn');
    });
    const cpu = await step('cpu');
    assert.ok(calls.batchNormTraining > 0 && calls.batchNormTrainingGrad > 0, 'the native layer path ran');
    assert.ok(Math.abs(native.loss - cpu.loss) <= 1e-5 * Math.abs(cpu.loss), `loss ${native.loss} vs ${cpu.loss}`);
    let compared = 0;
    native.grads.forEach((g, i) => {
      // A convolution's bias followed by BatchNormalization has a gradient of exactly 0 in exact arithmetic (the
      // normalization removes any per-channel constant): both backends compute rounding noise there.
      if (/bias/.test(g.name) && !/fc|dense/i.test(g.name)) return;
      let diff = 0;
      let scale = 0;
      g.values.forEach((v, j) => {
        diff = Math.max(diff, Math.abs(v - cpu.grads[i].values[j]));
        scale = Math.max(scale, Math.abs(cpu.grads[i].values[j]));
      });
      assert.ok(diff <= 1e-3 * scale, `${g.name}: difference ${diff}, largest value ${scale}`);
      compared++;
    });
    assert.ok(compared > 100, `compared ${compared} gradients`);
  });
});

/** A tensor's description as kernels see it (no data needed to decide whether a kernel applies). */
const info = (shape: number[], dtype: tf.DataType = 'float32'): tf.TensorInfo => ({ dataId: {}, shape, dtype });

test('which inputs the batch-norm kernels take (the rest runs tfjs code)', () => {
  const x = info([2, 3, 4]);
  const c = info([4]);
  // OnednnBatchNormTraining: x of rows of channels; scale and offset optional, each [C].
  assert.equal(batchNormTrainingApplies({ x }), true);
  assert.equal(batchNormTrainingApplies({ x: info([4]) }), true, 'rank 1: one row');
  assert.equal(batchNormTrainingApplies({ x, scale: c, offset: c }), true);
  assert.equal(batchNormTrainingApplies({ x, offset: c }), true);
  assert.equal(batchNormTrainingApplies({ x: info([]) }), false, 'a scalar');
  assert.equal(batchNormTrainingApplies({ x: info([2, 0, 4]) }), false, 'an empty axis');
  assert.equal(batchNormTrainingApplies({ x: info([2, 3, 4], 'int32') }), false, 'int32 x');
  assert.equal(batchNormTrainingApplies({ x, scale: info([3]) }), false, 'scale of another length');
  assert.equal(batchNormTrainingApplies({ x, offset: info([1, 4]) }), false, 'offset of rank 2');
  assert.equal(batchNormTrainingApplies({ x, scale: info([4], 'int32') }), false, 'int32 scale');

  // The two gradients: dy shaped like x; mean and variance required, each [C]; the others optional, each [C].
  const grad = { dy: x, x, mean: c, variance: c };
  for (const [name, applies] of [['OnednnBatchNormGrad', batchNormGradApplies], ['OnednnBatchNormTrainingGrad', batchNormTrainingGradApplies]] as const) {
    assert.equal(applies(grad), true, name);
    assert.equal(applies({ ...grad, scale: c }), true, name);
    assert.equal(applies({ ...grad, dy: info([2, 3, 5]) }), false, `${name}: dy of another shape`);
    assert.equal(applies({ ...grad, dy: info([6, 4]) }), false, `${name}: dy of another rank`);
    assert.equal(applies({ ...grad, dy: info([2, 3, 4], 'int32') }), false, `${name}: int32 dy`);
    assert.equal(applies({ ...grad, x: info([2, 3, 4], 'int32') }), false, `${name}: int32 x`);
    assert.equal(applies({ dy: info([0, 4]), x: info([0, 4]), mean: c, variance: c }), false, `${name}: empty x`);
    assert.equal(applies({ ...grad, mean: x }), false, `${name}: mean as large as x`);
    assert.equal(applies({ ...grad, variance: info([3]) }), false, `${name}: variance of another length`);
    assert.equal(applies({ ...grad, scale: info([1, 4]) }), false, `${name}: scale of rank 2`);
  }
  assert.equal(batchNormTrainingGradApplies({ ...grad, dMean: c, dVariance: c }), true);
  assert.equal(batchNormTrainingGradApplies({ ...grad, dMean: info([3]) }), false, 'dMean of another length');
  assert.equal(batchNormTrainingGradApplies({ ...grad, dVariance: info([4], 'int32') }), false, 'int32 dVariance');
});
