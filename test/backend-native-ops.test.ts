/**
 * The backend's native ops facade (src/backend/native_ops.ts): each planned op, run on raw Float32Arrays, against
 * tfjs's CPU backend computing the same function with its own ops on the same seeded data (relative error <= 1e-4,
 * see relErr in backend-helpers.ts); the output shapes against tfjs's; and the reasons it gives for what it cannot
 * run.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { activeNativeOps, conv2dResidualOnBackend, initBackend, isFusedActivation, type BackendOnednn, type NativeOps } from '../src/backend/index.js';
import { randomValues, relErr, SKIP_NATIVE, TOLERANCE } from './backend-helpers.js';

/** `fn` on the cpu backend: its output's shape and values. */
async function onCpu(fn: () => tf.Tensor): Promise<{ shape: number[]; values: Float32Array }> {
  await initBackend('cpu');
  const y = tf.tidy(fn);
  const out = { shape: y.shape, values: Float32Array.from(y.dataSync()) };
  y.dispose();
  return out;
}

/** The onednn backend's native ops. */
async function nativeOps(): Promise<NativeOps> {
  await initBackend('onednn');
  const ops = activeNativeOps();
  assert.ok(ops !== null, 'activeNativeOps() on onednn');
  return ops;
}

/** Runs a planned op into a fresh output array of its shape and returns that array. */
function into(outShape: number[], run: (out: Float32Array) => void): Float32Array {
  const out = new Float32Array(tf.util.sizeFromShape(outShape)).fill(Number.NaN);
  run(out);
  return out;
}

