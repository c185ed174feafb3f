/**
 * Data layer on the real SIGNS files: contents checked against the raw HDF5 values (read with h5wasm directly),
 * batching, seeded shuffling, splits, resizing, augmentation and tensor hygiene.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import h5wasm, { type Dataset as H5Dataset } from 'h5wasm/node';
import { initBackend } from '../src/backend/index.js';
import { batchCount, MemorySource, openDataset, SourceDataset, type Batch, type Dataset } from '../src/data/index.js';
import { stratifiedPick, stratifiedSplit } from '../src/data/random.js';

const SIGNS = fileURLToPath(new URL('../../../shared/data/signs/', import.meta.url));
const TRAIN = `${SIGNS}train_signs.h5`;
const TEST = `${SIGNS}test_signs.h5`;

/** The raw contents of a SIGNS file, read independently of the code under test. */
interface Raw {
  x: Uint8Array;
  y: number[];
  classes: string[];
}

async function readRaw(path: string, prefix: string): Promise<Raw> {
  await h5wasm.ready;
  const f = new h5wasm.File(path, 'r');
  try {
    const x = (f.get(`${prefix}_set_x`) as H5Dataset).value as Uint8Array;
    const y = Array.from((f.get(`${prefix}_set_y`) as H5Dataset).value as BigInt64Array, Number);
    const classes = Array.from((f.get('list_classes') as H5Dataset).value as BigInt64Array, String);
    return { x, y, classes };
  } finally {
    f.close();
  }
}

const IMAGE = 64 * 64 * 3;

/** Collects every batch of an epoch as plain arrays, disposing the tensors. */
async function collect(ds: Dataset, opts: Parameters<Dataset['batches']>[0]) {
  const xs: Float32Array[] = [];
  const ys: Float32Array[] = [];
  const shapes: number[][] = [];
  for await (const b of ds.batches(opts)) {
    shapes.push(b.xs.shape);
    xs.push(b.xs.dataSync() as Float32Array);
    ys.push(b.ys.dataSync() as Float32Array);
    b.xs.dispose();
    b.ys.dispose();
  }
  return { xs, ys, shapes };
}

function argmaxRows(ys: Float32Array, numClasses: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < ys.length / numClasses; r++) {
    const row = ys.subarray(r * numClasses, (r + 1) * numClasses);
    out.push(row.indexOf(Math.max(...row)));
  }
  return out;
}

function counts(labels: ArrayLike<number>, n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (let i = 0; i < labels.length; i++) c[labels[i]]++;
  return c;
}

let rawTrain: Raw;
let rawTest: Raw;

before(async () => {
  await initBackend('cpu');
  rawTrain = await readRaw(TRAIN, 'train');
  rawTest = await readRaw(TEST, 'test');
});

