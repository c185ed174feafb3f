/**
 * `evaluate()`, the library call: which backend it runs on when the caller names none (the fastest available, as
 * `train()` does) and that an explicit `backend` option is still obeyed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeBackendAvailable, ONEDNN_BACKEND_NAME } from '../src/backend/index.js';
import { evaluate } from '../src/train/index.js';
import { TINY_INPUT, memoryDataset, tinyResNet } from './train-fixtures.js';

/** What `backend: 'auto'` means: the native backend when its addon loads here, else tfjs's pure-JS cpu backend. */
const FASTEST = nativeBackendAvailable() ? ONEDNN_BACKEND_NAME : 'cpu';

test("evaluate() without a backend option switches to the fastest available backend (like train()'s 'auto')", async () => {
  // The slow backend is current, as it is in a program that never called initBackend.
  await initBackend('cpu');
  const model = tinyResNet();
  try {
    const r = await evaluate({ model, data: memoryDataset(6, TINY_INPUT, 6) });
    assert.equal(r.count, 6);
    assert.equal(tf.getBackend(), FASTEST);
  } finally {
    model.dispose();
  }
});

test('evaluate() with an explicit backend option runs on that backend', async () => {
  await initBackend('auto');
  const model = tinyResNet();
  try {
    const r = await evaluate({ model, data: memoryDataset(6, TINY_INPUT, 6), backend: 'cpu' });
    assert.equal(r.count, 6);
    assert.equal(tf.getBackend(), 'cpu');
  } finally {
    model.dispose();
  }
});
