/**
 * Fine-tuning: a model's start from another one's weights (initWeightsFrom, train's initWeights, `resnet train
 * --init-weights`), layer by layer where names and shapes match, from a saved model, a training run or a Keras HDF5
 * weights file; what it says; and its one-line errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { saveKerasH5Weights } from '../src/io/keras_h5.js';
import { describeInitWeights, initWeightsFrom, saveModel } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import { TEST_BACKEND, TINY_INPUT, memoryDataset, recordingReporter, tempDir, tinyResNet, trainReleased } from './train-fixtures.js';

/** Weights by layer name. */
function layerWeights(m: tf.LayersModel): Map<string, Float32Array[]> {
  return new Map(m.layers.filter((l) => l.weights.length > 0).map((l) => [l.name, l.getWeights().map((w) => Float32Array.from(w.dataSync()))]));
}

test('initWeightsFrom: every layer but the classifier (named after its class count), from a model folder and from a Keras weights file', async () => {
  await initBackend(TEST_BACKEND);
  const { dir, cleanup } = tempDir('resnet-init-');
  try {
    const source = tinyResNet(TINY_INPUT, 6);
    await saveModel(source, join(dir, 'six'));
    await saveKerasH5Weights(source, join(dir, 'six.h5'));
    const expected = layerWeights(source);
    for (const path of [join(dir, 'six'), join(dir, 'six.h5')]) {
      const target = tinyResNet(TINY_INPUT, 3);
      const before = layerWeights(target);
      const result = await initWeightsFrom(target, path);
      const after = layerWeights(target);
      const classifier = target.layers[target.layers.length - 1].name;
      // The spec names the classifier after its class count: fc3 is not in a 6-class model (whose fc6 is not here).
      assert.equal(classifier, 'fc3');
      assert.deepEqual(result.kept, [{ layer: 'fc3', why: 'not in the source' }], path);
      assert.equal(result.loaded.length, after.size - 1);
      for (const name of result.loaded) assert.deepEqual(after.get(name), expected.get(name), `${name} from ${path}`);
      assert.deepEqual(after.get(classifier), before.get(classifier), 'the classifier keeps its own');
      assert.equal(describeInitWeights(result, path), `initial weights: ${after.size - 1} of ${after.size} layers from ${path}; ${classifier} (${result.kept[0].why}) kept its own`);
      target.dispose();
    }
    // Grayscale images: conv1's filters take 1 channel, not 3; it keeps its own, and says why.
    const gray = tinyResNet([40, 40, 1], 6);
    const result = await initWeightsFrom(gray, join(dir, 'six'));
    const conv1 = source.getLayer('conv1').getWeights().map((w) => w.shape.join('x'));
    assert.deepEqual(result.kept, [{ layer: 'conv1', why: `other shapes ([${conv1.join(', ')}] in the source)` }]);
    assert.deepEqual(layerWeights(gray).get('fc6'), expected.get('fc6'), 'the classifier of the same classes is taken');
    gray.dispose();
    source.dispose();
  } finally {
    cleanup();
  }
});

test('describeInitWeights lists the layers that kept their own as listNames does: all of four, else three and how many more', () => {
  const kept = (n: number): { layer: string; why: string }[] => Array.from({ length: n }, (_, i) => ({ layer: `l${i}`, why: 'not in the source' }));
  const loaded = ['conv1', 'bn_conv1'];
  assert.equal(describeInitWeights({ loaded, kept: [] }, 'src'), 'initial weights: 2 of 2 layers from src');
  assert.equal(
    describeInitWeights({ loaded, kept: kept(4) }, 'src'),
    'initial weights: 2 of 6 layers from src; l0 (not in the source), l1 (not in the source), l2 (not in the source), l3 (not in the source) kept their own',
  );
  assert.equal(
    describeInitWeights({ loaded, kept: kept(5) }, 'src'),
    'initial weights: 2 of 7 layers from src; l0 (not in the source), l1 (not in the source), l2 (not in the source) and 2 more kept their own',
  );
});

test('initWeightsFrom: one-line errors for a missing source and for one whose layers fit nothing', async () => {
  await initBackend(TEST_BACKEND);
  const { dir, cleanup } = tempDir('resnet-init-');
  try {
    const target = tinyResNet(TINY_INPUT, 3);
    const before = layerWeights(target);
    await assert.rejects(initWeightsFrom(target, join(dir, 'nothing')), (e: Error) => e.message === `${join(dir, 'nothing')}: no such model folder`);
    await assert.rejects(initWeightsFrom(target, join(dir, 'nothing.h5')), (e: Error) => e.message === `${join(dir, 'nothing.h5')}: no such file`);
    const input = tf.input({ shape: [4] });
    const other = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, activation: 'softmax', name: 'head' }).apply(input) as tf.SymbolicTensor });
    await saveModel(other, join(dir, 'other'));
    await assert.rejects(initWeightsFrom(target, join(dir, 'other')), (e: Error) =>
      e.message === `${join(dir, 'other')}: none of its layers fits the model (by layer name and weight shapes)`);
    assert.deepEqual(layerWeights(target), before, 'nothing changed');
    target.dispose();
    other.dispose();
  } finally {
    cleanup();
  }
});

test('train and resnet train --init-weights: a new run on 3 classes starts from a 6-class run, says so, and the report names it', async () => {
  const { dir, cleanup } = tempDir('resnet-init-');
  try {
    await trainReleased({
      data: memoryDataset(12, TINY_INPUT, 6, 'six'), valSplit: 0, buildModel: (shape, classes) => tinyResNet(shape, classes), batchSize: 6,
      epochs: 1, preciseBn: 0, out: join(dir, 'six'), backend: TEST_BACKEND, reporter: recordingReporter(), report: false,
    });
    const reporter = recordingReporter();
    const three = await trainReleased({
      data: memoryDataset(9, TINY_INPUT, 3, 'three'), valSplit: 0, buildModel: (shape, classes) => tinyResNet(shape, classes), batchSize: 4,
      epochs: 1, preciseBn: 0, out: join(dir, 'three'), backend: TEST_BACKEND, reporter, initWeights: join(dir, 'six'),
    });
    assert.ok(reporter.messages.some((m) => m.startsWith(`initial weights: `) && m.includes(` layers from ${join(dir, 'six')}; `)), reporter.messages.join('\n'));
    assert.equal(three.state.args.initWeights, join(dir, 'six'));
    assert.match(readFileSync(join(dir, 'three', 'report', 'report.md'), 'utf8'), new RegExp(`^- initial weights: from ${join(dir, 'six')}, layers whose names and shapes match$`, 'm'));

    // The CLI: a source that fits nothing is a one-line failure, and no run folder is left.
    const bad = await runCaptured(['train', '--data', join(dir, 'nowhere.h5'), '--out', join(dir, 'bad'), '--init-weights', join(dir, 'nothing'), '--backend', TEST_BACKEND]);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.err.trim().split('\n').filter((l) => l.startsWith('resnet: ')).length, 1, bad.err);
    assert.equal(existsSync(join(dir, 'bad')), false);
  } finally {
    cleanup();
  }
});
