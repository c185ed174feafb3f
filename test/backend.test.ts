/**
 * The onednn backend as a whole: selection through initBackend, fallback to the CPU kernels for cases the native
 * code does not handle, and no tensor leaks over repeated forward/backward passes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import { BackendOnednn, initBackend, nativeBackendAvailable, nativeBackendUnavailableReason, onednnInfo } from '../src/backend/index.js';
import { NATIVE_KERNELS, ONEDNN_ONLY_KERNELS } from '../src/backend/register_all_kernels.js';
import { countNativeCalls, onBoth, rand, relErr, SKIP_NATIVE, TOLERANCE } from './backend-helpers.js';

test('the native onednn addon is built and loads', () => {
  assert.ok(nativeBackendAvailable(), `onednn addon: ${nativeBackendUnavailableReason()} (run npm run build:native)`);
  const info = onednnInfo();
  assert.ok(info !== null);
  assert.match(info.version, /^\d+\.\d+\.\d+$/);
  assert.ok(info.maxThreads >= 1);
});

describe('onednn backend', { skip: SKIP_NATIVE }, () => {
  test('initBackend selects onednn for auto and onednn, cpu for cpu', async () => {
    assert.equal(await initBackend('auto'), 'onednn');
    assert.equal(tf.getBackend(), 'onednn');
    assert.equal(await initBackend('cpu'), 'cpu');
    assert.equal(await initBackend('onednn'), 'onednn');
  });

  test('every kernel is registered for onednn, the native ones replacing the cpu ones', async () => {
    await initBackend('onednn');
    const cpuKernels = tf.getKernelsForBackend('cpu').map((k) => k.kernelName).sort();
    const ours = tf.getKernelsForBackend('onednn').map((k) => k.kernelName).sort();
    assert.deepEqual(ours, [...cpuKernels, ...ONEDNN_ONLY_KERNELS].sort());
    for (const config of NATIVE_KERNELS) {
      assert.equal(tf.getKernel(config.kernelName, 'onednn')?.kernelFunc, config.kernelFunc, config.kernelName);
    }
  });

  test('cases the native kernels do not handle give the cpu result through the fallback', async () => {
    let result!: Awaited<ReturnType<typeof onBoth>>;
    const calls = await countNativeCalls(async () => {
      result = await onBoth(() => {
        const x = rand([2, 4, 7, 6], 1); // NCHW: 2 images, 4 channels, 7x6
        const filter = rand([3, 3, 4, 5], 2, 0.5);
        const xNhwc = rand([2, 7, 6, 4], 3);
        const alpha = rand([5], 4, 0.5);
        return [
          tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same', 'NCHW'),
          tf.fused.conv2d({ x: xNhwc as tf.Tensor4D, filter: filter as tf.Tensor4D, pad: 'valid', strides: 1, activation: 'prelu', preluActivationWeights: alpha }),
          tf.fused.matMul({ a: rand([3, 4], 5) as tf.Tensor2D, b: rand([4, 5], 6) as tf.Tensor2D, activation: 'prelu', preluActivationWeights: alpha }),
          tf.cast(tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor2d([5, 6, 7, 8], [2, 2], 'int32')), 'float32'),
        ];
      });
    });
    assert.deepEqual(result.native.shapes, result.cpu.shapes);
    result.native.values.forEach((v, i) => assert.ok(relErr(v, result.cpu.values[i]) <= TOLERANCE, `output ${i}`));
    assert.deepEqual(Array.from(result.native.values[3]), [19, 22, 43, 50]);
    assert.equal(calls.conv2dForward ?? 0, 0, 'no conv ran natively');
    assert.equal(calls.matmul ?? 0, 0, 'no matmul ran natively');
  });

  test('the addon rejects bad arguments with an error instead of touching memory', async () => {
    await initBackend('onednn');
    const native = (tf.backend() as BackendOnednn).native;
    // 1x4x4x2 input, 3x3x2x3 filter, stride 1, valid -> 1x2x2x3
    const geometry = Int32Array.from([1, 4, 4, 2, 2, 2, 3, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0]);
    const x = new Float32Array(32);
    const w = new Float32Array(54);
    const y = new Float32Array(12);
    native.conv2dForward(x, w, null, y, geometry, 0, 0, 0);
    assert.throws(() => native.conv2dForward(x, w, null, new Float32Array(11), geometry, 0, 0, 0), /'y' has 11 elements, needs 12/);
    assert.throws(() => native.conv2dForward(x.subarray(1), w, null, y, geometry, 0, 0, 0), /'x' has 31 elements/);
    assert.throws(() => native.conv2dForward(x, new Float64Array(54) as unknown as Float32Array, null, y, geometry, 0, 0, 0),
      /'filter' must be a Float32Array/);
    const inconsistent = Int32Array.from(geometry);
    inconsistent[4] = 3; // outH 3 does not follow from inH 4, filter 3, stride 1, no pads
    assert.throws(() => native.conv2dForward(x, w, null, new Float32Array(18), inconsistent, 0, 0, 0), /output size does not match/);
    assert.throws(() => native.conv2dForward(x, w, null, y, geometry, 9, 0, 0), /not an activation code/);
    assert.throws(() => native.matmul(new Float32Array(6), new Float32Array(6), new Float32Array(4), Int32Array.from([2, 3, 1, 3, 2, 0, 0]), null, 0, 0),
      /batch sizes must be equal or 1/);
  });

  test('no tensors or bytes leak over repeated conv and matmul forward/backward passes', async () => {
    await initBackend('onednn');
    const x = rand([2, 9, 9, 5], 1);
    const filter = tf.variable(rand([3, 3, 5, 8], 2, 0.3));
    const bias = tf.variable(rand([8], 3, 0.1));
    const dense = tf.variable(rand([8, 4], 4, 0.3));
    const step = () => {
      const { value, grads } = tf.variableGrads(() => {
        const y = tf.fused.conv2d({ x: x as tf.Tensor4D, filter: filter as tf.Variable<tf.Rank.R4>, bias, strides: 2, pad: 'same', activation: 'relu' });
        const pooled = tf.mean(y, [1, 2]) as tf.Tensor2D;
        return tf.sum(tf.square(tf.fused.matMul({ a: pooled, b: dense as tf.Variable<tf.Rank.R2>, activation: 'relu' })));
      });
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory();
    for (let i = 0; i < 20; i++) step();
    const after = tf.memory();
    assert.equal(after.numTensors, before.numTensors);
    assert.equal(after.numBytes, before.numBytes);
    tf.dispose([x, filter, bias, dense]);
  });

  test('without the addon, auto falls back to cpu with one hint on stderr, and onednn is an error', () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const script = [
      `const b = await import(${JSON.stringify(join(root, 'dist', 'src', 'backend', 'index.js'))});`,
      `console.log(await b.initBackend('auto'));`,
      `console.log(await b.initBackend('auto'));`,
      `try { await b.initBackend('onednn'); console.log('no error'); } catch (e) { console.log('error: ' + e.message); }`,
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, RESNET_ONEDNN_ADDON: '/nonexistent/onednn_backend.node' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['cpu', 'cpu']);
    assert.match(lines[2], /^error: the onednn backend is not available .*apt-get install libdnnl-dev/);
    const hints = r.stderr.split('\n').filter((l) => l.includes('npm run build:native'));
    assert.equal(hints.length, 1, r.stderr);
  });
});