describe('native ops facade', { skip: SKIP_NATIVE }, () => {
  test('is null off the onednn backend', async () => {
    await initBackend('cpu');
    assert.equal(activeNativeOps(), null);
    const x = tf.zeros([1, 3, 3, 1]) as tf.Tensor4D;
    const f = tf.zeros([1, 1, 1, 1]) as tf.Tensor4D;
    const geometry = { strides: [1, 1] as [number, number], padding: 'same' as const, dilations: [1, 1] as [number, number] };
    assert.equal(conv2dResidualOnBackend(x, f, undefined, x, geometry, 'relu'), null);
    tf.dispose([x, f]);
  });

  const convCases = [
    { name: '3x3 same, stride 1, relu, bias and residual', x: [2, 7, 6, 3], f: [3, 3, 3, 5], strides: 1, pad: 'same' as const, dil: 1, act: 'relu' as const, bias: true, residual: true },
    { name: '3x3 valid, stride 2, linear, no bias', x: [1, 9, 9, 4], f: [3, 3, 4, 6], strides: 2, pad: 'valid' as const, dil: 1, act: 'linear' as const, bias: false, residual: false },
    { name: '1x1 stride 2 (a matrix product natively), relu6', x: [2, 6, 6, 8], f: [1, 1, 8, 12], strides: 2, pad: 'same' as const, dil: 1, act: 'relu6' as const, bias: true, residual: false },
    { name: '3x3 dilated 2, same, elu', x: [1, 8, 8, 2], f: [3, 3, 2, 3], strides: 1, pad: 'same' as const, dil: 2, act: 'elu' as const, bias: true, residual: false },
  ];
  for (const c of convCases) {
    test(`conv2d: ${c.name}`, async () => {
      const xv = randomValues(tf.util.sizeFromShape(c.x), 1);
      const fv = randomValues(tf.util.sizeFromShape(c.f), 2, 0.5);
      const bv = randomValues(c.f[3], 3);
      const expected = await onCpu(() => {
        let y = tf.conv2d(tf.tensor4d(xv, c.x as [number, number, number, number]), tf.tensor4d(fv, c.f as [number, number, number, number]),
          c.strides, c.pad, 'NHWC', c.dil);
        if (c.bias) y = tf.add(y, tf.tensor1d(bv));
        if (c.residual) y = tf.add(y, tf.tensor(randomValues(tf.util.sizeFromShape(y.shape), 4), y.shape));
        if (c.act === 'relu') return tf.relu(y);
        if (c.act === 'relu6') return tf.relu6(y);
        if (c.act === 'elu') return tf.elu(y);
        return y;
      });
      const ops = await nativeOps();
      const conv = ops.conv2d({ xShape: c.x, filterShape: c.f, filter: fv, bias: c.bias ? bv : null, strides: c.strides, pad: c.pad,
        dilations: c.dil, activation: c.act });
      if (typeof conv === 'string') assert.fail(conv);
      assert.deepEqual(conv.outShape, expected.shape);
      const residual = c.residual ? randomValues(tf.util.sizeFromShape(conv.outShape), 4) : null;
      const got = into(conv.outShape, (out) => conv.run(xv, out, residual));
      assert.ok(relErr(got, expected.values) <= TOLERANCE, `relative error ${relErr(got, expected.values)}`);
    });
  }

  test('conv2d: explicit pads equal tfjs pad then conv; with a filter token, run after run', async () => {
    const xShape = [2, 5, 5, 3];
    const fShape = [3, 3, 3, 4];
    const pads: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [3, 3], [1, 2], [0, 0]];
    const xv = randomValues(tf.util.sizeFromShape(xShape), 5);
    const fv = randomValues(tf.util.sizeFromShape(fShape), 6);
    const reference = await onCpu(() => tf.conv2d(tf.pad(tf.tensor4d(xv, xShape as [number, number, number, number]), pads),
      tf.tensor4d(fv, fShape as [number, number, number, number]), 1, 'valid'));
    const ops = await nativeOps();
    const filter = tf.tensor4d(fv, fShape as [number, number, number, number]);
    const filterData = ops.values(filter);
    assert.ok(filterData !== null);
    const token = ops.contentToken(filter);
    assert.ok(token > 0);
    assert.equal(ops.contentToken(filter), token, 'a tensor keeps its token');
    const conv = ops.conv2d({ xShape, filterShape: fShape, filter: filterData, filterToken: token, strides: 1, pad: pads });
    if (typeof conv === 'string') assert.fail(conv);
    assert.deepEqual(conv.outShape, reference.shape);
    for (let run = 0; run < 2; run++) {
      const got = into(conv.outShape, (out) => conv.run(xv, out));
      assert.ok(relErr(got, reference.values) <= TOLERANCE, `run ${run}: relative error ${relErr(got, reference.values)}`);
    }
    filter.dispose();
  });

  test('conv2d says why it cannot run a case', async () => {
    const ops = await nativeOps();
    const filter = new Float32Array(3 * 3 * 2 * 4);
    const base = { xShape: [1, 5, 5, 2], filterShape: [3, 3, 2, 4], filter, strides: 1, pad: 'same' as const };
    assert.match(String(ops.conv2d({ ...base, xShape: [1, 5, 5, 3] })), /channels/);
    assert.match(String(ops.conv2d({ ...base, bias: new Float32Array(3) })), /bias of 3 values for 4 channels/);
    assert.match(String(ops.conv2d({ ...base, filter: new Float32Array(5) })), /filter of 5 values/);
    assert.match(String(ops.conv2d({ ...base, activation: 'tanh' as 'relu' })), /activation 'tanh'/);
  });

  test('fused activations are the native ones', () => {
    for (const name of ['linear', 'relu', 'relu6', 'elu', 'sigmoid']) assert.ok(isFusedActivation(name), name);
    for (const name of ['softmax', 'tanh', 'leakyrelu', 'prelu', 'toString']) assert.ok(!isFusedActivation(name), name);
  });

  for (const kind of ['max', 'avg'] as const) {
    for (const pad of ['same', 'valid'] as const) {
      test(`pool2d: ${kind}, 3x3 stride 2, ${pad}`, async () => {
        const xShape: [number, number, number, number] = [2, 7, 8, 3];
        const xv = randomValues(tf.util.sizeFromShape(xShape), 7);
        const expected = await onCpu(() => (kind === 'max' ? tf.maxPool : tf.avgPool)(tf.tensor4d(xv, xShape), 3, 2, pad));
        const ops = await nativeOps();
        const pool = ops.pool2d({ xShape, kind, filterSize: 3, strides: [2, 2], pad });
        if (typeof pool === 'string') assert.fail(pool);
        assert.deepEqual(pool.outShape, expected.shape);
        const got = into(pool.outShape, (out) => pool.run(xv, out));
        assert.ok(relErr(got, expected.values) <= TOLERANCE, `relative error ${relErr(got, expected.values)}`);
      });
    }
  }

  test('pool2d says why it cannot run a case', async () => {
    const ops = await nativeOps();
    assert.match(String(ops.pool2d({ xShape: [2, 4, 3], kind: 'max', filterSize: 2, strides: 2, pad: 'valid' })), /not 4-D/);
  });

  test('matMul: a [5,7] b [7,3] + bias, sigmoid', async () => {
    const av = randomValues(35, 8);
    const bv = randomValues(21, 9);
    const biasv = randomValues(3, 10);
    const expected = await onCpu(() => tf.sigmoid(tf.add(tf.matMul(tf.tensor2d(av, [5, 7]), tf.tensor2d(bv, [7, 3])), tf.tensor1d(biasv))));
    const ops = await nativeOps();
    const mm = ops.matMul({ aShape: [5, 7], bShape: [7, 3], b: bv, bias: biasv, activation: 'sigmoid' });
    if (typeof mm === 'string') assert.fail(mm);
    assert.deepEqual(mm.outShape, [5, 3]);
    const got = into(mm.outShape, (out) => mm.run(av, out));
    assert.ok(relErr(got, expected.values) <= TOLERANCE, `relative error ${relErr(got, expected.values)}`);
    assert.match(String(ops.matMul({ aShape: [5, 7], bShape: [6, 3], b: new Float32Array(18) })), /do not multiply/);
    assert.match(String(ops.matMul({ aShape: [5, 7], bShape: [7, 3], b: bv, bias: new Float32Array(4) })), /bias of 4 values/);
  });

  test('batchNormTraining with a fused ReLU: forward and gradients equal relu(tf.moments + tf.batchNorm) and tf.grads on cpu', async () => {
    const shape = [3, 5, 4, 6];
    const size = tf.util.sizeFromShape(shape);
    const xv = randomValues(size, 40, 2);
    const gv = Float32Array.from(randomValues(6, 41), (v) => v + 1.2);
    const bv = randomValues(6, 42);
    const dzv = randomValues(size, 43);
    const eps = 1e-3;
    // On cpu: z = relu(batchNorm(x)), and the gradients of sum(z * dz) for x, gamma and beta.
    const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.relu(tf.batchNorm(x, mean, variance, b, g, eps));
    };
    const z = await onCpu(() => f(tf.tensor(xv, shape), tf.tensor1d(gv), tf.tensor1d(bv)));
    const grads = await Promise.all([0, 1, 2].map((k) => onCpu(() =>
      tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(x, g, b), tf.tensor(dzv, shape))))([tf.tensor(xv, shape), tf.tensor1d(gv), tf.tensor1d(bv)])[k])));
    const ops = await nativeOps();
    const bn = ops.batchNormTraining(shape, eps, true);
    if (typeof bn === 'string') assert.fail(bn);
    const mean = new Float32Array(6);
    const variance = new Float32Array(6);
    const y = into(shape, (out) => bn.forward(xv, gv, bv, out, mean, variance));
    assert.ok(relErr(y, z.values) <= TOLERANCE, `forward: relative error ${relErr(y, z.values)}`);
    assert.ok(y.some((v) => v === 0) && y.some((v) => v > 0), 'the ReLU cut some values');
    const dScale = new Float32Array(6);
    const dOffset = new Float32Array(6);
    const dxSums = new Float32Array(6).fill(Number.NaN);
    const dx = into(shape, (out) => bn.backward(dzv, xv, y, gv, mean, variance, out, dScale, dOffset, dxSums));
    [dx, dScale, dOffset].forEach((got, k) => assert.ok(relErr(got, grads[k].values) <= TOLERANCE, `gradient ${k}: relative error ${relErr(got, grads[k].values)}`));
    // dx summed per channel, by plain loops over what it wrote. Through the batch statistics those sums are about 0;
    // a gradient reaching the mean output (dMeanIn, which the addon takes) adds dMeanIn / N to every row, so with one
    // the sums are dMeanIn: that call checks the sums are dx's, channel by channel.
    const backend = tf.backend() as BackendOnednn;
    const dMeanIn = Float32Array.from([1, -2, 3, 0.5, -0.25, 4]);
    const dx2 = new Float32Array(size);
    const sums2 = new Float32Array(6).fill(Number.NaN);
    backend.native.batchNormTrainingGrad(dzv, xv, gv, mean, variance, dMeanIn, null, dx2, new Float32Array(6), new Float32Array(6), 6, eps,
      y, sums2);
    for (const [got, values] of [[dxSums, dx], [sums2, dx2]] as const) {
      const loops = new Float64Array(6);
      values.forEach((v, i) => (loops[i % 6] += v));
      loops.forEach((v, c) => assert.ok(Math.abs(got[c] - v) <= 1e-5, `dx sum ${c}: ${got[c]} vs ${v}`));
    }
    sums2.forEach((v, c) => assert.ok(Math.abs(v - dMeanIn[c]) <= 1e-4, `with dMeanIn: sum ${c} ${v}, expected about ${dMeanIn[c]}`));
    assert.match(String(ops.batchNormTraining([0, 3], eps)), /not rows of channels/);
  });

  test("conv2dTraining, matMulTraining, pool2d backward, reluGrad and columnSums equal tfjs's gradients on cpu", async () => {
    const xShape = [2, 7, 6, 3];
    const fShape = [3, 3, 3, 4];
    const xv = randomValues(tf.util.sizeFromShape(xShape), 50);
    const fv = randomValues(tf.util.sizeFromShape(fShape), 51);
    const biasv = randomValues(4, 52);
    const ops = await nativeOps();
    const conv = ops.conv2dTraining({ xShape, filterShape: fShape, strides: 2, pad: 'same' });
    if (typeof conv === 'string') assert.fail(conv);
    const dyv = randomValues(tf.util.sizeFromShape(conv.outShape), 53);
    const convOf = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.add(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'), b);
    const args = (): tf.Tensor[] => [tf.tensor(xv, xShape), tf.tensor(fv, fShape), tf.tensor1d(biasv)];
    const y = await onCpu(() => convOf(...(args() as [tf.Tensor, tf.Tensor, tf.Tensor])));
    const g = await Promise.all([0, 1, 2].map((k) => onCpu(() =>
      tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(convOf(x, w, b), tf.tensor(dyv, y.shape))))(args())[k])));
    await nativeOps();
    assert.deepEqual(conv.outShape, y.shape);
    const got = into(conv.outShape, (out) => conv.forward(xv, fv, 0, biasv, out));
    assert.ok(relErr(got, y.values) <= TOLERANCE, `forward ${relErr(got, y.values)}`);
    const dx = into(xShape, (out) => conv.backwardData(dyv, fv, 0, out));
    const dw = new Float32Array(fv.length);
    const db = new Float32Array(4);
    conv.backwardWeights(xv, dyv, dw, db);
    [dx, dw, db].forEach((v, k) => assert.ok(relErr(v, g[k].values) <= TOLERANCE, `conv gradient ${k}: ${relErr(v, g[k].values)}`));

    // Matrix product [3,5] x [5,4]: forward and both gradients; column sums of dOut are the bias gradient.
    const av = randomValues(15, 54);
    const bv = randomValues(20, 55);
    const dov = randomValues(12, 56);
    const mmOf = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
    const mg = await Promise.all([0, 1].map((k) => onCpu(() =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(mmOf(a, b), tf.tensor2d(dov, [3, 4]))))([tf.tensor2d(av, [3, 5]), tf.tensor2d(bv, [5, 4])])[k])));
    const mmv = await onCpu(() => mmOf(tf.tensor2d(av, [3, 5]), tf.tensor2d(bv, [5, 4])));
    const colSums = await onCpu(() => tf.sum(tf.tensor2d(dov, [3, 4]), 0));
    await nativeOps();
    const mm = ops.matMulTraining(3, 5, 4);
    if (typeof mm === 'string') assert.fail(mm);
    assert.ok(relErr(into([3, 4], (out) => mm.forward(av, bv, null, out)), mmv.values) <= TOLERANCE, 'matmul forward');
    assert.ok(relErr(into([3, 5], (out) => mm.backwardA(dov, bv, out)), mg[0].values) <= TOLERANCE, 'matmul dA');
    assert.ok(relErr(into([5, 4], (out) => mm.backwardB(av, dov, out)), mg[1].values) <= TOLERANCE, 'matmul dB');
    assert.ok(relErr(into([4], (out) => ops.columnSums(3, 4).run(dov, out)), colSums.values) <= TOLERANCE, 'column sums');

    // Max pooling 3x3 stride 2 'same' on odd sizes, and ReLU's gradient.
    const pShape = [2, 7, 5, 3];
    const pv = randomValues(tf.util.sizeFromShape(pShape), 57);
    const pool = ops.pool2d({ xShape: pShape, kind: 'max', filterSize: 3, strides: 2, pad: 'same' });
    if (typeof pool === 'string') assert.fail(pool);
    const pdy = randomValues(tf.util.sizeFromShape(pool.outShape), 58);
    const pg = await onCpu(() => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(x as tf.Tensor4D, 3, 2, 'same'), tf.tensor(pdy, pool.outShape))))(tf.tensor(pv, pShape)));
    const rg = await onCpu(() => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.relu(x), tf.tensor(pdy, pool.outShape))))(tf.tensor(pdy.map((v) => v - 0.1), pool.outShape)));
    await nativeOps();
    assert.ok(relErr(into(pShape, (out) => pool.backward(pdy, pv, out)), pg.values) <= TOLERANCE, 'max pool gradient');
    assert.ok(relErr(into(pool.outShape, (out) => ops.reluGrad(pool.outShape).run(pdy, pdy.map((v) => v - 0.1), out)), rg.values) <= TOLERANCE, 'relu gradient');
  });

  test('binary add (also in place), with broadcasting; unary relu', async () => {
    const av = randomValues(2 * 3 * 4, 11);
    const bv = randomValues(4, 12);
    const sameB = randomValues(2 * 3 * 4, 13);
    const broadcast = await onCpu(() => tf.add(tf.tensor3d(av, [2, 3, 4]), tf.tensor1d(bv)));
    const same = await onCpu(() => tf.add(tf.tensor3d(av, [2, 3, 4]), tf.tensor3d(sameB, [2, 3, 4])));
    const relu = await onCpu(() => tf.relu(tf.tensor3d(av, [2, 3, 4])));
    const ops = await nativeOps();
    const addB = ops.binary('add', [2, 3, 4], [4]);
    if (typeof addB === 'string') assert.fail(addB);
    assert.deepEqual(addB.outShape, broadcast.shape);
    assert.deepEqual(into(addB.outShape, (out) => addB.run(av, bv, out)), broadcast.values);
    const add = ops.binary('add', [2, 3, 4], [2, 3, 4]);
    if (typeof add === 'string') assert.fail(add);
    const inPlace = Float32Array.from(av);
    add.run(inPlace, sameB, inPlace);
    assert.deepEqual(inPlace, same.values);
    const r = ops.unary('relu', [2, 3, 4]);
    assert.deepEqual(r.outShape, [2, 3, 4]);
    assert.deepEqual(into(r.outShape, (out) => r.run(av, out)), relu.values);
  });

  test('pad: NHWC padded in H and W, with a constant', async () => {
    const xShape: [number, number, number, number] = [2, 3, 4, 5];
    const paddings: [number, number][] = [[0, 0], [1, 2], [3, 0], [0, 0]];
    const xv = randomValues(tf.util.sizeFromShape(xShape), 14);
    const expected = await onCpu(() => tf.pad(tf.tensor4d(xv, xShape), paddings, 1.5));
    const ops = await nativeOps();
    const pad = ops.pad(xShape, paddings, 1.5);
    if (typeof pad === 'string') assert.fail(pad);
    assert.deepEqual(pad.outShape, expected.shape);
    assert.deepEqual(into(pad.outShape, (out) => pad.run(xv, out)), expected.values);
    assert.match(String(ops.pad(xShape, [[0, 0], [1, 1]])), /rank/);
    assert.match(String(ops.pad(xShape, [[0, 0], [-1, 1], [0, 0], [0, 0]])), /negative/);
  });

  test('values: zero-copy float32 data of this backend only', async () => {
    const ops = await nativeOps();
    const t = tf.tensor1d([1, 2, 3]);
    const v = ops.values(t);
    assert.deepEqual(v, Float32Array.from([1, 2, 3]));
    assert.equal(ops.values(t), v, 'the same array each time');
    const ints = tf.tensor1d([1, 2], 'int32');
    assert.equal(ops.values(ints), null);
    tf.dispose([t, ints]);
  });

  test('conv2dResidualOnBackend: the native kernel equals tfjs conv, add and relu', async () => {
    const xShape: [number, number, number, number] = [2, 6, 6, 3];
    const fShape: [number, number, number, number] = [3, 3, 3, 4];
    const xv = randomValues(tf.util.sizeFromShape(xShape), 15);
    const fv = randomValues(tf.util.sizeFromShape(fShape), 16);
    const bv = randomValues(4, 17);
    const rv = randomValues(2 * 3 * 3 * 4, 18);
    const expected = await onCpu(() => tf.relu(tf.add(tf.add(tf.conv2d(tf.tensor4d(xv, xShape), tf.tensor4d(fv, fShape), 2, 'same'),
      tf.tensor1d(bv)), tf.tensor4d(rv, [2, 3, 3, 4]))));
    await nativeOps();
    const geometry = { strides: [2, 2] as [number, number], padding: 'same' as const, dilations: [1, 1] as [number, number] };
    const inputs = [tf.tensor4d(xv, xShape), tf.tensor4d(fv, fShape), tf.tensor1d(bv), tf.tensor4d(rv, [2, 3, 3, 4])] as const;
    const y = conv2dResidualOnBackend(inputs[0], inputs[1], inputs[2], inputs[3], geometry, 'relu');
    assert.ok(y !== null);
    assert.deepEqual(y.shape, expected.shape);
    assert.ok(relErr(y.dataSync(), expected.values) <= TOLERANCE, `relative error ${relErr(y.dataSync(), expected.values)}`);
    // A residual of another shape: the kernel does not take it.
    const wrong = tf.zeros([2, 6, 6, 4]) as tf.Tensor4D;
    assert.equal(conv2dResidualOnBackend(inputs[0], inputs[1], undefined, wrong, geometry, 'linear'), null);
    tf.dispose([...inputs, y, wrong]);
  });
});
