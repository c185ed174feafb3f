/**
 * The CLI on a CIFAR-10 binary folder: `resnet train` trains a tiny ResNet on its training batches at the CIFAR
 * default shape (40x40x3) with its class names, and `resnet evaluate` reads its test batch by default.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { loadModel } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import { writeCifar10 } from './cifar-fixtures.js';
import { TEST_BACKEND, tempDir } from './train-fixtures.js';

const { dir: work, cleanup } = tempDir('resnet-cli-cifar-');
test.after(cleanup);

const NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

test('train 1 epoch on a tiny CIFAR-10 folder, then evaluate on its test batch', async () => {
  const data = join(work, 'cifar-10-batches-bin');
  // Five batches of 4 images (labels 0..9 twice), a test batch of 10 (each class once).
  await writeCifar10(data, {
    batches: [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [2, 3, 4, 5], [6, 7, 8, 9]],
    test: [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    names: [...NAMES, ''],
  });
  const run = join(work, 'run');
  const trained = await runCaptured([
    'train', '--data', data, '--out', run, '--epochs', '1', '--batch-size', '8', '--val-split', '0',
    '--arch', 'resnet18', '--width-divisor', '32', '--backend', TEST_BACKEND,
  ]);
  assert.equal(trained.code, 0, trained.err);
  assert.ok(
    trained.err.includes(`${data}: CIFAR-10 training part (data_batch_1.bin to data_batch_5.bin), 20 images of 32x32 RGB, 10 classes (airplane, automobile, bird and 7 more), 2 a class`),
    trained.err,
  );

  // The model takes the CIFAR default shape and has a unit per class.
  await initBackend('cpu');
  const model = await loadModel(join(run, 'checkpoints', 'epoch-0001'));
  assert.deepEqual(model.inputs[0].shape, [null, 40, 40, 3]);
  assert.deepEqual(model.outputs[0].shape, [null, 10]);
  model.dispose();

  const evaluated = await runCaptured(['evaluate', '--model', run, '--data', data, '--json', '--backend', TEST_BACKEND]);
  assert.equal(evaluated.code, 0, evaluated.err);
  const result = JSON.parse(evaluated.out) as { part?: string; count: number; classes: string[]; confusion: number[][]; mistakes: { source?: string }[] };
  assert.equal(result.part, 'test');
  assert.equal(result.count, 10);
  assert.deepEqual(result.classes, NAMES);
  assert.deepEqual(result.confusion.map((row) => row.reduce((a, b) => a + b, 0)), new Array(10).fill(1), 'one test image a class');
  for (const m of result.mistakes) assert.match(m.source ?? '', /test_batch\.bin #\d$/);
  assert.ok(evaluated.err.includes(`${data}: CIFAR-10 test part (test_batch.bin), 10 images of 32x32 RGB`), evaluated.err);

  // --split train evaluates the training batches.
  const onTrain = await runCaptured(['evaluate', '--model', run, '--data', data, '--split', 'train', '--json', '--backend', TEST_BACKEND]);
  assert.equal(onTrain.code, 0, onTrain.err);
  assert.equal((JSON.parse(onTrain.out) as { count: number }).count, 20);

  // A missing batch: one line naming the folder and the file, exit 1.
  await unlink(join(data, 'data_batch_2.bin'));
  const refused = await runCaptured(['train', '--data', data, '--out', join(work, 'run2'), '--epochs', '1', '--backend', TEST_BACKEND]);
  assert.notEqual(refused.code, 0);
  const lines = refused.err.split('\n').filter((l) => l.startsWith('resnet: '));
  assert.deepEqual(lines, [`resnet: ${data}: data_batch_2.bin is missing: the CIFAR-10 training part (data_batch_1.bin to data_batch_5.bin) needs it`]);
});
