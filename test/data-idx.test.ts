/**
 * IDX files (MNIST / Fashion-MNIST format): small files written here, plain and gzipped, and the real
 * Fashion-MNIST from Debian's dataset-fashion-mnist package.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { openDataset, type Batch } from '../src/data/index.js';
import { firstBatch, idxBytes } from './data-fixtures.js';


const ROWS = 3;
const COLS = 4;
/** Image i's pixel k is (i * 12 + k) * 3 mod 256. */
const pixel = (i: number, k: number) => ((i * ROWS * COLS + k) * 3) % 256;
const images = (n: number) => Array.from({ length: n * ROWS * COLS }, (_, j) => pixel(Math.floor(j / 12), j % 12));

let dir: string;

before(async () => {
  await initBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'resnet-data-idx-'));
  const mnist = join(dir, 'mnist');
  await mkdir(mnist);
  // train: 6 images, gzipped; test: 4 images, plain.
  await writeFile(join(mnist, 'train-images-idx3-ubyte.gz'), gzipSync(idxBytes([6, ROWS, COLS], images(6))));
  await writeFile(join(mnist, 'train-labels-idx1-ubyte.gz'), gzipSync(idxBytes([6], [3, 1, 4, 1, 5, 9])));
  await writeFile(join(mnist, 't10k-images-idx3-ubyte'), idxBytes([4, ROWS, COLS], images(4)));
  await writeFile(join(mnist, 't10k-labels-idx1-ubyte'), idxBytes([4], [2, 7, 1, 8]));
  const wide = join(dir, 'wide');
  await mkdir(wide);
  await writeFile(join(wide, 'train-images-idx3-ubyte'), idxBytes([2, ROWS, COLS], images(2)));
  await writeFile(join(wide, 'train-labels-idx1-ubyte'), idxBytes([2], [0, 12]));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});


describe('IDX files', () => {
  test('a folder of gzipped train files: sizes, digit classes, default 40x40x3 (what ResNet-50 takes)', async () => {
    const { train } = await openDataset(join(dir, 'mnist'));
    assert.equal(train.size, 6);
    assert.deepEqual(train.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.deepEqual(train.imageShape, [40, 40, 3]);
    assert.deepEqual(Array.from(await train.labels()), [3, 1, 4, 1, 5, 9]);
    const { shape, labels } = await firstBatch(train);
    assert.deepEqual(shape, [6, 40, 40, 3]);
    assert.deepEqual(labels, [3, 1, 4, 1, 5, 9]);
  });

  test('at the stored size, pixels are raw/255; three channels repeat the gray value', async () => {
    const gray = await firstBatch((await openDataset(join(dir, 'mnist'), { inputShape: [ROWS, COLS, 1] })).train);
    assert.deepEqual(gray.shape, [6, ROWS, COLS, 1]);
    gray.xs.forEach((v, j) => assert.equal(v, Math.fround(pixel(Math.floor(j / 12), j % 12) / 255)));
    const rgb = await firstBatch((await openDataset(join(dir, 'mnist'), { inputShape: [ROWS, COLS, 3] })).train);
    rgb.xs.forEach((v, j) => assert.equal(v, gray.xs[Math.floor(j / 3)]));
  });

  test('split test reads the t10k files (not gzipped)', async () => {
    const { train } = await openDataset(join(dir, 'mnist'), { split: 'test', inputShape: [ROWS, COLS, 1] });
    assert.equal(train.size, 4);
    assert.deepEqual(Array.from(await train.labels()), [2, 7, 1, 8]);
  });

  test('an images file path finds its labels file beside it', async () => {
    const { train } = await openDataset(join(dir, 'mnist', 't10k-images-idx3-ubyte'), { inputShape: [ROWS, COLS, 1] });
    assert.deepEqual(Array.from(await train.labels()), [2, 7, 1, 8]);
    const gz = await openDataset(join(dir, 'mnist', 'train-images-idx3-ubyte.gz'));
    assert.equal(gz.train.size, 6);
  });

  test('labels above 9 extend the numbered classes', async () => {
    const { train } = await openDataset(join(dir, 'wide'));
    assert.equal(train.classes.length, 13);
    assert.equal(train.classes[12], '12');
  });

  test('upsampling 3x4 to 6x8 is bilinear with half-pixel centres', async () => {
    const { xs, shape } = await firstBatch((await openDataset(join(dir, 'mnist'), { inputShape: [6, 8, 1] })).train);
    assert.deepEqual(shape, [6, 6, 8, 1]);
    const src = (i: number, y: number, x: number) =>
      pixel(i, Math.min(Math.max(y, 0), ROWS - 1) * COLS + Math.min(Math.max(x, 0), COLS - 1)) / 255;
    for (let i = 0; i < 6; i++) {
      for (let y = 0; y < 6; y++) {
        for (let x = 0; x < 8; x++) {
          const fy = Math.max((y + 0.5) / 2 - 0.5, 0);
          const fx = Math.max((x + 0.5) / 2 - 0.5, 0);
          const y0 = Math.floor(fy);
          const x0 = Math.floor(fx);
          const ty = fy - y0;
          const tx = fx - x0;
          const want =
            (src(i, y0, x0) * (1 - tx) + src(i, y0, x0 + 1) * tx) * (1 - ty) +
            (src(i, y0 + 1, x0) * (1 - tx) + src(i, y0 + 1, x0 + 1) * tx) * ty;
          assert.ok(Math.abs(xs[(i * 6 + y) * 8 + x] - want) < 1e-5, `image ${i} (${y}, ${x})`);
        }
      }
    }
  });
});

describe('Fashion-MNIST (dataset-fashion-mnist)', () => {
  const FASHION = '/usr/share/datasets/fashion-mnist';
  const present = existsSync(join(FASHION, 'train-images-idx3-ubyte.gz'));

  test('the package is installed where CI runs', { skip: !present && !process.env.CI && 'dataset-fashion-mnist is not installed' }, () => {
    assert.ok(present, `${FASHION} is missing: apt-get install dataset-fashion-mnist`);
  });

  const skip = !present && 'dataset-fashion-mnist is not installed';

  test('train: 60000 examples, 6000 a class, the standard class names, labels as in the file', { skip }, async () => {
    const { train } = await openDataset(FASHION);
    assert.equal(train.size, 60000);
    assert.deepEqual(train.classes, [
      'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
    ]);
    const labels = await train.labels();
    const c = new Array<number>(10).fill(0);
    labels.forEach((l) => c[l]++);
    assert.deepEqual(c, new Array<number>(10).fill(6000));
    const raw = gunzipSync(await readFile(join(FASHION, 'train-labels-idx1-ubyte.gz'))).subarray(8);
    assert.deepEqual(labels, Int32Array.from(raw));
  });

  test('test split: 10000 examples; pixels at 28x28x1 are the file\'s bytes / 255', { skip }, async () => {
    const { train } = await openDataset(FASHION, { split: 'test', inputShape: [28, 28, 1] });
    assert.equal(train.size, 10000);
    const raw = gunzipSync(await readFile(join(FASHION, 't10k-images-idx3-ubyte.gz'))).subarray(16, 16 + 3 * 784);
    const gen = train.batches({ batchSize: 3 });
    const b = (await gen.next()).value as Batch;
    const xs = b.xs.dataSync();
    tf.dispose([b.xs, b.ys]);
    await gen.return(undefined);
    xs.forEach((v, k) => assert.equal(v, Math.fround(raw[k] / 255)));
  });
});
