/**
 * The onednn backend over its whole life: disposing it (tf.engine().reset()) gives back the recycled output arrays
 * and the addon's caches, and a backend made afterwards never gets the first one's cached work: its convolutions,
 * with new filters of the same shapes, match tfjs's cpu kernels. Native outputs are whole ArrayBuffers, so that
 * tfjs's `tensor.bytes()` (which reads `values.buffer`) returns exactly the tensor's bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend/index.js';
import { bufferPool } from '../src/backend/buffer_pool.js';
import { randomValues, relErr, SKIP_NATIVE, TOLERANCE } from './backend-helpers.js';

/** A 3x3 'same' convolution of a fixed input by the filter made from `seed`, on the active backend. */
function conv(seed: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(randomValues(2 * 7 * 7 * 8, 1), [2, 7, 7, 8]);
    const w = tf.tensor4d(randomValues(3 * 3 * 8 * 16, seed), [3, 3, 8, 16]);
    return Float32Array.from(tf.conv2d(x, w, 1, 'same').dataSync());
  });
}

/** {@link conv} on tfjs's cpu backend; the onednn backend is active again afterwards. */
async function cpuConv(seed: number): Promise<Float32Array> {
  await initBackend('cpu');
  try {
    return conv(seed);
  } finally {
    await initBackend('onednn');
  }
}

test('after tf.engine().reset() a new onednn backend computes with its own filters, not the old one\'s cached copies', { skip: SKIP_NATIVE }, async () => {
  await initBackend('cpu');
  const expectedA = conv(2);
  const expectedB = conv(3);
  assert.ok(relErr(expectedA, expectedB) > 0.1, 'the two filters give different results');

  await initBackend('onednn');
  assert.ok(relErr(conv(2), expectedA) < TOLERANCE);
  // Outputs that went back to the pool, so that the reset has something to give back.
  tf.tidy(() => tf.relu(tf.ones([1024])).add(1));
  assert.ok(bufferPool.bytes > 0, 'the pool holds recycled arrays');

  tf.engine().reset();
  assert.equal(bufferPool.bytes, 0, 'disposing the backend empties the output pool');
  await initBackend('onednn');
  // Same shapes, another filter: the first filter's reordered copy must not be taken for it.
  assert.ok(relErr(conv(3), expectedB) < TOLERANCE, 'the new backend used a stale reordered filter');
  assert.ok(relErr(conv(2), expectedA) < TOLERANCE);
});

test('native outputs are whole ArrayBuffers: tensor.bytes() gives exactly their values', { skip: SKIP_NATIVE }, async () => {
  await initBackend('onednn');
  const x = tf.tensor1d([1, -2, 3, -4, 5]);
  const y = tf.relu(x); // a native kernel's output array
  const bytes = (await y.bytes()) as Uint8Array;
  assert.deepEqual(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)), [1, 0, 3, 0, 5]);
  tf.dispose([x, y]);
});

test('a worker thread gets the cpu backend (the addon belongs to the thread that loaded it first), saying why', { skip: SKIP_NATIVE }, async () => {
  assert.equal(await initBackend('auto'), 'onednn');
  const backendIndex = fileURLToPath(new URL('../src/backend/index.js', import.meta.url));
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(backendIndex)}).then(async (m) => {
      const auto = await m.initBackend('auto');
      let forced;
      try { await m.initBackend('onednn'); forced = 'no error'; } catch (e) { forced = e.message; }
      parentPort.postMessage({ auto, forced });
    });`;
  const worker = new Worker(code, { eval: true, stderr: true });
  const reply = await new Promise<{ auto: string; forced: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(reply.auto, 'cpu');
  assert.match(reply.forced, /in use by another thread of this process/);
  // The main thread keeps its native backend.
  assert.equal(await initBackend('onednn'), 'onednn');
});

test('after tf.removeBackend(\'onednn\'), initBackend brings the backend back', { skip: SKIP_NATIVE }, async () => {
  await initBackend('onednn');
  tf.removeBackend('onednn');
  assert.equal(await initBackend('auto'), 'onednn');
  assert.ok(relErr(conv(3), (await cpuConv(3))) < TOLERANCE);
});

