/**
 * Image folders and loadImages, on images generated here with sharp (solid colours, so decoded values are known).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { loadImages, openDataset, SourceDataset, type Batch, type Dataset } from '../src/data/index.js';

type RGB = [number, number, number];
const COLOURS: Record<string, RGB> = { red: [200, 30, 40], green: [20, 180, 60], blue: [10, 40, 220], gray: [128, 128, 128] };

let dir: string;

/** Writes a solid-colour image; the format follows the extension. */
async function solid(path: string, [r, g, b]: RGB, width: number, height: number, channels: 1 | 3 | 4 = 3): Promise<void> {
  let img = sharp({ create: { width, height, channels: channels === 4 ? 4 : 3, background: { r, g, b, alpha: 0.5 } } });
  if (channels === 1) img = img.toColourspace('b-w');
  const ext = path.split('.').pop()!.toLowerCase();
  if (ext === 'png') img = img.png();
  else if (ext === 'webp') img = img.webp({ lossless: true });
  else img = img.jpeg({ quality: 95 });
  await img.toFile(path);
}

before(async () => {
  await initBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'resnet-data-folder-'));
  const root = join(dir, 'classes');
  for (const cls of ['red', 'green', 'blue']) {
    await mkdir(join(root, cls), { recursive: true });
    await solid(join(root, cls, 'a.png'), COLOURS[cls], 20, 10);
    await solid(join(root, cls, 'b.jpg'), COLOURS[cls], 8, 8);
    await solid(join(root, cls, 'c.webp'), COLOURS[cls], 30, 30);
    await solid(join(root, cls, 'd.PNG'), COLOURS[cls], 64, 64, 4); // upper-case extension, with alpha
  }
  await mkdir(join(root, 'gray'));
  for (const name of ['a.png', 'b.png', 'c.png', 'd.png']) await solid(join(root, 'gray', name), COLOURS.gray, 5, 7, 1);
  // Not taken as images: other extensions and hidden files (this one is not even an image).
  await writeFile(join(root, 'blue', 'notes.txt'), 'not an image');
  await writeFile(join(root, 'red', '.hidden.png'), 'not an image either');
  await writeFile(join(root, 'README.jpg'), 'a file at the top level is not a class');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function firstBatch(ds: Dataset, batchSize: number): Promise<{ xs: Float32Array; shape: number[]; labels: number[] }> {
  const gen = ds.batches({ batchSize });
  const b = (await gen.next()).value as Batch;
  const argmax = b.ys.argMax(1);
  const out = { xs: b.xs.dataSync() as Float32Array, shape: b.xs.shape, labels: Array.from(argmax.dataSync()) };
  tf.dispose([b.xs, b.ys, argmax]);
  await gen.return(undefined);
  return out;
}

/** Largest distance between an image's values and a colour, in 1/255 steps. */
function distance(xs: Float32Array, at: number, size: number, colour: number[]): number {
  let worst = 0;
  for (let k = 0; k < size; k++) worst = Math.max(worst, Math.abs(xs[at + k] * 255 - colour[k % colour.length]));
  return worst;
}

