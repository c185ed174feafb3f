/**
 * CIFAR-10 and CIFAR-100 binary files: tiny folders written here in the layout of the CIFAR page, opened with
 * openDataset and checked pixel by pixel against the planar values they were written with (cifar-fixtures.ts), with
 * their labels, class names, parts, description, limit and validation split; and each kind of bad input.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../src/backend/index.js';
import { CIFAR10_CLASSES, DataError, openDataset } from '../src/data/index.js';
import { cifarPixel, cifarRecords, TEST_FIRST, writeCifar10, writeCifar100 } from './cifar-fixtures.js';
import { firstBatch } from './data-fixtures.js';

/** Names of the tiny CIFAR-10 folder's classes (not the standard ones, so that reading the file shows). */
const NAMES10 = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
/** Five training batches of 4 records each: labels 0..9 twice, in order. */
const BATCHES = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [2, 3, 4, 5], [6, 7, 8, 9]];
const TEST10 = [9, 0, 5];
const NAMES100 = Array.from({ length: 100 }, (_, k) => `fine${k}`);
/** CIFAR-100 records, `[coarse, fine]`. */
const TRAIN100: [number, number][] = [[19, 99], [0, 0], [2, 42], [2, 42]];
const TEST100: [number, number][] = [[7, 57], [0, 1]];

let dir: string;
let c10: string;
let c100: string;

before(async () => {
  await initBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'resnet-data-cifar-'));
  c10 = join(dir, 'cifar-10-batches-bin');
  // The distribution's meta file ends with blank lines.
  await writeCifar10(c10, { batches: BATCHES, test: TEST10, names: [...NAMES10, '', ''] });
  c100 = join(dir, 'cifar-100-binary');
  await writeCifar100(c100, { train: TRAIN100, test: TEST100, names: [...NAMES100, ''] });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});


/**
 * Asserts that example `k` of a batch of 32x32x3 images (NHWC) is image number `g`: at every row y, column x and
 * channel c, the value written into plane c at position y * 32 + x, over 255.
 */
function assertImage(xs: Float32Array, k: number, g: number): void {
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      for (let c = 0; c < 3; c++) {
        const got = xs[((k * 32 + y) * 32 + x) * 3 + c];
        const want = Math.fround(cifarPixel(g, c, y * 32 + x) / 255);
        if (got !== want) assert.fail(`example ${k} (image ${g}) at y=${y} x=${x} channel ${c}: ${got}, expected ${want}`);
      }
    }
  }
}

