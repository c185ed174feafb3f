/**
 * The model that `train` returns: it carries the run's metadata (class names, input shape, architecture, data set)
 * exactly as the model saved in its checkpoint does, so that predicting with it or saving it names the classes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadModel, modelMetadata, predict, saveModel, train, type TrainOptions } from '../src/train/index.js';
import { TEST_BACKEND, TINY_INPUT, memoryDataset, recordingReporter, tempDir } from './train-fixtures.js';

const CLASSES = ['cat', 'dog', 'bird'];

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    data: memoryDataset(12, TINY_INPUT, 3, 'pets', CLASSES),
    arch: 'resnet18',
    widthDivisor: 32,
    batchSize: 6,
    epochs: 1,
    out,
    backend: TEST_BACKEND,
    report: false,
    reporter: recordingReporter(),
    ...extra,
  };
}

test("train: the returned model carries the run's metadata, as its checkpoint does; predict and saveModel name the classes", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    const expected = { classes: CLASSES, inputShape: TINY_INPUT, arch: 'resnet18', dataset: 'pets' };
    const first = await train(options(out));
    try {
      assert.deepEqual(modelMetadata(first.model), expected);
      assert.ok(first.checkpoint !== undefined);
      const loaded = await loadModel(first.checkpoint);
      try {
        assert.deepEqual(modelMetadata(loaded), modelMetadata(first.model), 'the same as the checkpoint model reports');
      } finally {
        loaded.dispose();
      }

      // Saved without explicit metadata, the model still names its classes.
      const saved = join(dir, 'saved');
      await saveModel(first.model, saved);
      assert.deepEqual(JSON.parse(readFileSync(join(saved, 'model.json'), 'utf8')).userDefinedMetadata, expected);

      // predict on the returned model reports class names, each the name of the output unit it reports.
      const image = join(dir, 'image.png');
      const [h, w] = TINY_INPUT;
      const pixels = Buffer.from(Array.from({ length: h * w * 3 }, (_, i) => (i * 7) % 256));
      await sharp(pixels, { raw: { width: w, height: h, channels: 3 } }).png().toFile(image);
      const [prediction] = await predict({ model: first.model, images: [image], topK: 3 });
      assert.deepEqual(prediction.top.map((t) => t.class).sort(), [...CLASSES].sort());
      for (const t of prediction.top) assert.equal(t.class, CLASSES[t.index]);
    } finally {
      first.optimizer.dispose();
      first.model.dispose();
    }

    // A resumed run's model reports the same.
    const resumed = await train(options(out, { resume: true, epochs: 2 }));
    try {
      assert.equal(resumed.state.epoch, 2);
      assert.deepEqual(modelMetadata(resumed.model), expected);
    } finally {
      resumed.optimizer.dispose();
      resumed.model.dispose();
    }
  } finally {
    cleanup();
  }
});
