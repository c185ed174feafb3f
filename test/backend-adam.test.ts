/**
 * The onednn backend's Adam update (the AdamOptimizer override of src/backend/adam.ts and its OnednnAdam kernel)
 * against tfjs's own AdamOptimizer on the cpu backend: the same gradients applied for several steps must give
 * bit-identical variables and optimizer state (slot names and values), in one native call per variable, and leave
 * the tensor count flat.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { countNativeCalls, randomValues, SKIP_NATIVE } from './backend-helpers.js';

/**
 * Variable shapes: a conv kernel large enough for several threads, a bias, a scalar-like weight, a dense kernel, and
 * one of over a million elements (an odd count), which the kernel writes with streaming stores where it can.
 */
const SHAPES = [[3, 3, 64, 96], [96], [1], [17, 6], [1023, 1031]];
const STEPS = 5;

interface State {
  /** Variable values after the steps. */
  values: Float32Array[];
  /** The optimizer's weights: name and values (iterations first, then the m and v slots). */
  weights: { name: string; values: Float32Array }[];
  /** tf.memory().numTensors after each step. */
  tensors: number[];
}

/** Applies STEPS seeded gradients with Adam (Keras defaults, learning rate 0.01) on the active backend. */
async function run(prefix: string): Promise<State> {
  const vars = SHAPES.map((shape, i) =>
    tf.variable(tf.tensor(randomValues(tf.util.sizeFromShape(shape), 10 + i), shape), true, `${prefix}w${i}`));
  const optimizer = tf.train.adam(0.01, 0.9, 0.999, 1e-7);
  const tensors: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    // Gradients of very different sizes, including zeros, so both moments and the epsilon matter.
    const grads = vars.map((v, i) => ({
      name: v.name,
      tensor: step === 2 && i === 1 ? tf.zeros(v.shape) : tf.tensor(randomValues(v.size, 100 * step + i, 10 ** (i - 2)), v.shape),
    }));
    optimizer.applyGradients(grads);
    tf.dispose(grads.map((g) => g.tensor));
    tensors.push(tf.memory().numTensors);
  }
  const values = vars.map((v) => Float32Array.from(v.dataSync()));
  const weights = (await optimizer.getWeights()).map((w) => ({
    name: w.name.replace(prefix, ''),
    values: Float32Array.from(w.tensor.dataSync()),
  }));
  optimizer.dispose();
  tf.dispose(vars);
  return { values, weights, tensors };
}

function assertBitIdentical(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}[${i}]: ${a[i]} on onednn, ${b[i]} on cpu`);
  }
}

describe('onednn Adam update', { skip: SKIP_NATIVE }, () => {
  test(`${STEPS} steps give bit-identical variables and optimizer state, one native call per variable`, async () => {
    await initBackend('onednn'); // installs the override; on cpu it must run tfjs's own code
    await initBackend('cpu');
    const cpu = await run('cpu_');
    await initBackend('onednn');
    let native!: State;
    const calls = await countNativeCalls(async () => {
      native = await run('onednn_');
    });
    assert.equal(calls.adam, SHAPES.length * STEPS, 'one native Adam call per variable and step');
    native.values.forEach((v, i) => assertBitIdentical(v, cpu.values[i], `variable ${i}`));
    assert.deepEqual(native.weights.map((w) => w.name), cpu.weights.map((w) => w.name));
    native.weights.forEach((w, i) => assertBitIdentical(w.values, cpu.weights[i].values, w.name));
    assert.equal(native.weights[0].name, 'iter');
    assert.deepEqual(Array.from(native.weights[0].values), [STEPS]);
    // The tensor count is flat once the slots exist.
    assert.deepEqual(native.tensors.slice(1), new Array(STEPS - 1).fill(native.tensors[1]));
  });

  test('the first step moves each weight by learningRate * g / (|g| + epsilon)', async () => {
    await initBackend('onednn');
    const w = tf.variable(tf.tensor1d([1, 2, 3, 4]), true, 'first_step_w');
    const optimizer = tf.train.adam(0.1, 0.9, 0.999, 1e-7);
    const g = tf.tensor1d([0.5, -2, 1e-3, -1e3]);
    // By name, as optimizer.minimize passes them.
    optimizer.applyGradients({ [w.name]: g } as unknown as Parameters<tf.AdamOptimizer['applyGradients']>[0]);
    const moved = Array.from(w.dataSync());
    // m/(1-beta1) = g and v/(1-beta2) = g^2, so the step is lr * g / (|g| + epsilon).
    [0.5, -2, 1e-3, -1e3].forEach((gi, i) => {
      const expected = i + 1 - (0.1 * gi) / (Math.abs(gi) + 1e-7);
      assert.ok(Math.abs(moved[i] - expected) < 1e-6, `w[${i}] = ${moved[i]}, expected ${expected}`);
    });
    tf.dispose([w, g]);
    optimizer.dispose();
  });
});
