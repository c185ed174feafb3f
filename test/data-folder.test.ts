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
import { loadImages, openDataset, SourceDataset } from '../src/data/index.js';
import { firstBatch } from './data-fixtures.js';

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
  await writeFile(join(root, 'README.txt'), 'a file at the top level is not a class');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});


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
    // What was left out is said: blue/notes.txt (the hidden file is not counted).
    assert.equal(train.description, `${join(dir, 'classes')}: 4 classes, 16 images (blue 4, gray 4, green 4, red 4); skipped 1 file that is not JPEG, PNG or WebP (.txt)`);

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

  test('the description counts the images of each class and says what was skipped; OS leftovers are passed over', async () => {
    const root = join(dir, 'described');
    for (const [cls, n] of [['red', 3], ['blue', 2], ['green', 1]] as const) {
      await mkdir(join(root, cls), { recursive: true });
      for (let i = 0; i < n; i++) await solid(join(root, cls, `${i}.png`), COLOURS[cls], 4, 4);
    }
    // Skipped and said: other formats (by extension, each once), a file without one, folders inside a class folder.
    for (const f of ['anim.gif', 'scan.TIF', 'scan2.tif', 'LICENSE']) await writeFile(join(root, 'red', f), 'x');
    await writeFile(join(root, 'blue', 'more.gif'), 'x');
    await mkdir(join(root, 'red', 'old'));
    await solid(join(root, 'red', 'old', 'x.png'), COLOURS.red, 4, 4);
    await mkdir(join(root, 'green', 'extra'));
    // Skipped silently: hidden files, macOS's AppleDouble files and folders, Windows' thumbnails, a file beside the classes.
    for (const f of ['.DS_Store', '._0.png', 'Thumbs.db', 'desktop.ini']) await writeFile(join(root, 'red', f), 'x');
    await mkdir(join(root, '__MACOSX', 'red'), { recursive: true });
    await writeFile(join(root, '__MACOSX', 'red', '._0.png'), 'x');
    await mkdir(join(root, '.git'));
    await writeFile(join(root, 'notes.md'), 'x');

    const { train } = await openDataset(root, { inputShape: [4, 4, 3] });
    assert.deepEqual(train.classes, ['blue', 'green', 'red'], '__MACOSX is not a class');
    assert.equal(train.size, 6);
    assert.equal(
      train.description,
      `${root}: 3 classes, 6 images (blue 2, green 1, red 3); skipped 5 files that are not JPEG, PNG or WebP (.gif, .tif, LICENSE)` +
        ' and 2 folders inside class folders (green/extra/, red/old/): only the images directly in a class folder count',
    );
    // The validation part describes the same source.
    const split = await openDataset(root, { inputShape: [4, 4, 3], validationSplit: 0.4 });
    assert.equal(split.validation?.description, train.description);

    // Nothing skipped: no "skipped" clause. Many classes: the first six and the range of the counts.
    const many = join(dir, 'many');
    for (let k = 0; k < 10; k++) {
      await mkdir(join(many, `c${k}`), { recursive: true });
      for (let i = 0; i <= k % 3; i++) await solid(join(many, `c${k}`, `${i}.png`), COLOURS.gray, 4, 4);
    }
    const opened = (await openDataset(many, { inputShape: [4, 4, 3] })).train;
    assert.equal(opened.description, `${many}: 10 classes, 19 images (c0 1, c1 2, c2 3, c3 1, c4 2, c5 3 and 4 more; 1 to 3 a class)`);
  });

  test('image files directly in the data folder: one line saying it expects one sub-folder per class', async () => {
    // The common mistake: one class's folder given as the data.
    const photos = join(dir, 'photos');
    const single = join(photos, 'red_circles');
    await mkdir(single, { recursive: true });
    for (const f of ['a.png', 'b.jpg']) await solid(join(single, f), COLOURS.red, 4, 4);
    await assert.rejects(openDataset(single), {
      name: 'DataError',
      message: `${single}: holds 2 image files directly and no class sub-folders: expected one sub-folder per class, with the images inside them; ` +
        `if it is one class's folder, give the folder above it (${photos}) that holds all the class folders`,
    });
    // With one sub-folder beside the images.
    await mkdir(join(single, 'rejects'));
    await solid(join(single, 'rejects', 'c.png'), COLOURS.red, 4, 4);
    await assert.rejects(openDataset(single), (e: Error) =>
      e.message.startsWith(`${single}: holds 2 image files directly beside only 1 sub-folder (rejects): expected one sub-folder per class`));
    // Images beside real class folders.
    const mixed = join(dir, 'mixed');
    for (const cls of ['red', 'blue']) {
      await mkdir(join(mixed, cls), { recursive: true });
      await solid(join(mixed, cls, 'a.png'), COLOURS[cls], 4, 4);
    }
    await solid(join(mixed, 'stray.webp'), COLOURS.red, 4, 4);
    await assert.rejects(openDataset(mixed), {
      message: `${mixed}: holds 1 image file directly, beside its class sub-folders (blue, red): expected one sub-folder per class, with the images inside them; move the images into their class folders`,
    });
    // A hidden image at the top (._x.png) is no image file.
    const hidden = join(dir, 'hidden-top');
    for (const cls of ['red', 'blue']) {
      await mkdir(join(hidden, cls), { recursive: true });
      await solid(join(hidden, cls, 'a.png'), COLOURS[cls], 4, 4);
    }
    await writeFile(join(hidden, '._x.png'), 'x');
    assert.equal((await openDataset(hidden)).train.size, 2);
  });

  test('an empty class folder names the files it does hold', async () => {
    const root = join(dir, 'gifs');
    for (const cls of ['red', 'blue']) await mkdir(join(root, cls), { recursive: true });
    await solid(join(root, 'red', 'a.png'), COLOURS.red, 4, 4);
    for (const f of ['a.gif', 'b.GIF', 'c.heic']) await writeFile(join(root, 'blue', f), 'x');
    await assert.rejects(openDataset(root), {
      message: `${join(root, 'blue')}: empty class folder: no JPEG, PNG or WebP images in it (it holds .gif, .heic files)`,
    });
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
    for await (const b of train.batches({ batchSize: 6, shuffle: true, augment: { flip: true, crop: true } })) {
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
