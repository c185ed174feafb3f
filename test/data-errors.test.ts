/**
 * Bad data input: every case throws a DataError whose message is one line naming the file and the problem.
 * The bad files are made here in a temporary folder.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import h5wasm from 'h5wasm/node';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { DataError, loadImages, openDataset } from '../src/data/index.js';
import { idxBytes } from './data-fixtures.js';

const SIGNS_TEST = fileURLToPath(new URL('../../../shared/data/signs/test_signs.h5', import.meta.url));

let dir: string;

/** Asserts that `run` rejects with a one-line DataError mentioning `file` (by base name) and matching `problem`. */
async function rejectsWith(run: () => Promise<unknown>, file: string, problem: RegExp): Promise<void> {
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof DataError, `expected a DataError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), `one line: ${JSON.stringify(err.message)}`);
    assert.ok(err.message.includes(basename(file)), `names ${basename(file)}: ${err.message}`);
    assert.match(err.message, problem);
    if (process.env.SHOW_MESSAGES) console.log(err.message);
    return true;
  });
}

/** Writes an HDF5 file with the given uint8 / int64 / string datasets, using h5wasm directly. */
async function writeH5(path: string, sets: Record<string, { data: Uint8Array | BigInt64Array | Float32Array | string[]; shape?: number[] }>) {
  await h5wasm.ready;
  const f = new h5wasm.File(path, 'w');
  for (const [name, { data, shape }] of Object.entries(sets)) {
    const dtype = data instanceof Uint8Array ? '<B' : data instanceof BigInt64Array ? '<q' : data instanceof Float32Array ? '<f' : undefined;
    f.create_dataset({ name, data, shape: shape ?? [data.length], dtype });
  }
  f.close();
}

async function png(path: string): Promise<void> {
  await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(path);
}

before(async () => {
  await initBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'resnet-data-bad-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bad HDF5 input', () => {
  test('missing file', async () => {
    const p = join(dir, 'nowhere_signs.h5');
    await rejectsWith(() => openDataset(p), p, /no such file/);
  });

  test('truncated copy of test_signs.h5', async () => {
    const p = join(dir, 'truncated_signs.h5');
    await writeFile(p, (await readFile(SIGNS_TEST)).subarray(0, 700_000));
    await rejectsWith(() => openDataset(p), p, /truncated HDF5 file: 700000 bytes, its header says 1477712/);
  });

  test('truncated file written by h5wasm (newer superblock)', async () => {
    const whole = join(dir, 'whole.h5');
    await writeH5(whole, { train_set_x: { data: new Uint8Array(4 * 8 * 8 * 3), shape: [4, 8, 8, 3] }, train_set_y: { data: new BigInt64Array(4) } });
    const p = join(dir, 'cut.h5');
    const bytes = await readFile(whole);
    await writeFile(p, bytes.subarray(0, bytes.length - 100));
    await rejectsWith(() => openDataset(p), p, /truncated HDF5 file/);
  });

  test('a text file named .h5', async () => {
    const p = join(dir, 'text.h5');
    await writeFile(p, 'this is not HDF5\n'.repeat(100));
    await rejectsWith(() => openDataset(p), p, /not an HDF5 file/);
  });

  test('other dataset names: the message lists what was found', async () => {
    const p = join(dir, 'other_names.h5');
    await writeH5(p, { images: { data: new Uint8Array(12), shape: [1, 2, 2, 3] }, labels: { data: new BigInt64Array(1) } });
    await rejectsWith(() => openDataset(p), p, /no <name>_set_x and <name>_set_y datasets.*found: images, labels/);
  });

  test('a label out of range', async () => {
    const p = join(dir, 'bad_label.h5');
    await writeH5(p, {
      train_set_x: { data: new Uint8Array(4 * 2 * 2 * 3), shape: [4, 2, 2, 3] },
      train_set_y: { data: BigInt64Array.from([0n, 1n, 7n, 1n]) },
      list_classes: { data: BigInt64Array.from([0n, 1n, 2n]) },
    });
    await rejectsWith(() => openDataset(p), p, /label 7 at train_set_y\[2\] is out of range: 3 classes/);
  });

  test('a negative label', async () => {
    const p = join(dir, 'negative_label.h5');
    await writeH5(p, {
      train_set_x: { data: new Uint8Array(2 * 2 * 2 * 3), shape: [2, 2, 2, 3] },
      train_set_y: { data: BigInt64Array.from([-1n, 1n]) },
      list_classes: { data: BigInt64Array.from([0n, 1n]) },
    });
    await rejectsWith(() => openDataset(p), p, /label -1 at train_set_y\[0\] is out of range/);
  });

  test('image and label counts that differ', async () => {
    const p = join(dir, 'mismatch.h5');
    await writeH5(p, {
      train_set_x: { data: new Uint8Array(4 * 2 * 2 * 3), shape: [4, 2, 2, 3] },
      train_set_y: { data: BigInt64Array.from([0n, 1n, 1n]) },
    });
    await rejectsWith(() => openDataset(p), p, /train_set_x has 4 images but train_set_y has 3 labels/);
  });

  test('pixels that are not uint8', async () => {
    const p = join(dir, 'float_pixels.h5');
    await writeH5(p, {
      test_set_x: { data: new Float32Array(2 * 2 * 2 * 3), shape: [2, 2, 2, 3] },
      test_set_y: { data: BigInt64Array.from([0n, 1n]) },
    });
    await rejectsWith(() => openDataset(p), p, /test_set_x holds float32 values; expected uint8 pixels/);
  });

  test('several pairs, none of the wanted split', async () => {
    const p = join(dir, 'pairs.h5');
    const x = { data: new Uint8Array(2 * 2 * 2 * 3), shape: [2, 2, 2, 3] };
    const y = { data: BigInt64Array.from([0n, 1n]) };
    await writeH5(p, { a_set_x: x, a_set_y: y, b_set_x: x, b_set_y: y });
    await rejectsWith(() => openDataset(p, { split: 'test' }), p, /no test_set_x\/test_set_y pair; found pairs: a, b/);
  });
});

describe('bad image folders', () => {
  test('a .jpg that holds text: the message names that file', async () => {
    const root = join(dir, 'text_jpg');
    for (const cls of ['a', 'b']) {
      await mkdir(join(root, cls), { recursive: true });
      await png(join(root, cls, 'ok.png'));
    }
    const bad = join(root, 'b', 'written_in_text.jpg');
    await writeFile(bad, 'I am text, not a JPEG');
    await rejectsWith(() => openDataset(root), bad, /not an image/);
  });

  test('several stray files: one message at opening names the first with its problem and all the others', async () => {
    const root = join(dir, 'strays');
    for (const cls of ['a', 'b']) {
      await mkdir(join(root, cls), { recursive: true });
      await png(join(root, cls, 'ok.png'));
    }
    const first = join(root, 'a', 'text.jpg');
    await writeFile(first, 'I am text, not a JPEG');
    await writeFile(join(root, 'b', 'empty.png'), '');
    await writeFile(join(root, 'b', 'gif.png'), Buffer.from('GIF89a__________'));
    await assert.rejects(openDataset(root), (e: Error) => e.message ===
      `${first}: not an image: its contents are not JPEG, PNG or WebP; and 2 more files in ${root} that are not a JPEG, PNG or WebP image either: ${join('b', 'empty.png')}, ${join('b', 'gif.png')}`);
  });

  test('an image that breaks after opening is reported when its batch is decoded', async () => {
    const root = join(dir, 'late');
    for (const cls of ['a', 'b']) {
      await mkdir(join(root, cls), { recursive: true });
      await png(join(root, cls, 'img.png'));
    }
    const { train } = await openDataset(root, { inputShape: [4, 4, 3] });
    const broken = join(root, 'b', 'img.png');
    const bytes = await readFile(broken);
    await writeFile(broken, bytes.subarray(0, 20)); // PNG signature, then nothing
    const start = tf.memory().numTensors;
    await rejectsWith(async () => {
      for await (const b of train.batches({ batchSize: 1 })) tf.dispose([b.xs, b.ys]);
    }, broken, /cannot decode image/);
    assert.equal(tf.memory().numTensors, start);
  });

  test('two images broken after opening in one batch: the first is named in its own words, not the other\'s', async () => {
    const root = join(dir, 'late2');
    for (const cls of ['a', 'b']) {
      await mkdir(join(root, cls), { recursive: true });
      await png(join(root, cls, 'ok.png'));
    }
    const cutPng = join(root, 'a', 'a_cut.png');
    const cutJpeg = join(root, 'a', 'b_cut.jpg');
    const noisy = (): ReturnType<typeof sharp> =>
      sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 0, g: 0, b: 0 }, noise: { type: 'gaussian', mean: 128, sigma: 30 } } });
    await noisy().png().toFile(cutPng);
    await noisy().jpeg().toFile(cutJpeg);
    const { train } = await openDataset(root, { inputShape: [4, 4, 3] });
    // Cut in half: the headers are whole, the decoding breaks.
    for (const f of [cutPng, cutJpeg]) {
      const bytes = await readFile(f);
      await writeFile(f, bytes.subarray(0, bytes.length >> 1));
    }
    // One unshuffled batch of all four: a_cut.png comes first; libvips's shared error buffer must not lend it the
    // JPEG's words.
    await assert.rejects(
      (async () => {
        for await (const b of train.batches({ batchSize: 4 })) tf.dispose([b.xs, b.ys]);
      })(),
      (e: Error) => e.message.startsWith(`${cutPng}: cannot decode image`) && !/jpe?g/i.test(e.message.slice(cutPng.length)),
    );
  });

  test('an empty class folder is named', async () => {
    const root = join(dir, 'empty_class');
    await mkdir(join(root, 'full'), { recursive: true });
    await png(join(root, 'full', 'x.png'));
    await mkdir(join(root, 'hollow'));
    await writeFile(join(root, 'hollow', 'readme.txt'), 'no images here');
    await rejectsWith(() => openDataset(root), join(root, 'hollow'), /empty class folder/);
  });

  test('fewer than two classes', async () => {
    const root = join(dir, 'one_class');
    await mkdir(join(root, 'only'), { recursive: true });
    await png(join(root, 'only', 'x.png'));
    await rejectsWith(() => openDataset(root), root, /found 1 class folder \(only\); need at least 2/);
    const none = join(dir, 'no_classes');
    await mkdir(none);
    await rejectsWith(() => openDataset(none), none, /found 0 class folders; need at least 2/);
  });
});

describe('bad IDX input', () => {
  async function idxDir(name: string, images: Buffer, labels: Buffer): Promise<string> {
    const d = join(dir, name);
    await mkdir(d);
    await writeFile(join(d, 'train-images-idx3-ubyte'), images);
    await writeFile(join(d, 'train-labels-idx1-ubyte'), labels);
    return d;
  }

  test('bad magic number', async () => {
    const images = idxBytes([2, 2, 2], new Array(8).fill(0));
    images[0] = 0x12;
    const d = await idxDir('magic', images, idxBytes([2], [0, 1]));
    await rejectsWith(() => openDataset(d), 'train-images-idx3-ubyte', /bad IDX magic number 0x12000803/);
  });

  test('labels file with images dimensions', async () => {
    const d = await idxDir('dims', idxBytes([2, 2, 2], new Array(8).fill(0)), idxBytes([2, 1, 1], [0, 1]));
    await rejectsWith(() => openDataset(d), 'train-labels-idx1-ubyte', /3 dimensions; expected 1/);
  });

  test('data shorter than the header says (truncated)', async () => {
    const images = idxBytes([3, 2, 2], new Array(12).fill(0)).subarray(0, 20);
    const d = await idxDir('short', images, idxBytes([3], [0, 1, 2]));
    await rejectsWith(() => openDataset(d), 'train-images-idx3-ubyte', /size mismatch: the header says \[3, 2, 2\] = 12 bytes of data, the file has 4/);
  });

  test('image and label counts that differ', async () => {
    const d = await idxDir('counts', idxBytes([3, 2, 2], new Array(12).fill(0)), idxBytes([2], [0, 1]));
    await rejectsWith(() => openDataset(d), 'train-labels-idx1-ubyte', /has 2 labels but train-images-idx3-ubyte has 3 images/);
  });

  test('corrupt gzip data', async () => {
    const d = join(dir, 'gz');
    await mkdir(d);
    const gz = gzipSync(idxBytes([2, 2, 2], new Array(8).fill(0)));
    await writeFile(join(d, 'train-images-idx3-ubyte.gz'), gz.subarray(0, gz.length - 12));
    await writeFile(join(d, 'train-labels-idx1-ubyte.gz'), gzipSync(idxBytes([2], [0, 1])));
    await rejectsWith(() => openDataset(d), 'train-images-idx3-ubyte.gz', /corrupt gzip data/);
  });

  test('an images file without its labels file', async () => {
    const d = join(dir, 'lonely');
    await mkdir(d);
    const p = join(d, 'train-images-idx3-ubyte');
    await writeFile(p, idxBytes([1, 2, 2], [0, 0, 0, 0]));
    await rejectsWith(() => openDataset(p), p, /no labels file beside it \(looked for train-labels-idx1-ubyte\[\.gz\]\)/);
    await rejectsWith(() => openDataset(d), p, /no labels file beside it/);
  });

  test('a Fashion-MNIST label out of range', async () => {
    const d = await idxDir('fashion-bad', idxBytes([2, 1, 1], [0, 0]), idxBytes([2], [3, 10]));
    await rejectsWith(() => openDataset(d), 'train-labels-idx1-ubyte', /label 10 at index 1 is out of range: 10 classes/);
  });
});

describe('other bad input', () => {
  test('an unknown file type', async () => {
    const p = join(dir, 'data.csv');
    await writeFile(p, 'a,b\n1,2\n');
    await rejectsWith(() => openDataset(p), p, /unknown data file type "\.csv"/);
    const labels = join(dir, 'train-labels-idx1-ubyte');
    await writeFile(labels, idxBytes([1], [0]));
    await rejectsWith(() => openDataset(labels), labels, /an IDX labels file: give its images file/);
  });

  test('options out of range name the data source', async () => {
    await rejectsWith(() => openDataset(SIGNS_TEST, { validationSplit: 1 }), SIGNS_TEST, /validation split must be in \[0, 1\)/);
    await rejectsWith(() => openDataset(SIGNS_TEST, { limit: 0 }), SIGNS_TEST, /limit must be a positive whole number/);
    await rejectsWith(() => openDataset(SIGNS_TEST, { inputShape: [64, 64, 4] }), SIGNS_TEST, /4 channels; only 1 \(grayscale\) or 3 \(RGB\)/);
    await rejectsWith(() => openDataset(SIGNS_TEST, { limit: 3, validationSplit: 0.1 }), SIGNS_TEST, /leaves 3 for training and 0 for validation/);
  });

  test('loadImages: a missing file and a file that is not an image', async () => {
    const missing = join(dir, 'missing.png');
    await rejectsWith(() => loadImages([missing], [8, 8, 3]), missing, /no such file/);
    const text = join(dir, 'text_image.jpg');
    await writeFile(text, 'hello, I am text');
    const good = join(dir, 'good.png');
    await png(good);
    await rejectsWith(() => loadImages([good, text], [8, 8, 3]), text, /not an image/);
  });

  test('an image of another format is named (GIF, TIFF, BMP, HEIC, AVIF); an empty file is said to be empty', async () => {
    const picture = () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } });
    // 14-byte BMP file header (size, reserved zeros, pixel offset) before a 40-byte info header: enough to sniff.
    const bmp = Buffer.alloc(54);
    bmp.write('BM', 0, 'latin1');
    bmp.writeUInt32LE(54, 2);
    bmp.writeUInt32LE(54, 10);
    bmp.writeUInt32LE(40, 14);
    const heicBox = (brand: string) => Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from(`ftyp${brand}\0\0\0\0mif1${brand}`, 'latin1')]);
    const cases: [string, Buffer, string][] = [
      ['anim.gif', await picture().gif().toBuffer(), 'GIF'],
      ['scan.tif', await picture().tiff().toBuffer(), 'TIFF'],
      ['big-endian.tif', Buffer.from('MM\0*\0\0\0\x08\0\0\0\0\0\0\0\0', 'latin1'), 'TIFF'],
      ['old.bmp', bmp, 'BMP'],
      ['iphone.heic', heicBox('heic'), 'HEIC'],
      ['photo.avif', heicBox('avif'), 'AVIF'],
      // The extension of an image file, the contents of another format: the contents decide.
      ['renamed.jpg', await picture().gif().toBuffer(), 'GIF'],
      ['short.png', Buffer.from('GIF89a', 'latin1'), 'GIF'],
    ];
    for (const [name, bytes, format] of cases) {
      const file = join(dir, name);
      await writeFile(file, bytes);
      await assert.rejects(loadImages([file], [8, 8, 3]), { name: 'DataError', message: `${file}: ${format} images are not supported: use JPEG, PNG or WebP` }, name);
    }
    const empty = join(dir, 'empty.jpg');
    await writeFile(empty, '');
    await assert.rejects(loadImages([empty], [8, 8, 3]), { message: `${empty}: empty file (0 bytes): not an image` });
    // Anything else stays "not an image"; an ftyp box of another brand (an MP4 video) too.
    const mp4 = join(dir, 'clip.png');
    await writeFile(mp4, Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypisom\0\0\0\0isomavc1', 'latin1')]));
    await assert.rejects(loadImages([mp4], [8, 8, 3]), { message: `${mp4}: not an image: its contents are not JPEG, PNG or WebP` });
  });
});
