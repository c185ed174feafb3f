/**
 * `Dataset.part`: which part of a multi-part source `split` chose (an HDF5 file with train and test pairs, a folder
 * of several .h5 files, train/ and test/ image folders, train-/t10k- IDX files), and none for a single-part source,
 * which is read whatever `split` says. Each case also checks, by the example count, that the part named is the
 * part read. Small sources are written here; the real SIGNS files are used where they fit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import h5wasm from 'h5wasm/node';
import sharp from 'sharp';
import { initBackend } from '../src/backend/index.js';
import { DataError, openDataset, validationFolderOf, type OpenOptions } from '../src/data/index.js';
import { idxBytes } from './data-fixtures.js';

const SIGNS = fileURLToPath(new URL('../../../shared/data/signs/', import.meta.url));

let dir: string;

/** Writes an HDF5 file with a `<prefix>_set_x` / `<prefix>_set_y` pair of `n` 2x2 RGB images per prefix. */
async function writePairs(path: string, pairs: Record<string, number>): Promise<void> {
  await h5wasm.ready;
  const f = new h5wasm.File(path, 'w');
  for (const [prefix, n] of Object.entries(pairs)) {
    f.create_dataset({ name: `${prefix}_set_x`, data: new Uint8Array(n * 2 * 2 * 3), shape: [n, 2, 2, 3], dtype: '<B' });
    f.create_dataset({ name: `${prefix}_set_y`, data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 2)), shape: [n], dtype: '<q' });
  }
  f.close();
}


/** Writes an image folder at `root`: classes a and b, `n` 4x4 PNGs each. */
async function imageFolder(root: string, n: number): Promise<void> {
  for (const cls of ['a', 'b']) {
    await mkdir(join(root, cls), { recursive: true });
    for (let i = 0; i < n; i++) {
      await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 10 * i, g: 2, b: 3 } } })
        .png()
        .toFile(join(root, cls, `${i}.png`));
    }
  }
}

/** The part and size of what `openDataset` reads as training data. */
async function partAndSize(path: string, opts: OpenOptions = {}): Promise<{ part: string | undefined; size: number }> {
  const { train } = await openDataset(path, opts);
  return { part: train.part, size: train.size };
}

before(async () => {
  await initBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'resnet-data-parts-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('HDF5', () => {
  test('a file with train and test pairs: the pair split picks (default train)', async () => {
    const p = join(dir, 'both.h5');
    await writePairs(p, { train: 6, test: 4 });
    assert.deepEqual(await partAndSize(p, { split: 'train' }), { part: 'train', size: 6 });
    assert.deepEqual(await partAndSize(p, { split: 'test' }), { part: 'test', size: 4 });
    assert.deepEqual(await partAndSize(p), { part: 'train', size: 6 });
  });

  test('a file with one pair: no part, whatever split says', async () => {
    const p = join(dir, 'only_test.h5');
    await writePairs(p, { test: 4 });
    assert.deepEqual(await partAndSize(p, { split: 'train' }), { part: undefined, size: 4 });
    assert.deepEqual(await partAndSize(p, { split: 'test' }), { part: undefined, size: 4 });
    // The real SIGNS test file holds only test_set_x / test_set_y (120 images).
    assert.deepEqual(await partAndSize(join(SIGNS, 'test_signs.h5'), { split: 'train' }), { part: undefined, size: 120 });
  });

  test('a folder of a train and a test file (SIGNS): the file split picks', async () => {
    assert.deepEqual(await partAndSize(SIGNS, { split: 'test' }), { part: 'test', size: 120 });
    assert.deepEqual(await partAndSize(SIGNS, { split: 'train' }), { part: 'train', size: 1080 });
    // Written here, each file with one pair: the folder is what has the parts.
    const folder = join(dir, 'h5pair');
    await mkdir(folder);
    await writePairs(join(folder, 'x_train.h5'), { train: 6 });
    await writePairs(join(folder, 'x_test.h5'), { test: 4 });
    assert.deepEqual(await partAndSize(folder, { split: 'test' }), { part: 'test', size: 4 });
    assert.deepEqual(await partAndSize(folder), { part: 'train', size: 6 });
  });

  test('a folder of one file: the parts are the file\'s', async () => {
    const single = join(dir, 'h5single');
    await mkdir(single);
    await writePairs(join(single, 'data.h5'), { train: 6 });
    assert.deepEqual(await partAndSize(single, { split: 'test' }), { part: undefined, size: 6 });
    const both = join(dir, 'h5both');
    await mkdir(both);
    await writePairs(join(both, 'data.h5'), { train: 6, test: 4 });
    assert.deepEqual(await partAndSize(both, { split: 'test' }), { part: 'test', size: 4 });
  });
});