describe('image folders', () => {
  test('classes are the sorted sub-folders; images by extension, decoded and resized per batch', async () => {
    const { train, validation } = await openDataset(join(dir, 'classes'));
    assert.equal(validation, undefined);
    assert.deepEqual(train.classes, ['blue', 'gray', 'green', 'red']);
    assert.deepEqual(train.imageShape, [64, 64, 3]);
    assert.equal(train.size, 16);
    assert.deepEqual(Array.from(await train.labels()), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);

    const { xs, shape, labels } = await firstBatch(train, 16);
    assert.deepEqual(shape, [16, 64, 64, 3]);
    assert.deepEqual(labels, Array.from(await train.labels()));
    const size = 64 * 64 * 3;
    const files = ['a.png', 'b.jpg', 'c.webp', 'd.PNG'];
    train.classes.forEach((cls, c) => {
      for (let f = 0; f < 4; f++) {
        const lossy = cls !== 'gray' && files[f].endsWith('.jpg');
        const d = distance(xs, (c * 4 + f) * size, size, COLOURS[cls]);
        assert.ok(d <= (lossy ? 4 : 1), `${cls}/${files[f]} is off by ${d}/255`);
      }
    });
  });

  test('a one-channel input shape decodes to grayscale', async () => {
    const { train } = await openDataset(join(dir, 'classes'), { inputShape: [16, 12, 1] });
    const { xs, shape } = await firstBatch(train, 16);
    assert.deepEqual(shape, [16, 16, 12, 1]);
    const size = 16 * 12;
    for (let f = 4; f < 8; f++) assert.ok(distance(xs, f * size, size, [128]) <= 1, 'gray stays 128');
    // Blue is darker than green in luma.
    assert.ok(xs[0] < xs[8 * size]);
  });

  test('validation split takes round(fraction x class size) of each class', async () => {
    const { train, validation } = await openDataset(join(dir, 'classes'), { validationSplit: 0.25, seed: 3 });
    assert.ok(validation);
    assert.equal(train.size, 12);
    assert.equal(validation.size, 4);
    assert.deepEqual(Array.from(await validation.labels()), [0, 1, 2, 3]);
    const all = [...(train as SourceDataset).indices, ...(validation as SourceDataset).indices].sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: 16 }, (_, i) => i));
  });

  test('images are decoded when batched, not when opened', async () => {
    const root = join(dir, 'lazy');
    for (const cls of ['x', 'y']) {
      await mkdir(join(root, cls), { recursive: true });
      await solid(join(root, cls, 'img.png'), COLOURS.red, 4, 4);
    }
    const { train } = await openDataset(root, { inputShape: [4, 4, 3] });
    await solid(join(root, 'x', 'img.png'), COLOURS.blue, 4, 4);
    const { xs } = await firstBatch(train, 2);
    assert.ok(distance(xs, 0, 48, COLOURS.blue) < 1e-3, "the new blue image, decoded exactly");
    assert.ok(distance(xs, 48, 48, COLOURS.red) < 1e-3);
  });

  test('train/ and test/ sub-folders are the splits', async () => {
    const root = join(dir, 'splits');
    for (const [split, n] of [['train', 3], ['test', 1]] as const) {
      for (const cls of ['red', 'green']) {
        await mkdir(join(root, split, cls), { recursive: true });
        for (let i = 0; i < n; i++) await solid(join(root, split, cls, `${i}.png`), COLOURS[cls], 6, 6);
      }
    }
    const train = (await openDataset(root, { inputShape: [6, 6, 3] })).train;
    const testSplit = (await openDataset(root, { inputShape: [6, 6, 3], split: 'test' })).train;
    assert.deepEqual(train.classes, ['green', 'red']);
    assert.deepEqual(testSplit.classes, ['green', 'red']);
    assert.equal(train.size, 6);
    assert.equal(testSplit.size, 2);
  });

  test('an augmented epoch over a folder leaves no tensors behind', async () => {
    const { train } = await openDataset(join(dir, 'classes'), { inputShape: [32, 32, 3] });
    const start = tf.memory().numTensors;
    let n = 0;
    for await (const b of train.batches({ batchSize: 5, shuffle: true, augment: { flip: true, crop: true } })) {
      n += b.xs.shape[0];
      tf.dispose([b.xs, b.ys]);
    }
    assert.equal(n, 16);
    assert.equal(tf.memory().numTensors, start);
  });
});

describe('loadImages', () => {
  test('loads files of any size and format as one [n, h, w, c] batch in [0, 1]', async () => {
    const root = join(dir, 'classes');
    const start = tf.memory().numTensors;
    const x = await loadImages([join(root, 'red', 'a.png'), join(root, 'gray', 'b.png'), join(root, 'blue', 'c.webp')], [16, 8, 3]);
    assert.deepEqual(x.shape, [3, 16, 8, 3]);
    assert.equal(x.dtype, 'float32');
    const v = x.dataSync() as Float32Array;
    const size = 16 * 8 * 3;
    assert.ok(distance(v, 0, size, COLOURS.red) <= 1);
    assert.ok(distance(v, size, size, COLOURS.gray) <= 1);
    assert.ok(distance(v, 2 * size, size, COLOURS.blue) <= 1);
    x.dispose();
    assert.equal(tf.memory().numTensors, start);

    const g = await loadImages([join(root, 'green', 'b.jpg')], [4, 4, 1]);
    assert.deepEqual(g.shape, [1, 4, 4, 1]);
    g.dispose();
  });
});
