/**
 * The most confident mistakes of an evaluation (src/train/mistakes.ts): which images are kept, in what order, with
 * which pixels, checked against the model's own predictions computed in one batch; the grid they are drawn as; and
 * `resnet evaluate --report`, which writes them with the confusion matrix, and --json, which lists them without pixels.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';

import { initBackend } from '../src/backend/index.js';
import { openDataset } from '../src/data/index.js';
import { MistakeCollector, clip, clipStart, evaluateModel, imageGridSvg, imagesShown, mistakesSvg, saveModel, thumbnailOfPixels, type Mistake } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import { SIGNS_TEST, TEST_BACKEND, TINY_INPUT, memoryDataset, tempDir, tinyResNet } from './train-fixtures.js';

/** memoryDataset's pixel `j` of image `i` (its own formula), the value a kept mistake must carry. */
function memoryPixel(i: number, j: number, classes: number): number {
  return (i * 37 + j * 11 + (i % classes) * 53) % 256;
}

test('MistakeCollector keeps the most confident wrong predictions, most confident first, and reads images only for those', async () => {
  const collector = new MistakeCollector(2);
  const shape: [number, number, number] = [1, 2, 1];
  // Four rows of three classes: row 0 right, rows 1-3 wrong with confidences 0.6, 0.9, 0.5.
  const probs = Float32Array.from([0.7, 0.2, 0.1, 0.3, 0.6, 0.1, 0.05, 0.05, 0.9, 0.2, 0.3, 0.5]);
  const truth = [0, 0, 1, 0];
  let reads = 0;
  const images = Float32Array.from([0, 1, 0.5, 0.25, 1, 0, 0.2, 1.5]);
  await collector.add({ probs, classes: 3, truth, predicted: [0, 1, 2, 2], offset: 10, imageShape: shape, readImages: async () => (reads++, images) });
  assert.equal(reads, 1, 'the batch is read once');
  assert.deepEqual(collector.mistakes.map((m) => [m.index, m.truth, m.predicted]), [[12, 1, 2], [11, 0, 1]]);
  assert.deepEqual(collector.mistakes.map((m) => [m.confidence, m.truthProbability]), [[probs[8], probs[7]], [probs[4], probs[3]]]);
  // 0..1 to 8 bits, rounded.
  assert.deepEqual(Array.from(collector.mistakes[0].image.pixels), [255, 0]);
  assert.deepEqual(Array.from(collector.mistakes[1].image.pixels), [128, 64]);
  assert.deepEqual(collector.mistakes[0].image.shape, shape);

  // A batch with nothing more confident than the least kept: its images are never read.
  await collector.add({ probs: Float32Array.from([0.45, 0.55]), classes: 2, truth: [0], predicted: [1], offset: 20, imageShape: shape, readImages: async () => (reads++, images) });
  assert.equal(reads, 1);
  // One more confident: it takes the second place, the least confident leaves.
  await collector.add({ probs: Float32Array.from([0.2, 0.8]), classes: 2, truth: [0], predicted: [1], offset: 30, imageShape: [1, 1, 2], readImages: async () => (reads++, Float32Array.from([0, 1])) });
  assert.deepEqual(collector.mistakes.map((m) => m.index), [12, 30]);
  assert.equal(new MistakeCollector(0).keep, 0);
});

test("evaluateModel's mistakes are the model's most confident wrong predictions, across batches, with the images' pixels", async () => {
  await initBackend(TEST_BACKEND);
  const classes = 4;
  const n = 14;
  const data = memoryDataset(n, TINY_INPUT, classes);
  const model = tinyResNet(TINY_INPUT, classes);
  try {
    const result = await evaluateModel(model, data, 5, undefined, undefined, 3);
    // The same predictions in one batch, and the mistakes they imply.
    const all: tf.Tensor4D[] = [];
    for await (const { xs, ys } of data.batches({ batchSize: n })) {
      all.push(xs);
      ys.dispose();
    }
    const probs = tf.tidy(() => model.predict(all[0]) as tf.Tensor2D);
    const p = await probs.array();
    tf.dispose([...all, probs]);
    const wrong = p
      .map((row, i) => ({ i, predicted: row.indexOf(Math.max(...row)), confidence: Math.max(...row), truth: i % classes }))
      .filter((r) => r.predicted !== r.truth)
      .sort((a, b) => b.confidence - a.confidence);
    const errors = result.confusion.reduce((s, row, t) => s + row.reduce((m, c, k) => m + (k === t ? 0 : c), 0), 0);
    assert.equal(wrong.length, errors, 'the confusion matrix counts the same mistakes');
    assert.ok(wrong.length >= 3, `an untrained model makes mistakes: ${wrong.length}`);
    assert.deepEqual(result.mistakes.map((m) => m.index), wrong.slice(0, 3).map((r) => r.i));
    for (const m of result.mistakes) {
      const expected = wrong.find((r) => r.i === m.index)!;
      assert.equal(m.truth, expected.truth);
      assert.equal(m.predicted, expected.predicted);
      assert.ok(Math.abs(m.confidence - expected.confidence) < 1e-5, `${m.confidence} vs ${expected.confidence}`);
      assert.ok(Math.abs(m.truthProbability - p[m.index][m.truth]) < 1e-5);
      const size = TINY_INPUT[0] * TINY_INPUT[1] * TINY_INPUT[2];
      const pixels = Array.from({ length: size }, (_, j) => memoryPixel(m.index, j, classes));
      assert.deepEqual(Array.from(m.image.pixels), pixels, `the pixels of image ${m.index}`);
      assert.equal(m.source, `memory #${m.index}`, 'the source and the position in it');
    }
    const none = await evaluateModel(model, data, 5, undefined, undefined, 0);
    assert.deepEqual(none.mistakes, []);
    assert.deepEqual(none.confusion, result.confusion);
  } finally {
    model.dispose();
  }
});

