/**
 * The library's `predict()` and `predictEach()`, and `resnet predict`: the backend they run on, their results checked
 * against the model's own forward pass on tfjs's CPU kernels, and unreadable files among readable ones.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeBackendAvailable } from '../src/backend/index.js';
import { DataError, loadImages } from '../src/data/index.js';
import { buildResNet } from '../src/model/index.js';
import { loadModel, predict, predictEach, saveModel, type Prediction } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';

const SHAPE: [number, number, number] = [40, 40, 3];
const CLASSES = ['cat', 'dog', 'fox'];

/** `text` as a regular expression that matches it literally. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

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

/** Bad files beside the good ones: a JPEG cut short, a file of text named .png, and a file that is not there. */
async function badFiles(): Promise<{ corrupt: string; text: string; missing: string }> {
  const corrupt = join(dir, 'corrupt.jpg');
  const jpeg = await sharp(await readFile(images[0])).jpeg().toBuffer();
  await writeFile(corrupt, jpeg.subarray(0, 40)); // the JPEG signature, then nothing of the image
  const text = join(dir, 'notes.png');
  await writeFile(text, 'these are notes, not pixels\n');
  return { corrupt, text, missing: join(dir, 'no-such-photo.jpg') };
}

/** The top-k of each good image, from the unfolded model's forward pass on tfjs's cpu backend. */
async function expectedTop(files: string[], k: number): Promise<{ index: number; probability: number }[][]> {
  const previous = tf.getBackend();
  await initBackend('cpu');
  const model = await loadModel(modelDir);
  const xs = await loadImages(files, SHAPE);
  const probs = (await (model.predict(xs) as tf.Tensor).array()) as number[][];
  tf.dispose(xs);
  model.dispose();
  await initBackend(previous as 'cpu' | 'onednn');
  return probs.map((p) =>
    p
      .map((probability, index) => ({ index, probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, k),
  );
}

function assertMatches(predictions: Prediction[], expected: { index: number; probability: number }[][]): void {
  assert.equal(predictions.length, expected.length);
  predictions.forEach((p, i) => {
    assert.deepEqual(p.top.map((t) => t.index), expected[i].map((e) => e.index), p.file);
    p.top.forEach((t, j) => {
      assert.equal(t.class, CLASSES[t.index]);
      assert.ok(Math.abs(t.probability - expected[i][j].probability) < 1e-4, `${p.file}: ${t.probability} vs ${expected[i][j].probability}`);
    });
  });
}

test('predictEach() predicts every readable image and lists the unreadable ones with the problem', async () => {
  const { corrupt, text, missing } = await badFiles();
  const start = tf.memory().numTensors;
  // batchSize 2: one batch holds only bad files, one mixes both.
  const outcome = await predictEach({ model: modelDir, images: [images[0], corrupt, text, images[1], missing, images[2]], topK: 2, batchSize: 2 });
  assert.equal(tf.memory().numTensors, start, 'no tensors left behind');
  assert.deepEqual(outcome.predictions.map((p) => p.file), images);
  assertMatches(outcome.predictions, await expectedTop(images, 2));
  assert.deepEqual(outcome.failed.map((f) => f.file), [corrupt, text, missing]);
  assert.match(outcome.failed[0].error, /^cannot decode image: /);
  assert.equal(outcome.failed[1].error, 'not an image: its contents are not JPEG, PNG or WebP');
  assert.equal(outcome.failed[2].error, 'no such file');

  // Nothing readable: no predictions, every file listed.
  const none = await predictEach({ model: modelDir, images: [missing, corrupt] });
  assert.deepEqual(none.predictions, []);
  assert.deepEqual(none.failed.map((f) => f.file), [missing, corrupt]);
});

test('predict() still fails on the first unreadable file, naming it', async () => {
  const { corrupt } = await badFiles();
  await assert.rejects(predict({ model: modelDir, images: [images[0], corrupt, images[1]] }), (err: unknown) => {
    assert.ok(err instanceof DataError);
    assert.match(err.message, new RegExp(`^${escape(corrupt)}: cannot decode image: `));
    return true;
  });
  assertMatches(await predict({ model: modelDir, images, topK: 2 }), await expectedTop(images, 2));
});

/**
 * Runs `predict(options)` in a child process and returns its rejection's message. The child is killed after
 * `timeoutMs` and the test fails: a predict loop that never advances only awaits settled promises, so it would hang
 * this process for good, timers included.
 */
function predictRejectionInChild(options: object, timeoutMs = 30_000): Promise<string> {
  const train = new URL('../src/train/index.js', import.meta.url).href;
  const script = [
    `const { predict } = await import(${JSON.stringify(train)});`,
    'try { await predict(JSON.parse(process.argv[1])); console.log("resolved"); }',
    'catch (err) { console.log("rejected: " + err.message); }',
  ].join('\n');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(options)], { timeout: timeoutMs }, (err, stdout) => {
      if (err !== null) reject(new Error(`predict(${JSON.stringify(options)}) did not settle within ${timeoutMs} ms (${err.message})`));
      else resolve(stdout.trim());
    });
  });
}

