/**
 * The library's `checkpoint` option of predict() and evaluate() picks a checkpoint of a training run folder; given
 * for a saved model folder or a model object it is an error naming the model, not silently ignored (as the CLI's
 * --checkpoint is a usage error there).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import sharp from 'sharp';
import { evaluate, predict, saveModel } from '../src/train/index.js';
import { SIGNS_TEST, TEST_BACKEND, tempDir, tinyResNet } from './train-fixtures.js';

const { dir: root, cleanup } = tempDir('resnet-checkpoint-option-');
test.after(cleanup);

test('checkpoint given for a saved model or a model object is refused by predict and evaluate; left out, they run', async () => {
  const model = tinyResNet([64, 64, 3], 6);
  const saved = path.join(root, 'saved');
  await saveModel(model, saved);
  const image = path.join(root, 'grey.png');
  await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png().toFile(image);
  const refused = (what: string) => (e: Error) => e.message === `checkpoint 'best' applies to training run folders, and ${what} is not one: leave checkpoint out`;
  try {
    await assert.rejects(predict({ model: saved, checkpoint: 'best', images: [image], backend: TEST_BACKEND }), refused(saved));
    await assert.rejects(predict({ model, checkpoint: 'best', images: [image], backend: TEST_BACKEND }), refused('a model object'));
    await assert.rejects(evaluate({ model: saved, checkpoint: 'best', data: SIGNS_TEST, limit: 12, backend: TEST_BACKEND }), refused(saved));
    // A path that does not exist is named as such: leaving checkpoint out would not help.
    const missing = path.join(root, 'no-such-run');
    await assert.rejects(predict({ model: missing, checkpoint: 'best', images: [image], backend: TEST_BACKEND }), (e: Error) => e.message === `${missing}: no such model folder`);
    const [p] = await predict({ model: saved, images: [image], backend: TEST_BACKEND });
    assert.equal(p.top.length, 3);
    const r = await evaluate({ model: saved, data: SIGNS_TEST, limit: 12, backend: TEST_BACKEND });
    assert.equal(r.count, 12);
  } finally {
    model.dispose();
  }
});