test('the mistakes grid is an SVG with each image embedded and its classes named (escaped), which renders to PNG', async () => {
  const image = (value: number): Mistake['image'] => ({ pixels: new Uint8Array(4 * 4 * 3).fill(value), shape: [4, 4, 3] });
  const mistakes: Mistake[] = [
    { index: 7, truth: 0, predicted: 1, confidence: 0.97, truthProbability: 0.02, image: image(10) },
    { index: 3, source: 'photos/b&w/x.jpg', truth: 1, predicted: 0, confidence: 0.6, truthProbability: 0.4, image: image(200) },
  ];
  const svg = await mistakesSvg(mistakes, ['cats <small>', 'dogs & co'], 'The 2 mistakes');
  assert.equal((svg.match(/xlink:href="data:image\/png;base64,/g) ?? []).length, 2);
  assert.ok(svg.includes('true: cats &#60;small&#62; (2%)') || svg.includes('true: cats &#60;small&#62; (2.0%)'), svg);
  assert.ok(svg.includes('predicted: dogs &#38; co (97%)'));
  assert.ok(svg.includes('#7') && svg.includes('x.jpg'), 'each image says where it comes from');
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  const meta = await sharp(png).metadata();
  assert.ok((meta.width ?? 0) >= 2 * 160 && (meta.height ?? 0) >= 160, `${meta.width}x${meta.height}`);
});

test('resnet evaluate --report writes the report with the mistakes grid; --json lists the mistakes without pixels', async () => {
  const { dir, cleanup } = tempDir('resnet-mistakes-');
  const model = tinyResNet([64, 64, 3], 6);
  try {
    const saved = join(dir, 'model');
    await saveModel(model, saved);
    const report = join(dir, 'report');
    const r = await runCaptured(['evaluate', '--model', saved, '--data', SIGNS_TEST, '--limit', '24', '--backend', TEST_BACKEND, '--report', report, '--json']);
    assert.equal(r.code, 0, r.err);
    const result = JSON.parse(r.out) as { count: number; mistakes: Record<string, unknown>[]; confusion: number[][] };
    const errors = result.confusion.reduce((s, row, t) => s + row.reduce((m, c, k) => m + (k === t ? 0 : c), 0), 0);
    assert.equal(result.mistakes.length, Math.min(16, errors));
    assert.ok(result.mistakes.length > 0, 'an untrained model gets some of 24 images wrong');
    // Each names its row of the HDF5 file, which holds an image of its true class.
    const rows = await (await openDataset(SIGNS_TEST, { inputShape: [64, 64, 3] })).train.labels();
    for (const m of result.mistakes) {
      assert.deepEqual(Object.keys(m).sort(), ['confidence', 'index', 'predicted', 'source', 'truth', 'truthProbability']);
      const row = new RegExp(`^${SIGNS_TEST.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} #(\\d+)$`).exec(String(m.source));
      assert.ok(row !== null, String(m.source));
      assert.equal(rows[Number(row[1])], m.truth, `row ${row[1]} holds class ${String(m.truth)}`);
    }
    assert.match(r.err, new RegExp(`report: ${join(report, 'report.md').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    for (const file of ['report.md', 'confusion.png', 'mistakes.png', 'mistakes.svg', 'metrics.json']) assert.ok(existsSync(join(report, file)), file);
    const md = readFileSync(join(report, 'report.md'), 'utf8');
    assert.match(md, /!\[Most confident mistakes\]\(mistakes\.png\)/);
    const metrics = JSON.parse(readFileSync(join(report, 'metrics.json'), 'utf8')) as { evaluation: { mistakes: Record<string, unknown>[] } };
    assert.deepEqual(metrics.evaluation.mistakes, result.mistakes, 'metrics.json lists the same mistakes, without pixels');

    // A folder that holds anything but a report is not replaced.
    const taken = join(dir, 'taken');
    mkdirSync(taken);
    writeFileSync(join(taken, 'notes.txt'), 'mine');
    const refused = await runCaptured(['evaluate', '--model', saved, '--data', SIGNS_TEST, '--limit', '8', '--backend', TEST_BACKEND, '--report', taken]);
    assert.equal(refused.code, 2, refused.err);
    assert.equal(refused.err, `resnet: ${taken}: folder is not empty and is not an evaluation report (holds notes.txt); choose another --report\n`, 'one line, before any work');

    // Nor a run's training report (its curves would be lost).
    const training = join(dir, 'training-report');
    mkdirSync(training);
    for (const file of ['curves.png', 'curves.svg', 'report.md']) writeFileSync(join(training, file), file);
    const kept = await runCaptured(['evaluate', '--model', saved, '--data', SIGNS_TEST, '--limit', '8', '--backend', TEST_BACKEND, '--report', training]);
    assert.equal(kept.code, 2, kept.err);
    assert.equal(kept.err, `resnet: ${training}: folder is not empty and is not an evaluation report (holds curves.png, curves.svg); choose another --report\n`);
    assert.equal(readFileSync(join(training, 'curves.png'), 'utf8'), 'curves.png');

    // An evaluation report is replaced by the next one.
    const again = await runCaptured(['evaluate', '--model', saved, '--data', SIGNS_TEST, '--limit', '8', '--backend', TEST_BACKEND, '--report', report]);
    assert.equal(again.code, 0, again.err);
    assert.match(readFileSync(join(report, 'report.md'), 'utf8'), /\(test_signs\.h5, 8 images\)|8 images/);
    assert.equal(readFileSync(join(taken, 'notes.txt'), 'utf8'), 'mine');
  } finally {
    model.dispose();
    cleanup();
  }
});

test('mistakes in an image folder name their files', async () => {
  await initBackend(TEST_BACKEND);
  const { dir, cleanup } = tempDir('resnet-mistakes-folder-');
  const model = tinyResNet(TINY_INPUT, 3);
  try {
    const classes = ['a', 'b', 'c'];
    for (const [k, name] of classes.entries()) {
      mkdirSync(join(dir, name));
      for (let i = 0; i < 4; i++) {
        const raw = Buffer.alloc(20 * 20 * 3, (k * 80 + i * 17) % 256);
        await sharp(raw, { raw: { width: 20, height: 20, channels: 3 } }).png().toFile(join(dir, name, `${name}${i}.png`));
      }
    }
    const data = (await openDataset(dir, { inputShape: TINY_INPUT })).train;
    const result = await evaluateModel(model, data, 5);
    assert.ok(result.mistakes.length > 0, 'an untrained model makes mistakes');
    for (const m of result.mistakes) {
      const source = String(m.source);
      assert.ok(source.startsWith(join(dir, classes[m.truth]) + '/'), `${source} is in the folder of its class ${classes[m.truth]}`);
      assert.ok(existsSync(source), source);
    }
  } finally {
    model.dispose();
    cleanup();
  }
});

test('grid text: clipped by characters, never inside one; names keep their end; control characters cannot break the SVG', async () => {
  assert.equal(clip('abcdef', 4), 'abc…');
  assert.equal(clip('😀😀😀😀😀', 3), '😀😀…', 'an emoji is one character');
  assert.equal(clipStart('t10k-images-idx3-ubyte.gz #2022', 15), '…ubyte.gz #2022');
  assert.equal(clipStart('short.png', 12), 'short.png');
  assert.equal(imagesShown(1, 1), '1 image');
  assert.equal(imagesShown(3, 3), '3 images');
  assert.equal(imagesShown(64, 70), 'the first 64 of 70 images');
  const png = await thumbnailOfPixels(new Uint8Array(4 * 4).fill(90), [4, 4, 1]);
  const svg = imageGridSvg('bad\u0001title', [{ png, lines: [{ text: 'a\u0002b\uD800c <&>' }] }]);
  assert.ok(svg.includes('a\uFFFDb\uFFFDc &#60;&#38;&#62;'), 'control characters and a lone surrogate become U+FFFD');
  assert.ok(!/[\u0000-\u0008]/.test(svg));
  const meta = await sharp(Buffer.from(svg)).png().toBuffer().then((b) => sharp(b).metadata());
  assert.equal(meta.format, 'png', 'the SVG parses');
});
