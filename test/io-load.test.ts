/**
 * What `loadModel` (and so every command's `--model`) says about a path that is not a model: a file that is neither
 * JSON nor HDF5 (a photo, a text file) is "not a model", naming what a model path may be, and no byte of the file is
 * echoed; a real but broken model.json and a truncated Keras file keep their specific messages; a Keras HDF5 file
 * under another extension is recognised by its signature and loads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { saveKerasH5 } from '../src/io/keras_h5.js';
import { loadModel, saveModel } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import { savedKernelValue, tinyDenseModel } from './io-helpers.js';

tf.env().set('IS_TEST', true);

const root = mkdtempSync(path.join(tmpdir(), 'resnet-io-load-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

const NOT_A_MODEL = 'not a model (expected a model folder with model.json, a model.json file, a Keras .h5 or .hdf5 file or a training run folder)';

/** The message `loadModel(p)` rejects with. */
async function loadError(p: string): Promise<string> {
  try {
    (await loadModel(p)).dispose();
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`loadModel(${p}) loaded a model`);
}

/** Whether `text` is one line of printable ASCII (no raw bytes of a binary file). */
function isPrintableLine(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

test('loadModel: a file that is neither JSON nor HDF5 is "not a model", named as given, without its bytes', async () => {
  const png = path.join(root, 'a.png');
  await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toFile(png);
  assert.equal(await loadError(png), `${png}: ${NOT_A_MODEL}`);

  const text = path.join(root, 'notes.txt');
  writeFileSync(text, 'my notes\n');
  assert.equal(await loadError(text), `${text}: ${NOT_A_MODEL}`);
  // Pointer-like content outside a run's checkpoints/ folder is just a text file.
  const loose = path.join(root, 'best');
  writeFileSync(loose, 'epoch-0003\n');
  assert.equal(await loadError(loose), `${loose}: ${NOT_A_MODEL}`);

  // A relative path is named as typed.
  const cwd = process.cwd();
  try {
    process.chdir(root);
    assert.equal(await loadError('a.png'), `a.png: ${NOT_A_MODEL}`);
  } finally {
    process.chdir(cwd);
  }
});

test('predict and convert --model <a photo>: one printable line, exit 1', async () => {
  const png = path.join(root, 'photo.png');
  await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 0, g: 90, b: 200 } } }).png().toFile(png);
  const p = await runCaptured(['predict', '--model', png, png, '--backend', 'cpu']);
  assert.equal(p.code, 1);
  // predict says first which backend runs it.
  assert.equal(p.err, `backend: cpu\nresnet: ${png}: ${NOT_A_MODEL}\n`);
  const c = await runCaptured(['convert', '--model', png, '--out', path.join(root, 'never'), '--backend', 'cpu']);
  assert.equal(c.code, 1);
  assert.equal(c.err, `resnet: ${png}: ${NOT_A_MODEL}\n`);
});

test('a real but broken model.json keeps its specific message, and no raw byte of it is quoted', async () => {
  const dir = path.join(root, 'broken');
  mkdirSync(dir);
  const json = path.join(dir, 'model.json');
  writeFileSync(json, '{"modelTopology": ');
  const truncated = await loadError(dir);
  assert.ok(truncated.startsWith(`${json}: not a valid model.json: `), truncated);
  writeFileSync(json, '{"format": "layers-model"}');
  assert.equal(await loadError(dir), `${json}: not a TensorFlow.js layers model (no modelTopology)`);
  assert.equal(await loadError(json), `${json}: not a TensorFlow.js layers model (no modelTopology)`);

  // Binary bytes where the JSON should be: said, not shown.
  writeFileSync(json, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff]));
  assert.equal(await loadError(dir), `${json}: not a valid model.json: not UTF-8 text (binary data)`);
  // JSON that breaks off into control characters: the parse error's quote of the text shows them as '?'.
  writeFileSync(json, Buffer.from('{"modelTopology": \x01\x02\x1a}'));
  const control = await loadError(dir);
  assert.ok(control.startsWith(`${json}: not a valid model.json: `), control);
  assert.ok(isPrintableLine(control), control);
});

test('a Keras HDF5 file under another extension loads by its signature; a truncated one keeps its message', async () => {
  const model = tinyDenseModel(4);
  const h5 = path.join(root, 'model.h5');
  try {
    await saveKerasH5(model, h5);
  } finally {
    model.dispose();
  }
  const hdf5 = path.join(root, 'model.hdf5');
  copyFileSync(h5, hdf5);
  assert.equal(await savedKernelValue(hdf5), 4);

  const size = readFileSync(h5).length;
  for (const name of ['cut.h5', 'cut.hdf5']) {
    const cut = path.join(root, name);
    copyFileSync(h5, cut);
    truncateSync(cut, size - 100);
    const message = await loadError(cut);
    assert.ok(message.startsWith(`${cut}: truncated HDF5 file: ${size - 100} bytes`), message);
  }
});

test('a saved model folder and its model.json still load', async () => {
  const model = tinyDenseModel(5);
  const dir = path.join(root, 'saved');
  try {
    await saveModel(model, dir);
  } finally {
    model.dispose();
  }
  for (const p of [dir, path.join(dir, 'model.json')]) assert.equal(await savedKernelValue(p), 5);
});