/** Asserts that `fn` rejects with a one-line DataError that starts with `path: ` and matches `pattern`. */
async function assertDataError(fn: () => Promise<unknown>, path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (err: Error) => {
    assert.ok(err instanceof DataError, `a DataError, got ${err}`);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    assert.ok(err.message.startsWith(`${path}: `), `names ${path}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('CIFAR-10 binary folder', () => {
  test('training part: the five batches joined in order, planar pixels as NHWC, labels and names from batches.meta.txt', async () => {
    const { train, validation } = await openDataset(c10, { inputShape: [32, 32, 3] });
    assert.equal(validation, undefined);
    assert.equal(train.part, 'train');
    assert.equal(train.size, 20);
    assert.deepEqual(train.classes, NAMES10);
    assert.deepEqual(train.imageShape, [32, 32, 3]);
    const { xs, shape, labels } = await firstBatch(train);
    assert.deepEqual(shape, [20, 32, 32, 3]);
    assert.deepEqual(labels, BATCHES.flat());
    assert.deepEqual(Array.from(await train.labels()), BATCHES.flat());
    for (let k = 0; k < 20; k++) assertImage(xs, k, k);
    // A few values by hand: image 0 at (0, 0) is red 0, green 255, blue 0; image 5 at y=1, x=2 (p = 34) is
    // red 34 + 55 = 89, green 166, blue 102 + 5 = 107.
    assert.deepEqual(Array.from(xs.subarray(0, 3)), [0, 1, 0]);
    const at = ((5 * 32 + 1) * 32 + 2) * 3;
    assert.deepEqual(Array.from(xs.subarray(at, at + 3)), [89, 166, 107].map((v) => Math.fround(v / 255)));
    // Examples are named by their batch file and record.
    assert.equal(train.sourceOf?.(0), `${join(c10, 'data_batch_1.bin')} #0`);
    assert.equal(train.sourceOf?.(9), `${join(c10, 'data_batch_3.bin')} #1`);
    assert.equal(train.sourceOf?.(19), `${join(c10, 'data_batch_5.bin')} #3`);
    assert.equal(
      train.description,
      `${c10}: CIFAR-10 training part (data_batch_1.bin to data_batch_5.bin), 20 images of 32x32 RGB, 10 classes (zero, one, two and 7 more), 2 a class`,
    );
  });

  test("split 'test': test_batch.bin, part 'test'; the default shape is 40x40x3", async () => {
    const { train: test10 } = await openDataset(c10, { split: 'test' });
    assert.equal(test10.part, 'test');
    assert.equal(test10.name, join(c10, 'test_batch.bin'));
    assert.equal(test10.size, 3);
    assert.deepEqual(test10.imageShape, [40, 40, 3]);
    const { shape, labels } = await firstBatch(test10);
    assert.deepEqual(shape, [3, 40, 40, 3]);
    assert.deepEqual(labels, TEST10);
    assert.equal(test10.sourceOf?.(2), `${join(c10, 'test_batch.bin')} #2`);
    assert.match(test10.description ?? '', /: CIFAR-10 test part \(test_batch\.bin\), 3 images of 32x32 RGB, 10 classes .*, 0 to 1 a class$/);

    const { train: native } = await openDataset(c10, { split: 'test', inputShape: [32, 32, 3] });
    const { xs } = await firstBatch(native);
    for (let k = 0; k < 3; k++) assertImage(xs, k, TEST_FIRST + k);
  });

  test('a grayscale input shape takes the luma of the RGB pixels', async () => {
    const { train } = await openDataset(c10, { split: 'test', inputShape: [32, 32, 1] });
    const { xs, shape } = await firstBatch(train);
    assert.deepEqual(shape, [3, 32, 32, 1]);
    // Image 1001 at p = 0: red 11011 mod 256 = 3, green 252, blue 1001 mod 251 = 248.
    assert.equal(cifarPixel(TEST_FIRST + 1, 0, 0), 3);
    assert.ok(Math.abs(xs[1024] - (0.299 * 3 + 0.587 * 252 + 0.114 * 248) / 255) < 1e-6, String(xs[1024]));
  });

  test('limit and validationSplit pick class-balanced subsets of the training part', async () => {
    const limited = await openDataset(c10, { limit: 10, inputShape: [32, 32, 3] });
    assert.equal(limited.train.size, 10);
    assert.deepEqual(Array.from(await limited.train.labels()).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(limited.train.part, 'train');
    assert.ok(limited.train.description?.includes('20 images'), 'the description is the whole part');

    const { train, validation } = await openDataset(c10, { validationSplit: 0.5, seed: 3, inputShape: [32, 32, 3] });
    assert.ok(validation);
    assert.equal(train.size, 10);
    assert.equal(validation.size, 10);
    assert.equal(validation.part, 'train');
    const trainLabels = Array.from(await train.labels()).sort((a, b) => a - b);
    const validationLabels = Array.from(await validation.labels()).sort((a, b) => a - b);
    assert.deepEqual(trainLabels, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(validationLabels, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Each validation example is its own image (its file and record say which), and no example is in both.
    const names = new Set<string>();
    const { xs, labels } = await firstBatch(validation);
    for (let k = 0; k < validation.size; k++) {
      const where = /data_batch_(\d)\.bin #(\d)$/.exec(validation.sourceOf?.(k) ?? '');
      assert.ok(where, validation.sourceOf?.(k));
      const g = (Number(where[1]) - 1) * 4 + Number(where[2]);
      assert.equal(labels[k], BATCHES.flat()[g]);
      assertImage(xs, k, g);
      names.add(validation.sourceOf?.(k) ?? '');
    }
    for (let k = 0; k < train.size; k++) assert.ok(!names.has(train.sourceOf?.(k) ?? ''), `${train.sourceOf?.(k)} in both`);
  });

  test('a single batch file is a single part, named by batches.meta.txt beside it; a renamed one is told by that file', async () => {
    const file = join(c10, 'test_batch.bin');
    const { train } = await openDataset(file, { split: 'train', inputShape: [32, 32, 3] });
    assert.equal(train.part, undefined);
    assert.equal(train.size, 3);
    assert.deepEqual(train.classes, NAMES10);
    assert.deepEqual((await firstBatch(train)).labels, TEST10);
    assert.match(train.description ?? '', new RegExp(`^${file}: CIFAR-10 file, 3 images of 32x32 RGB`));

    const renamed = join(dir, 'renamed10');
    await mkdir(renamed);
    await copyFile(join(c10, 'data_batch_2.bin'), join(renamed, 'my-cifar.bin'));
    await copyFile(join(c10, 'batches.meta.txt'), join(renamed, 'batches.meta.txt'));
    const { train: mine } = await openDataset(join(renamed, 'my-cifar.bin'), { inputShape: [32, 32, 3] });
    const { xs, labels } = await firstBatch(mine);
    assert.deepEqual(labels, BATCHES[1]);
    for (let k = 0; k < 4; k++) assertImage(xs, k, 4 + k);
  });

  test('without batches.meta.txt: the standard CIFAR-10 names, and the description says so', async () => {
    const bare = join(dir, 'bare10');
    await writeCifar10(bare, { batches: BATCHES, test: TEST10, names: null });
    const { train } = await openDataset(bare, { split: 'test' });
    assert.deepEqual(train.classes, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    assert.deepEqual(CIFAR10_CLASSES, train.classes);
    assert.match(train.description ?? '', /10 classes \(airplane, automobile, bird and 7 more\), 0 to 1 a class; standard class names \(no batches\.meta\.txt\)$/);
  });

  test('a sixth batch is read after the fifth', async () => {
    const six = join(dir, 'six10');
    await writeCifar10(six, { batches: [...BATCHES, [3, 3]], test: TEST10, names: NAMES10 });
    const { train } = await openDataset(six, { inputShape: [32, 32, 3] });
    assert.equal(train.size, 22);
    const { xs, labels } = await firstBatch(train);
    assert.deepEqual(labels.slice(20), [3, 3]);
    assertImage(xs, 21, 21);
  });
});

describe('CIFAR-100 binary folder', () => {
  test('train.bin: fine labels are the classes, named by fine_label_names.txt; pixels as NHWC', async () => {
    const { train } = await openDataset(c100, { inputShape: [32, 32, 3] });
    assert.equal(train.part, 'train');
    assert.equal(train.name, join(c100, 'train.bin'));
    assert.equal(train.classes.length, 100);
    assert.deepEqual(train.classes, NAMES100);
    const { xs, shape, labels } = await firstBatch(train);
    assert.deepEqual(shape, [4, 32, 32, 3]);
    assert.deepEqual(labels, [99, 0, 42, 42]);
    for (let k = 0; k < 4; k++) assertImage(xs, k, k);
    assert.equal(
      train.description,
      `${c100}: CIFAR-100 training part (train.bin), 4 images of 32x32 RGB, 100 classes by fine label (fine0, fine1, fine2 and 97 more), 0 to 2 a class; coarse labels not used`,
    );
  });

  test("split 'test' reads test.bin; test.bin alone is a single part", async () => {
    const { train } = await openDataset(c100, { split: 'test', inputShape: [32, 32, 3] });
    assert.equal(train.part, 'test');
    const { xs, labels } = await firstBatch(train);
    assert.deepEqual(labels, [57, 1]);
    assertImage(xs, 1, TEST_FIRST + 1);

    const { train: file } = await openDataset(join(c100, 'test.bin'), { split: 'train' });
    assert.equal(file.part, undefined);
    assert.equal(file.size, 2);
    assert.deepEqual(file.imageShape, [40, 40, 3]);
  });
});

describe('CIFAR bad input: one line naming the file', () => {
  /** A copy of the tiny CIFAR-10 folder under a new name. */
  async function copy10(name: string): Promise<string> {
    const to = join(dir, name);
    await writeCifar10(to, { batches: BATCHES, test: TEST10, names: NAMES10 });
    return to;
  }

  test('a missing training batch names the folder and the file; the test part still opens', async () => {
    const gap = await copy10('gap10');
    await unlink(join(gap, 'data_batch_3.bin'));
    await assertDataError(() => openDataset(gap), gap, /: data_batch_3\.bin is missing: the CIFAR-10 training part \(data_batch_1\.bin to data_batch_5\.bin\) needs it$/);
    assert.equal((await openDataset(gap, { split: 'test' })).train.size, 3);
    await unlink(join(gap, 'data_batch_5.bin'));
    await assertDataError(() => openDataset(gap), gap, /: data_batch_3\.bin, data_batch_5\.bin are missing: .* needs them$/);

    const onlyTest = join(dir, 'only-test10');
    await mkdir(onlyTest);
    await copyFile(join(c10, 'test_batch.bin'), join(onlyTest, 'test_batch.bin'));
    await assertDataError(() => openDataset(onlyTest), onlyTest, /data_batch_1\.bin, data_batch_2\.bin, data_batch_3\.bin and 2 more are missing/);
  });

  test('a missing test file names the folder and the file', async () => {
    const noTest = await copy10('notest10');
    await unlink(join(noTest, 'test_batch.bin'));
    await assertDataError(() => openDataset(noTest, { split: 'test' }), noTest, /: test_batch\.bin is missing: the CIFAR-10 test part needs it$/);
    const noTest100 = join(dir, 'notest100');
    await writeCifar100(noTest100, { train: TRAIN100, test: TEST100, names: NAMES100 });
    await unlink(join(noTest100, 'test.bin'));
    await assertDataError(() => openDataset(noTest100, { split: 'test' }), noTest100, /: test\.bin is missing: the CIFAR-100 test part needs it$/);
  });

  test('a size that is not a whole number of records, or no records', async () => {
    const cut = await copy10('cut10');
    const file = join(cut, 'data_batch_4.bin');
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 7));
    await assertDataError(() => openDataset(cut), file, /: 12285 bytes is not a whole number of 3073-byte CIFAR-10 records \(1 label byte \+ 3072 pixel bytes\): 3 records and 3066 bytes over$/);
    await writeFile(file, Buffer.alloc(0));
    await assertDataError(() => openDataset(cut), file, /: empty file: no CIFAR-10 records$/);

    // CIFAR-100 records given a CIFAR-10 name: the size says which they are.
    const wrong = join(dir, 'wrong-layout');
    await mkdir(wrong);
    await writeFile(join(wrong, 'test_batch.bin'), cifarRecords([[1, 2], [3, 4], [5, 6]]));
    await assertDataError(() => openDataset(join(wrong, 'test_batch.bin')), join(wrong, 'test_batch.bin'), /is not a whole number of 3073-byte CIFAR-10 records.*; it is a whole number of CIFAR-100 records \(3074 bytes\): is it a CIFAR-100 file\?$/);
  });

  test('a label byte out of range names the file and the record', async () => {
    const bad = await copy10('badlabel10');
    const file = join(bad, 'data_batch_2.bin');
    await writeFile(file, cifarRecords([[4], [10], [6], [7]], 4));
    await assertDataError(() => openDataset(bad), file, /: label 10 of record 1 is out of range: CIFAR-10 has 10 classes, 0\.\.9$/);

    const bad100 = join(dir, 'badlabel100');
    await writeCifar100(bad100, { train: [[0, 0], [1, 100]], test: [[20, 5]], names: NAMES100 });
    await assertDataError(() => openDataset(bad100), join(bad100, 'train.bin'), /: fine label 100 of record 1 is out of range: CIFAR-100 has 100 classes, 0\.\.99$/);
    await assertDataError(() => openDataset(bad100, { split: 'test' }), join(bad100, 'test.bin'), /: coarse label 20 of record 0 is out of range: CIFAR-100 has 20 coarse classes, 0\.\.19$/);
  });

  test('a names file with a wrong number of names or a name twice; CIFAR-100 without its names file', async () => {
    const nine = await copy10('nine10');
    const meta = join(nine, 'batches.meta.txt');
    await writeFile(meta, `${NAMES10.slice(0, 9).join('\n')}\n\n`);
    await assertDataError(() => openDataset(nine), meta, /: holds 9 class names; CIFAR-10 has 10, one a line$/);
    await writeFile(meta, [...NAMES10.slice(0, 9), 'two'].join('\r\n'));
    await assertDataError(() => openDataset(nine), meta, /: class name "two" is on line 3 and again on line 10$/);

    const bare100 = join(dir, 'bare100');
    await writeCifar100(bare100, { train: TRAIN100, test: TEST100, names: null });
    const names = join(bare100, 'fine_label_names.txt');
    await assertDataError(() => openDataset(bare100), names, /: no such file: the 100 CIFAR-100 class names are read from it \(one a line\)$/);
    await assertDataError(() => openDataset(join(bare100, 'train.bin')), names, /no such file/);
    await writeFile(names, NAMES100.slice(0, 20).join('\n'));
    await assertDataError(() => openDataset(bare100), names, /: holds 20 class names; CIFAR-100 has 100, one a line$/);
  });

  test('a .bin file whose layout cannot be told, and a folder with both layouts', async () => {
    const lone = join(dir, 'lone');
    await mkdir(lone);
    const file = join(lone, 'images.bin');
    await writeFile(file, cifarRecords([[1]]));
    await assertDataError(() => openDataset(file), file, /: not a known CIFAR file name .*, and neither batches\.meta\.txt nor fine_label_names\.txt beside it to tell which$/);

    const both = await copy10('both');
    await copyFile(join(c100, 'train.bin'), join(both, 'train.bin'));
    await assertDataError(() => openDataset(both), both, /: holds both CIFAR-10 and CIFAR-100 files \(data_batch_1\.bin, data_batch_2\.bin, data_batch_3\.bin and 4 more\): give the \.bin file to read/);
    // Each file of it still opens by itself, its layout told by its name.
    assert.equal((await openDataset(join(both, 'test_batch.bin'))).train.size, 3);
    await assertDataError(() => openDataset(join(both, 'train.bin')), join(both, 'fine_label_names.txt'), /no such file/);
  });
});

test('a CIFAR-10 folder with a sub-folder in it is still CIFAR-10', async () => {
  const folder = join(dir, 'cifar-10-with-runs');
  await writeCifar10(folder, { batches: BATCHES, test: TEST10, names: NAMES10 });
  await mkdir(join(folder, 'runs'));
  const { train } = await openDataset(folder, { inputShape: [32, 32, 3] });
  assert.deepEqual(train.classes, NAMES10);
  assert.equal(train.size, BATCHES.flat().length);
});

test('an image folder with a stray train.bin or test.bin beside its class folders is still an image folder', async () => {
  const folder = join(dir, 'photos');
  for (const cls of ['cat', 'dog']) {
    await mkdir(join(folder, cls), { recursive: true });
    await sharp(Buffer.alloc(8 * 8 * 3, 120), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(join(folder, cls, 'a.png'));
  }
  await writeFile(join(folder, 'train.bin'), Buffer.alloc(10));
  await writeFile(join(folder, 'test.bin'), Buffer.alloc(10));
  const { train } = await openDataset(folder, { inputShape: [8, 8, 3] });
  assert.deepEqual(train.classes, ['cat', 'dog']);
  assert.equal(train.size, 2);
});
