/**
 * The README's recipe for loading a saved model without this package: examples/load-with-plain-tfjs.mjs, run as a
 * user would run it (its own Node process, plain @tensorflow/tfjs only), prints the same class probabilities, under
 * the class names, as the model it was saved from gives on the tfjs cpu backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { buildResNet } from '../src/model/index.js';
import { saveModel } from '../src/train/index.js';
import { REPO_ROOT } from './train-fixtures.js';

tf.env().set('IS_TEST', true);

const example = path.join(REPO_ROOT, 'examples', 'load-with-plain-tfjs.mjs');

test('examples/load-with-plain-tfjs.mjs loads a saved ResNet with plain tfjs and prints its predictions by class name', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'resnet-example-'));
  try {
    await tf.setBackend('cpu');
    const classes = ['fist', 'one', 'two'];
    const model = buildResNet('resnet18', { inputShape: [40, 40, 3], classes: classes.length, widthDivisor: 32 });
    const dir = path.join(root, 'my-model');
    await saveModel(model, dir, { classes });
    const expected = tf.tidy(() => model.predict(tf.fill([1, 40, 40, 3], 0.5)) as tf.Tensor).dataSync();
    model.dispose();

    const { stdout } = await promisify(execFile)(process.execPath, [example, dir], { cwd: REPO_ROOT });
    const rows = stdout.trim().split('\n').map((line) => line.split('\t'));
    assert.deepEqual(rows.map(([name]) => name), classes);
    rows.forEach(([, p], i) => assert.ok(Math.abs(Number(p) - expected[i]) < 1e-5, `${classes[i]}: ${p} vs ${expected[i]}`));
    assert.ok(Math.abs(rows.reduce((s, [, p]) => s + Number(p), 0) - 1) < 1e-5);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
