/**
 * Early stopping as a user meets it: it needs validation data (without any it is refused, not silently ignored); a run
 * that stops early says where it stopped, which epoch was best and how to use that epoch's checkpoint, and its report
 * evaluates that checkpoint; a resumed run that stops again counts the epochs without improvement from the best one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { train, type TrainOptions } from '../src/train/index.js';
import { SIGNS_TRAIN, TEST_BACKEND, TINY_INPUT, memoryDataset, recordingReporter, tempDir, tinyResNet } from './train-fixtures.js';

const TRAIN = memoryDataset(24, TINY_INPUT, 3, 'train');

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    data: TRAIN,
    buildModel: (shape, classes) => tinyResNet(shape, classes),
    batchSize: 8,
    preciseBn: 0,
    out,
    backend: TEST_BACKEND,
    reporter: recordingReporter(),
    ...extra,
  };
}

test('train: earlyStop without validation data is refused, naming both options, before anything is written', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const refusal = /^Error: earlyStop needs validation data: give valData, or a valSplit above 0 \(it watches the validation loss\)$/;
    // An in-memory data set is never split; a path with valSplit 0 is not either.
    const memory = join(dir, 'memory');
    await assert.rejects(train(options(memory, { earlyStop: 2 })), refusal);
    assert.equal(existsSync(memory), false);
    const path = join(dir, 'path');
    await assert.rejects(train(options(path, { data: SIGNS_TRAIN, valSplit: 0, inputShape: TINY_INPUT, earlyStop: 2 })), refusal);
    assert.equal(existsSync(path), false);
    await assert.rejects(train(options(path, { valData: TRAIN, earlyStop: 0 })), /^Error: earlyStop must be a positive whole number of epochs, got 0$/);
    assert.equal(existsSync(path), false);
  } finally {
    cleanup();
  }
});