describe('SIGNS HDF5', () => {
  test('train and test files have the documented sizes, classes and shapes', async () => {
    const { train, validation } = await openDataset(TRAIN);
    assert.equal(validation, undefined);
    assert.equal(train.size, 1080);
    assert.deepEqual(train.classes, ['0', '1', '2', '3', '4', '5']);
    assert.deepEqual(train.imageShape, [64, 64, 3]);
    assert.deepEqual(counts(await train.labels(), 6), [180, 180, 180, 180, 180, 180]);

    const test = (await openDataset(TEST)).train;
    assert.equal(test.size, 120);
    assert.deepEqual(counts(await test.labels(), 6), [20, 20, 20, 20, 20, 20]);
  });

  test('the SIGNS folder opens its train or test file by split', async () => {
    assert.equal((await openDataset(SIGNS)).train.size, 1080);
    assert.equal((await openDataset(SIGNS, { split: 'test' })).train.size, 120);
  });

  test('labels() are the file\'s labels in order', async () => {
    const { train } = await openDataset(TRAIN);
    assert.deepEqual(Array.from(await train.labels()), rawTrain.y);
    assert.deepEqual(train.classes, rawTrain.classes);
  });

  test('batches in file order hold raw/255 pixels and one-hot labels of the same rows', async () => {
    const { train } = await openDataset(TEST);
    const { xs, ys, shapes } = await collect(train, { batchSize: 50 });
    assert.deepEqual(shapes, [[50, 64, 64, 3], [50, 64, 64, 3], [20, 64, 64, 3]]);
    let row = 0;
    for (let b = 0; b < xs.length; b++) {
      for (let i = 0; i < shapes[b][0]; i++, row++) {
        const got = xs[b].subarray(i * IMAGE, (i + 1) * IMAGE);
        const want = rawTest.x.subarray(row * IMAGE, (row + 1) * IMAGE);
        for (let k = 0; k < IMAGE; k += 97) assert.ok(Math.abs(got[k] - want[k] / 255) < 1e-7, `row ${row} value ${k}`);
        const oneHot = Array.from(ys[b].subarray(i * 6, (i + 1) * 6));
        const expected = [0, 0, 0, 0, 0, 0];
        expected[rawTest.y[row]] = 1;
        assert.deepEqual(oneHot, expected, `row ${row}`);
      }
    }
    assert.equal(row, 120);
    // Every value of a few whole images.
    for (const r of [0, 57, 119]) {
      const got = xs[Math.floor(r / 50)].subarray((r % 50) * IMAGE, (r % 50 + 1) * IMAGE);
      for (let k = 0; k < IMAGE; k++) assert.equal(got[k], Math.fround(rawTest.x[r * IMAGE + k] / 255));
    }
  });

  test('pixels lie in [0, 1] and use the range', async () => {
    const { train } = await openDataset(TEST);
    let min = Infinity;
    let max = -Infinity;
    for (const x of (await collect(train, { batchSize: 64 })).xs) {
      for (const v of x) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    assert.ok(min >= 0 && max <= 1, `range ${min}..${max}`);
    assert.ok(max > 0.9 && min < 0.1, `range ${min}..${max}`);
  });

  test('a shuffled epoch holds every example once, as the matching (image, label) pairs', async () => {
    const { train } = await openDataset(TEST);
    const { xs, ys } = await collect(train, { batchSize: 32, shuffle: true, seed: 7, epoch: 3 });
    // Identify each delivered image by its bytes and check it came with its own label.
    const byImage = new Map<string, number[]>();
    for (let r = 0; r < 120; r++) {
      const key = Buffer.from(rawTest.x.subarray(r * IMAGE, (r + 1) * IMAGE)).toString('base64');
      byImage.set(key, [...(byImage.get(key) ?? []), r]);
    }
    const seen: number[] = [];
    xs.forEach((x, b) => {
      const labels = argmaxRows(ys[b], 6);
      for (let i = 0; i < x.length / IMAGE; i++) {
        const bytes = Uint8Array.from(x.subarray(i * IMAGE, (i + 1) * IMAGE), (v) => Math.round(v * 255));
        const rows = byImage.get(Buffer.from(bytes).toString('base64'));
        assert.ok(rows, 'delivered image is one of the file');
        const row = rows.find((r) => !seen.includes(r))!;
        assert.equal(labels[i], rawTest.y[row]);
        seen.push(row);
      }
    });
    assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: 120 }, (_, i) => i));
    assert.notDeepEqual(seen, Array.from({ length: 120 }, (_, i) => i), 'order is shuffled');
  });

  test('validation split is stratified, disjoint and seeded', async () => {
    const a = await openDataset(TRAIN, { validationSplit: 0.1, seed: 1 });
    assert.ok(a.validation);
    assert.equal(a.train.size, 972);
    assert.equal(a.validation.size, 108);
    assert.deepEqual(counts(await a.validation.labels(), 6), [18, 18, 18, 18, 18, 18]);
    assert.deepEqual(counts(await a.train.labels(), 6), [162, 162, 162, 162, 162, 162]);
    const ti = (a.train as SourceDataset).indices;
    const vi = (a.validation as SourceDataset).indices;
    assert.deepEqual([...ti, ...vi].sort((x, y) => x - y), Array.from({ length: 1080 }, (_, i) => i));
    // The labels of the subsets are the file's labels at their indices.
    assert.deepEqual(Array.from(await a.validation.labels()), Array.from(vi, (i) => rawTrain.y[i]));

    const same = await openDataset(TRAIN, { validationSplit: 0.1, seed: 1 });
    assert.deepEqual((same.validation as SourceDataset).indices, vi);
    const other = await openDataset(TRAIN, { validationSplit: 0.1, seed: 2 });
    assert.notDeepEqual((other.validation as SourceDataset).indices, vi);
  });

  test('limit picks a seeded, class-balanced subset before the split', async () => {
    const { train } = await openDataset(TRAIN, { limit: 60, seed: 4 });
    assert.equal(train.size, 60);
    assert.deepEqual(counts(await train.labels(), 6), [10, 10, 10, 10, 10, 10]);
    const idx = (train as SourceDataset).indices;
    assert.ok(idx.every((v, i) => i === 0 || v > idx[i - 1]), 'kept in file order');
    assert.deepEqual(((await openDataset(TRAIN, { limit: 60, seed: 4 })).train as SourceDataset).indices, idx);

    const both = await openDataset(TRAIN, { limit: 60, validationSplit: 0.5, seed: 4 });
    assert.equal(both.train.size, 30);
    assert.equal(both.validation?.size, 30);
    const union = [...(both.train as SourceDataset).indices, ...(both.validation as SourceDataset).indices];
    assert.deepEqual(union.sort((x, y) => x - y), Array.from(idx));
  });

  test('resizing to 32x32 is bilinear with half-pixel centres', async () => {
    const { train } = await openDataset(TEST, { inputShape: [32, 32, 3] });
    assert.deepEqual(train.imageShape, [32, 32, 3]);
    const { xs, shapes } = await collect(train, { batchSize: 4 });
    assert.deepEqual(shapes[0], [4, 32, 32, 3]);
    // Plain-loop reference: output pixel (y, x) samples the source at ((y + 0.5) * 2 - 0.5, ...).
    for (const r of [0, 3]) {
      for (const [y, x, c] of [[0, 0, 0], [5, 17, 1], [31, 31, 2], [16, 2, 0]]) {
        const fy = (y + 0.5) * 2 - 0.5;
        const fx = (x + 0.5) * 2 - 0.5;
        const y0 = Math.floor(fy);
        const x0 = Math.floor(fx);
        const at = (yy: number, xx: number) => rawTest.x[r * IMAGE + (yy * 64 + xx) * 3 + c] / 255;
        const want =
          (at(y0, x0) * (1 - (fx - x0)) + at(y0, x0 + 1) * (fx - x0)) * (1 - (fy - y0)) +
          (at(y0 + 1, x0) * (1 - (fx - x0)) + at(y0 + 1, x0 + 1) * (fx - x0)) * (fy - y0);
        const got = xs[0][r * 32 * 32 * 3 + (y * 32 + x) * 3 + c];
        assert.ok(Math.abs(got - want) < 1e-5, `image ${r} (${y},${x},${c}): ${got} vs ${want}`);
      }
    }
  });

  test('one-channel input shape gives luma', async () => {
    const { train } = await openDataset(TEST, { inputShape: [64, 64, 1] });
    const { xs, shapes } = await collect(train, { batchSize: 2 });
    assert.deepEqual(shapes[0], [2, 64, 64, 1]);
    for (const p of [0, 100, 4095, 4096 + 2000]) {
      const [r, g, b] = rawTest.x.subarray(p * 3, p * 3 + 3);
      assert.ok(Math.abs(xs[0][p] - (0.299 * r + 0.587 * g + 0.114 * b) / 255) < 1e-6);
    }
  });

  test('a full epoch with resizing and augmentation leaves no tensors behind, nor does stopping early', async () => {
    const { train } = await openDataset(TRAIN, { inputShape: [32, 32, 3] });
    const start = tf.memory().numTensors;
    let seen = 0;
    for await (const { xs, ys } of train.batches({ batchSize: 128, shuffle: true, augment: { flip: true, shift: 0.1, crop: true } })) {
      seen += xs.shape[0];
      assert.deepEqual(ys.shape, [xs.shape[0], 6]);
      tf.dispose([xs, ys]);
    }
    assert.equal(seen, 1080);
    assert.equal(tf.memory().numTensors, start);

    for await (const b of train.batches({ batchSize: 16, shuffle: true })) {
      tf.dispose([b.xs, b.ys]);
      break;
    }
    assert.equal(tf.memory().numTensors, start);
  });
});