test('predict() refuses a batchSize or topK that is not a positive whole number, at once', async () => {
  const base = { model: modelDir, images: images.slice(0, 1), backend: 'cpu' };
  assert.equal(await predictRejectionInChild({ ...base, batchSize: 0 }), 'rejected: batch size must be a positive whole number, got 0');
  assert.equal(await predictRejectionInChild({ ...base, topK: 0 }), 'rejected: topK must be a positive whole number, got 0');
  // In this process too: the checks come before the model is loaded, for every kind of bad number.
  for (const [opts, message] of [
    [{ batchSize: -1 }, 'batch size must be a positive whole number, got -1'],
    [{ batchSize: 2.5 }, 'batch size must be a positive whole number, got 2.5'],
    [{ topK: 1.5 }, 'topK must be a positive whole number, got 1.5'],
    [{ topK: Number.NaN }, 'topK must be a positive whole number, got NaN'],
  ] as const) {
    await assert.rejects(predict({ model: join(dir, 'no-such-model'), images, ...opts }), { message });
    await assert.rejects(predictEach({ model: join(dir, 'no-such-model'), images, ...opts }), { message });
  }
});

test('resnet predict: a corrupt file among good ones in a folder: every good image predicted, one line per bad file, exit 1', async () => {
  const { corrupt, text } = await badFiles();
  const folder = join(dir, 'photos');
  await mkdir(folder, { recursive: true });
  const inFolder = [join(folder, 'a.png'), join(folder, 'b.jpg'), join(folder, 'c.png'), join(folder, 'd.png')];
  await copyFile(images[0], inFolder[0]);
  await copyFile(corrupt, inFolder[1]);
  await copyFile(images[1], inFolder[2]);
  await copyFile(text, inFolder[3]);
  const good = [inFolder[0], inFolder[2]];
  const expected = await expectedTop(good, 2);

  const r = await runCaptured(['predict', '--model', modelDir, '--top', '2', folder]);
  assert.equal(r.code, 1, r.err);
  const lines = r.out.trim().split('\n');
  assert.equal(lines.length, 2, r.out);
  good.forEach((file, i) => {
    const names = expected[i].map((e) => CLASSES[e.index]);
    assert.match(lines[i], new RegExp(`^${escape(file)}: ${names[0]} \\(\\d\\.\\d{3}\\), ${names[1]} \\(\\d\\.\\d{3}\\)$`));
  });
  const errors = r.err.split('\n').filter((l) => l.startsWith('resnet: '));
  assert.equal(errors.length, 2, r.err);
  assert.match(errors[0], new RegExp(`^resnet: ${escape(inFolder[1])}: cannot decode image: `));
  assert.equal(errors[1], `resnet: ${inFolder[3]}: not an image: its contents are not JPEG, PNG or WebP`);

  // --json: still one valid JSON array, an entry per file in order, failures with their problem.
  const json = await runCaptured(['predict', '--model', modelDir, '--top', '2', '--json', folder]);
  assert.equal(json.code, 1, json.err);
  const entries = JSON.parse(json.out) as ({ file: string; top: { class: string; index: number; probability: number }[] } | { file: string; error: string })[];
  assert.deepEqual(entries.map((e) => e.file), inFolder);
  assertMatches([entries[0], entries[2]] as Prediction[], expected);
  assert.match((entries[1] as { error: string }).error, /^cannot decode image: /);
  assert.deepEqual(entries[3], { file: inFolder[3], error: 'not an image: its contents are not JPEG, PNG or WebP' });
  assert.equal(json.err.split('\n').filter((l) => l.startsWith('resnet: ')).length, 2, json.err);

  // All readable: exit 0, the JSON as before (an array of {file, top}).
  const ok = await runCaptured(['predict', '--model', modelDir, '--top', '2', '--json', ...good]);
  assert.equal(ok.code, 0, ok.err);
  const preds = JSON.parse(ok.out) as Prediction[];
  assert.deepEqual(preds.map((p) => Object.keys(p)), [['file', 'top'], ['file', 'top']]);
  assertMatches(preds, expected);
  assert.equal(ok.err.split('\n').filter((l) => l.startsWith('resnet: ')).length, 0, ok.err);
});