describe('image folders', () => {
  test('train/ and test/ sub-folders: the one split picks; either alone has no part', async () => {
    const root = join(dir, 'photos');
    await imageFolder(join(root, 'train'), 3);
    await imageFolder(join(root, 'test'), 1);
    const shape: [number, number, number] = [4, 4, 3];
    assert.deepEqual(await partAndSize(root, { inputShape: shape, split: 'train' }), { part: 'train', size: 6 });
    assert.deepEqual(await partAndSize(root, { inputShape: shape, split: 'test' }), { part: 'test', size: 2 });
    assert.deepEqual(await partAndSize(root, { inputShape: shape }), { part: 'train', size: 6 });
    assert.deepEqual(await partAndSize(join(root, 'train'), { inputShape: shape, split: 'test' }), { part: undefined, size: 6 });
    assert.deepEqual(await partAndSize(join(root, 'test'), { inputShape: shape, split: 'train' }), { part: undefined, size: 2 });
  });

  test('a val/ or validation/ folder beside train/ is the validation folder, and is not read as a class or a split', async () => {
    const shape: [number, number, number] = [4, 4, 3];
    // train/, test/ and val/: split picks train/ or test/; val/ is named by validationFolderOf.
    const three = join(dir, 'three');
    await imageFolder(join(three, 'train'), 3);
    await imageFolder(join(three, 'test'), 1);
    await imageFolder(join(three, 'val'), 2);
    assert.equal(await validationFolderOf(three), join(three, 'val'));
    assert.deepEqual(await partAndSize(three, { inputShape: shape, split: 'train' }), { part: 'train', size: 6 });
    assert.deepEqual(await partAndSize(three, { inputShape: shape, split: 'test' }), { part: 'test', size: 2 });
    assert.deepEqual((await openDataset(three, { inputShape: shape })).train.classes, ['a', 'b']);

    // train/ and validation/ alone: split folders too, not two classes named train and validation.
    const two = join(dir, 'two');
    await imageFolder(join(two, 'train'), 3);
    await imageFolder(join(two, 'validation'), 1);
    assert.equal(await validationFolderOf(two), join(two, 'validation'));
    assert.deepEqual(await partAndSize(two, { inputShape: shape, split: 'train' }), { part: 'train', size: 6 });
    await assert.rejects(openDataset(two, { inputShape: shape, split: 'test' }), (err: Error) => {
      assert.ok(err instanceof DataError);
      assert.equal(err.message, `${two}: no test/ sub-folder, only train/ and validation/: give the folder to read itself, e.g. ${join(two, 'validation')}`);
      return true;
    });

    // Both names: val/ is the one.
    const both = join(dir, 'both-val');
    await imageFolder(join(both, 'train'), 1);
    await imageFolder(join(both, 'val'), 1);
    await imageFolder(join(both, 'validation'), 1);
    assert.equal(await validationFolderOf(both), join(both, 'val'));

    // No validation folder: train/ and test/ only, a plain image folder, a class folder named val, a file, nothing.
    assert.equal(await validationFolderOf(join(dir, 'photos')), undefined);
    assert.equal(await validationFolderOf(join(three, 'train')), undefined);
    const classVal = join(dir, 'class-val');
    await imageFolder(join(classVal, 'val'), 1);
    assert.equal(await validationFolderOf(classVal), undefined, 'without train/, val/ is a class');
    assert.equal(await validationFolderOf(join(three, 'train', 'a', '0.png')), undefined);
    assert.equal(await validationFolderOf(join(dir, 'missing')), undefined);
  });

  test('the validation set held out of a part is of that part too', async () => {
    const { train, validation } = await openDataset(join(dir, 'photos'), { inputShape: [4, 4, 3], split: 'train', validationSplit: 0.34 });
    assert.equal(train.part, 'train');
    assert.equal(validation?.part, 'train');
    assert.equal(train.size + (validation?.size ?? 0), 6);
  });
});

describe('IDX', () => {
  test('a folder of train- and t10k- files: the files split picks; one images file alone has no part', async () => {
    const mnist = join(dir, 'mnist');
    await mkdir(mnist);
    await writeFile(join(mnist, 'train-images-idx3-ubyte'), idxBytes([5, 2, 2], new Uint8Array(20)));
    await writeFile(join(mnist, 'train-labels-idx1-ubyte'), idxBytes([5], [0, 1, 2, 3, 4]));
    await writeFile(join(mnist, 't10k-images-idx3-ubyte'), idxBytes([3, 2, 2], new Uint8Array(12)));
    await writeFile(join(mnist, 't10k-labels-idx1-ubyte'), idxBytes([3], [0, 1, 2]));
    const shape: [number, number, number] = [2, 2, 1];
    assert.deepEqual(await partAndSize(mnist, { inputShape: shape, split: 'train' }), { part: 'train', size: 5 });
    assert.deepEqual(await partAndSize(mnist, { inputShape: shape, split: 'test' }), { part: 'test', size: 3 });
    assert.deepEqual(await partAndSize(mnist, { inputShape: shape }), { part: 'train', size: 5 });
    const file = join(mnist, 't10k-images-idx3-ubyte');
    assert.deepEqual(await partAndSize(file, { inputShape: shape, split: 'train' }), { part: undefined, size: 3 });
  });
});