describe('batching and shuffling', () => {
  // 50 one-pixel images whose value is their index, labels index % 5.
  const N = 50;
  const pixels = Uint8Array.from({ length: N }, (_, i) => i);
  const labels = Int32Array.from({ length: N }, (_, i) => i % 5);
  const source = new MemorySource('indices', ['a', 'b', 'c', 'd', 'e'], [1, 1, 1], labels, pixels, [1, 1, 1]);
  const ds = new SourceDataset(source, Int32Array.from({ length: N }, (_, i) => i));

  async function order(opts: Parameters<Dataset['batches']>[0]): Promise<{ order: number[]; sizes: number[] }> {
    const out: number[] = [];
    const sizes: number[] = [];
    for await (const b of ds.batches(opts) as AsyncGenerator<Batch>) {
      const xs = b.xs.dataSync();
      const ys = argmaxRows(b.ys.dataSync() as Float32Array, 5);
      xs.forEach((v, i) => {
        out.push(Math.round(v * 255));
        assert.equal(ys[i], Math.round(v * 255) % 5, 'label travels with its image');
      });
      sizes.push(xs.length);
      tf.dispose([b.xs, b.ys]);
    }
    return { order: out, sizes };
  }

  const identity = Array.from({ length: N }, (_, i) => i);
  const sorted = (a: number[]) => [...a].sort((x, y) => x - y);

  test('without shuffle, data set order and a short last batch', async () => {
    const r = await order({ batchSize: 8 });
    assert.deepEqual(r.order, identity);
    assert.deepEqual(r.sizes, [8, 8, 8, 8, 8, 8, 2]);
  });

  test('dropRemainder leaves out the short batch', async () => {
    const r = await order({ batchSize: 8, dropRemainder: true });
    assert.deepEqual(r.sizes, [8, 8, 8, 8, 8, 8]);
    assert.deepEqual(r.order, identity.slice(0, 48));
  });

  test('shuffling: every index once per epoch, same for same seed and epoch, new for another epoch or seed', async () => {
    const e0 = (await order({ batchSize: 8, shuffle: true, seed: 3, epoch: 0 })).order;
    const e0again = (await order({ batchSize: 16, shuffle: true, seed: 3, epoch: 0 })).order;
    const e1 = (await order({ batchSize: 8, shuffle: true, seed: 3, epoch: 1 })).order;
    const s4 = (await order({ batchSize: 8, shuffle: true, seed: 4, epoch: 0 })).order;
    for (const o of [e0, e1, s4]) assert.deepEqual(sorted(o), identity);
    assert.deepEqual(e0again, e0, 'order does not depend on batch size');
    assert.notDeepEqual(e0, identity);
    assert.notDeepEqual(e1, e0);
    assert.notDeepEqual(s4, e0);
  });

  test('a last batch of a single example is left out of shuffled (training) batches, another each epoch; kept in order', async () => {
    // 50 = 7 x 7 + 1.
    const left: number[] = [];
    for (let epoch = 0; epoch < 12; epoch++) {
      const r = await order({ batchSize: 7, shuffle: true, seed: 3, epoch });
      assert.deepEqual(r.sizes, [7, 7, 7, 7, 7, 7, 7], `epoch ${epoch}`);
      const missing = identity.filter((i) => !r.order.includes(i));
      assert.equal(missing.length, 1);
      left.push(missing[0]);
    }
    assert.ok(new Set(left).size > 1, `not the same example left out every epoch: ${left.join(', ')}`);
    // Unshuffled (evaluation): every example, the single one in a batch of its own.
    const inOrder = await order({ batchSize: 7 });
    assert.deepEqual(inOrder.sizes, [7, 7, 7, 7, 7, 7, 7, 1]);
    assert.deepEqual(inOrder.order, identity);
    // Asked for either way.
    assert.deepEqual((await order({ batchSize: 7, shuffle: true, dropSingle: false })).sizes, [7, 7, 7, 7, 7, 7, 7, 1]);
    assert.deepEqual((await order({ batchSize: 7, dropSingle: true })).sizes, [7, 7, 7, 7, 7, 7, 7]);
    // Batches of one asked for, and a last batch of two, stay.
    assert.equal((await order({ batchSize: 1, shuffle: true })).sizes.length, 50);
    assert.deepEqual((await order({ batchSize: 16, shuffle: true })).sizes, [16, 16, 16, 2]);
  });

  test('batchCount counts the batches that batches() yields', async () => {
    for (const batchSize of [1, 2, 7, 8, 16, 49, 50, 64]) {
      for (const opts of [{}, { shuffle: true }, { dropRemainder: true }, { shuffle: true, dropSingle: false }, { dropSingle: true }]) {
        const yielded = (await order({ batchSize, ...opts })).sizes.length;
        assert.equal(batchCount(N, { batchSize, ...opts }), yielded, `batch size ${batchSize}, ${JSON.stringify(opts)}`);
      }
    }
    // A single example is the only batch: it is kept (an epoch has at least one step).
    assert.equal(batchCount(1, { batchSize: 4, shuffle: true }), 1);
    assert.equal(batchCount(5, { batchSize: 4, shuffle: true }), 1);
    assert.equal(batchCount(5, { batchSize: 4 }), 2);
  });

  test('stratified picks and splits keep unequal class shares', () => {
    // Classes of 10, 30 and 60 examples, interleaved.
    const labels = Int32Array.from({ length: 100 }, (_, i) => (i % 10 === 0 ? 0 : i % 10 <= 3 ? 1 : 2));
    const share = (pos: Int32Array) => counts(Array.from(pos, (p) => labels[p]), 3);
    assert.deepEqual(share(stratifiedPick(labels, 20, 1)), [2, 6, 12]);
    assert.deepEqual(share(stratifiedPick(labels, 50, 1)), [5, 15, 30]);
    const pick = stratifiedPick(labels, 20, 1);
    assert.equal(new Set(pick).size, 20);
    assert.notDeepEqual(stratifiedPick(labels, 20, 2), pick);
    const { train, validation } = stratifiedSplit(labels, 0.25, 1);
    assert.deepEqual(share(validation), [3, 8, 15]); // round(2.5) = 3, round(7.5) = 8, 15
    assert.deepEqual(share(train), [7, 22, 45]);
    assert.deepEqual([...train, ...validation].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  });

  test('batch size must be a positive integer', async () => {
    await assert.rejects(ds.batches({ batchSize: 0 }).next(), RangeError);
  });
});

describe('augmentation', () => {
  let originals: Float32Array;

  before(async () => {
    const { train } = await openDataset(TEST);
    const b = await train.batches({ batchSize: 32 }).next();
    const batch = b.value as Batch;
    originals = batch.xs.dataSync() as Float32Array;
    tf.dispose([batch.xs, batch.ys]);
  });

  async function augmented(augment: object, seed = 0, epoch = 0): Promise<Float32Array> {
    const { train } = await openDataset(TEST);
    const gen = train.batches({ batchSize: 32, augment, seed, epoch });
    const batch = (await gen.next()).value as Batch;
    assert.deepEqual(batch.xs.shape, [32, 64, 64, 3]);
    const out = batch.xs.dataSync() as Float32Array;
    tf.dispose([batch.xs, batch.ys]);
    await gen.return(undefined);
    return out;
  }

  /** Reference transform: mirror (optional), then move by (dx, dy) with zero fill. */
  function moved(img: Float32Array, flip: boolean, dx: number, dy: number): Float32Array {
    const out = new Float32Array(IMAGE);
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        const sy = y - dy;
        const sx0 = x - dx;
        if (sy < 0 || sy >= 64 || sx0 < 0 || sx0 >= 64) continue;
        const sx = flip ? 63 - sx0 : sx0;
        for (let c = 0; c < 3; c++) out[(y * 64 + x) * 3 + c] = img[(sy * 64 + sx) * 3 + c];
      }
    }
    return out;
  }

  const equal = (a: Float32Array, b: Float32Array) => a.every((v, k) => v === b[k]);

  /** Finds the (flip, dx, dy) within reach that explains each augmented image, or fails. */
  function explain(aug: Float32Array, reach: number, flips: boolean[]): { flip: boolean; dx: number; dy: number }[] {
    const found = [];
    for (let i = 0; i < 32; i++) {
      const src = originals.subarray(i * IMAGE, (i + 1) * IMAGE);
      const got = aug.subarray(i * IMAGE, (i + 1) * IMAGE);
      let match: { flip: boolean; dx: number; dy: number } | undefined;
      for (const flip of flips) {
        for (let dy = -reach; dy <= reach && !match; dy++) {
          for (let dx = -reach; dx <= reach && !match; dx++) {
            if (equal(moved(src, flip, dx, dy), got)) match = { flip, dx, dy };
          }
        }
      }
      assert.ok(match, `image ${i} is not a move within ${reach} pixels`);
      found.push(match);
    }
    return found;
  }

  test('flip is exactly a left-right mirror, applied to some images and not others', async () => {
    const aug = await augmented({ flip: true });
    let flipped = 0;
    for (let i = 0; i < 32; i++) {
      const src = originals.subarray(i * IMAGE, (i + 1) * IMAGE);
      const got = aug.subarray(i * IMAGE, (i + 1) * IMAGE);
      const mirror = moved(src, true, 0, 0);
      assert.ok(equal(got, src) || equal(got, mirror), `image ${i} is itself or its mirror`);
      if (!equal(got, src)) flipped++;
    }
    assert.ok(flipped > 0 && flipped < 32, `${flipped} of 32 flipped`);
  });

  test('shift moves each image by whole pixels within the fraction, zero-filled', async () => {
    const aug = await augmented({ shift: 0.1 });
    const moves = explain(aug, 6, [false]);
    assert.ok(moves.some((m) => m.dx !== 0 || m.dy !== 0), 'some image moved');
    assert.ok(!equal(aug, originals));
  });

  test('crop of the 4-pixel zero padding is a move of at most 4 pixels; flags combine', async () => {
    const crop = explain(await augmented({ crop: true }, 5), 4, [false]);
    assert.ok(crop.some((m) => m.dx !== 0 || m.dy !== 0));
    const all = explain(await augmented({ crop: true, flip: true, shift: 0.05 }, 5), 4 + 3, [false, true]);
    assert.ok(all.some((m) => m.flip) && all.some((m) => !m.flip));
  });

  test('augmentation is seeded: same seed and epoch repeat, another epoch differs', async () => {
    const opts = { flip: true, shift: 0.1 };
    const a = await augmented(opts, 9, 2);
    assert.ok(equal(a, await augmented(opts, 9, 2)));
    assert.ok(!equal(a, await augmented(opts, 9, 3)));
  });
});