test('resnet predict --help says how images are resized: stretched whole to the model input, not cropped', async () => {
  const r = await runCaptured(['predict', '--help']);
  assert.equal(r.code, 0);
  assert.match(
    r.out.replace(/\s+/g, ' '),
    /Each image is stretched to the model's input size \(height x width\) as a whole: no crop, the aspect ratio is not kept, as Keras's image_dataset_from_directory does by default\./,
  );
});

test('resnet predict --sheet draws each image upright with its top classes and file name, as PNG or SVG', async () => {
  const expected = await expectedTop(images, 2);
  const svgPath = join(dir, 'sheet.svg');
  const r = await runCaptured(['predict', '--model', modelDir, '--top', '2', '--sheet', svgPath, ...images]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, new RegExp(`sheet: ${escape(svgPath)} \\(3 images\\)`));
  const svg = await readFile(svgPath, 'utf8');
  const embedded = [...svg.matchAll(/xlink:href="data:image\/png;base64,([^"]+)"/g)].map((m) => Buffer.from(m[1], 'base64'));
  assert.equal(embedded.length, 3);
  for (const [i, file] of images.entries()) {
    const names = expected[i].map((e) => CLASSES[e.index]);
    assert.match(svg, new RegExp(`>${names[0]} \\(\\d+(\\.\\d)?%\\)</text>\\s*<text[^>]*>${names[1]} \\(\\d+(\\.\\d)?%\\)</text>\\s*<text[^>]*>img${i}\\.png</text>`));
    // The thumbnail is the image enlarged 4x without smoothing: its pixel (80, 80) is the image's pixel (20, 20).
    const thumb = await sharp(embedded[i]).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([thumb.info.width, thumb.info.height], [160, 160]);
    const source = await sharp(file).raw().toBuffer();
    const at = (buf: Buffer, width: number, x: number, y: number): number[] => Array.from(buf.subarray((y * width + x) * 3, (y * width + x) * 3 + 3));
    assert.deepEqual(at(thumb.data, 160, 80, 80), at(source, 40, 20, 20), `the image of ${file}`);
  }

  const pngPath = join(dir, 'sheet.png');
  const png = await runCaptured(['predict', '--model', modelDir, '--sheet', pngPath, ...images]);
  assert.equal(png.code, 0, png.err);
  const meta = await sharp(pngPath).metadata();
  assert.equal(meta.format, 'png');
  assert.ok((meta.width ?? 0) >= 3 * 160, `three images side by side: ${meta.width}`);

  // One of the images themselves is refused before any work, and left as it was.
  const before = await readFile(images[0]);
  const clobber = await runCaptured(['predict', '--model', modelDir, '--sheet', images[0], ...images]);
  assert.equal(clobber.code, 2);
  assert.equal(clobber.err, `resnet: --sheet ${images[0]}: is one of the images to predict; write the sheet elsewhere\n`);
  assert.deepEqual(await readFile(images[0]), before);
  // So is a path under a file; a missing folder is made.
  const underFile = join(images[0], 'sheet.png');
  const notDir = await runCaptured(['predict', '--model', modelDir, '--sheet', underFile, ...images]);
  assert.equal(notDir.code, 2);
  assert.equal(notDir.err, `resnet: --sheet ${underFile}: ${images[0]} is a file, not a folder\n`);
  const nested = join(dir, 'new', 'folder', 'sheet.svg');
  const made = await runCaptured(['predict', '--model', modelDir, '--sheet', nested, images[0]]);
  assert.equal(made.code, 0, made.err);
  assert.match(made.err, new RegExp(`sheet: ${escape(nested)} \\(1 image\\)`));
  assert.match(await readFile(nested, 'utf8'), /^<svg /);

  // A file name with a control character still gives a valid sheet.
  const odd = join(dir, 'odd\u0001name.png');
  await copyFile(images[1], odd);
  const oddSheet = join(dir, 'odd.png');
  const withOdd = await runCaptured(['predict', '--model', modelDir, '--sheet', oddSheet, odd]);
  assert.equal(withOdd.code, 0, withOdd.err);
  assert.equal((await sharp(oddSheet).metadata()).format, 'png');

  // Another extension is a usage error, before any work; nothing is written.
  const bad = join(dir, 'sheet.jpg');
  const refused = await runCaptured(['predict', '--model', modelDir, '--sheet', bad, ...images]);
  assert.equal(refused.code, 2);
  assert.equal(refused.err, `resnet: --sheet ${bad}: give a .png or .svg file\n`);
  assert.equal(refused.out, '');
  await assert.rejects(readFile(bad), { code: 'ENOENT' });
});
