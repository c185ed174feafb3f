/**
 * What train and evaluate check before they run, and what a failed or empty run leaves: class names against the
 * model's and the training set's, the default BatchNorm recalibration, a resumed run with nothing left to train, and
 * no run folder left behind by a run that failed in its first epoch; loadModel's word on a run folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { DEFAULT_PRECISE_BN, checkCompatible, loadModel, train, type TrainOptions } from '../src/train/index.js';
import { TEST_BACKEND, TINY_INPUT, memoryDataset, recordingReporter, tempDir, tinyResNet } from './train-fixtures.js';

const TRAIN = memoryDataset(12, TINY_INPUT, 3, 'train');

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    data: TRAIN,
    buildModel: (shape, classes) => tinyResNet(shape, classes),
    batchSize: 6,
    epochs: 1,
    out,
    backend: TEST_BACKEND,
    report: false,
    reporter: recordingReporter(),
    ...extra,
  };
}

test('checkCompatible: a model that names its classes refuses data with other names', async () => {
  await initBackend(TEST_BACKEND);
  const model = tinyResNet(TINY_INPUT, 3);
  try {
    const data = memoryDataset(3, TINY_INPUT, 3, 'photos', ['cat', 'dog', 'bird']);
    checkCompatible(model, data); // no names in the model's metadata: only shape and count are checked
    model.setUserDefinedMetadata({ classes: ['blue', 'green', 'red'] });
    assert.throws(() => checkCompatible(model, data), /^Error: class mismatch: the model was trained on classes \[blue, green, red\], photos has \[cat, dog, bird\]$/);
    assert.throws(() => checkCompatible(model, memoryDataset(3, TINY_INPUT, 3, 'shuffled', ['green', 'blue', 'red'])), /class mismatch/);
    checkCompatible(model, memoryDataset(3, TINY_INPUT, 3, 'same', ['blue', 'green', 'red']));
  } finally {
    model.dispose();
  }
});

test('train: validation data with other class names is refused, and the run folder it created is gone', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    const val = memoryDataset(3, TINY_INPUT, 3, 'val', ['x', 'y', 'z']);
    await assert.rejects(train(options(out, { valData: val })), /^Error: class mismatch: train has classes \[class0, class1, class2\], val has \[x, y, z\]$/);
    assert.equal(existsSync(out), false);
  } finally {
    cleanup();
  }
});

test('train: a run that fails during its first epoch leaves no run folder (no logs before the first epoch)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    const reporter = recordingReporter();
    reporter.step = () => {
      throw new Error('failed at the first step');
    };
    await assert.rejects(train(options(out, { reporter })), /failed at the first step/);
    assert.equal(existsSync(out), false);
  } finally {
    cleanup();
  }
});

test('train: BatchNorm recalibration is on by default; resuming a finished run says there is nothing to train', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    const first = await train(options(out));
    try {
      assert.equal(DEFAULT_PRECISE_BN, 10);
      assert.equal(first.state.args.preciseBn, DEFAULT_PRECISE_BN);
    } finally {
      first.optimizer.dispose();
      first.model.dispose();
    }
    // loadModel takes a saved model, and says what to do with a run folder.
    await assert.rejects(loadModel(out), (e: Error) => e.message === `${out}: a training run folder, not a saved model: load one of its checkpoints/epoch-NNNN folders (resolveModelDir finds the latest or best)`);
    const reporter = recordingReporter();
    const again = await train(options(out, { resume: true, reporter }));
    try {
      assert.equal(again.state.epoch, 1);
      assert.ok(
        reporter.messages.some((m) => /epoch-0001 is at epoch 1 and --epochs is 1: nothing to train \(pass a larger --epochs to go on\)$/.test(m)),
        reporter.messages.join('\n'),
      );
    } finally {
      again.optimizer.dispose();
      again.model.dispose();
    }
  } finally {
    cleanup();
  }
});
