/**
 * `evaluate()`, the library call: which backend it runs on when the caller names none (the fastest available, as
 * `train()` does) and that an explicit `backend` option is still obeyed. `resnet evaluate --checkpoint` for a model
 * that is not a training run folder is a usage error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeBackendAvailable, ONEDNN_BACKEND_NAME } from '../src/backend/index.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BEST_FILE, CHECKPOINTS_DIR, LATEST_FILE, STATE_JSON, evaluate, saveModel } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import { SIGNS_TEST, TINY_INPUT, memoryDataset, tempDir, tinyResNet } from './train-fixtures.js';

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

test('resnet evaluate --checkpoint best with a saved model folder is a usage error (exit 2) before any work', async () => {
  const { dir, cleanup } = tempDir('resnet-evaluate-');
  const model = tinyResNet();
  try {
    const saved = join(dir, 'model');
    await saveModel(model, saved);
    const r = await runCaptured(['evaluate', '--model', saved, '--checkpoint', 'best', '--data', SIGNS_TEST, '--backend', 'cpu']);
    assert.equal(r.code, 2, r.err);
    assert.equal(r.err, `resnet: --checkpoint applies to training run folders, and ${saved} is not one: leave --checkpoint out, or give the run folder as --model\n`);
    assert.equal(r.out, '');
  } finally {
    model.dispose();
    cleanup();
  }
});

test('resnet evaluate --model <run>/checkpoints/best loads the checkpoint the pointer names and says which', async () => {
  const { dir, cleanup } = tempDir('resnet-evaluate-');
  const model = tinyResNet();
  try {
    // A hand-made run folder: epoch 1 is the best checkpoint, epoch 2 the latest.
    const checkpoints = join(dir, 'run', CHECKPOINTS_DIR);
    mkdirSync(checkpoints, { recursive: true });
    for (const name of ['epoch-0001', 'epoch-0002']) {
      await saveModel(model, join(checkpoints, name));
      writeFileSync(join(checkpoints, name, STATE_JSON), '{}');
    }
    writeFileSync(join(checkpoints, LATEST_FILE), 'epoch-0002\n');
    writeFileSync(join(checkpoints, BEST_FILE), 'epoch-0001\n');
    const pointer = join(checkpoints, BEST_FILE);
    const r = await runCaptured(['evaluate', '--model', pointer, '--data', SIGNS_TEST, '--limit', '12', '--backend', 'cpu']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.split('\n').slice(0, 3), [`model: ${pointer}`, `checkpoint: ${join(checkpoints, 'epoch-0001')} (best)`, `data: ${SIGNS_TEST} (12 images)`]);
  } finally {
    model.dispose();
    cleanup();
  }
});
