/**
 * The library's `predict()`: the backend it runs on, and its results checked against the model's own forward pass on
 * tfjs's CPU kernels.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeBackendAvailable } from '../src/backend/index.js';
import { buildResNet } from '../src/model/index.js';
import { predict, saveModel } from '../src/train/index.js';

const SHAPE: [number, number, number] = [40, 40, 3];
const CLASSES = ['cat', 'dog', 'fox'];

let dir: string;
let modelDir: string;
let images: string[];

before(async () => {
  await initBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'resnet-predict-'));
  modelDir = join(dir, 'model');
  const model = buildResNet('resnet18', { inputShape: SHAPE, classes: CLASSES.length, widthDivisor: 16 });
  await saveModel(model, modelDir, { classes: CLASSES, inputShape: SHAPE });
  model.dispose();
  images = [];
  for (const [i, colour] of [[200, 30, 40], [20, 180, 60], [10, 40, 220]].entries()) {
    const file = join(dir, `img${i}.png`);
    // A gradient over a colour, so that the images differ in more than their mean.
    const raw = new Uint8Array(40 * 40 * 3);
    for (let p = 0; p < 40 * 40; p++) for (let k = 0; k < 3; k++) raw[p * 3 + k] = (colour[k] + p) % 256;
    await sharp(Buffer.from(raw), { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(file);
    images.push(file);
  }
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('predict() without a backend option runs on the fastest backend available, as train() does', async () => {
  await initBackend('cpu');
  const results = await predict({ model: modelDir, images: images.slice(0, 1) });
  assert.equal(results.length, 1);
  assert.equal(tf.getBackend(), nativeBackendAvailable() ? 'onednn' : 'cpu');
  // An explicit choice is still honoured.
  await predict({ model: modelDir, images: images.slice(0, 1), backend: 'cpu' });
  assert.equal(tf.getBackend(), 'cpu');
});
