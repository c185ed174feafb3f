/**
 * Which model `--model` means when it points into a training run: `resnet convert --checkpoint best` exports the run's
 * best checkpoint (as evaluate and predict load it), and a run's pointer file (`checkpoints/best`, `checkpoints/latest`)
 * given as the model path is followed to the checkpoint it names, by the CLI and by `loadModel`.
 *
 * The run folder is written by hand: two checkpoints of a tiny dense model whose weights are all 1 (epoch 1, the best)
 * and all 2 (epoch 2, the latest), so that what loads back says which checkpoint was taken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { isKerasH5Path } from '../src/io/keras_h5.js';
import { BEST_FILE, CHECKPOINTS_DIR, LATEST_FILE, STATE_JSON, loadModel, resolveModelDir, saveModel } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import { savedKernelValue, tinyDenseModel } from './io-helpers.js';

tf.env().set('IS_TEST', true);

const root = mkdtempSync(path.join(tmpdir(), 'resnet-cli-convert-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

/** A run folder `name` whose latest checkpoint is epoch 2 (kernel 2) and whose best is epoch 1 (kernel 1). */
async function runFolder(name: string): Promise<string> {
  const run = path.join(root, name);
  const checkpoints = path.join(run, CHECKPOINTS_DIR);
  for (const epoch of [1, 2]) {
    const dir = path.join(checkpoints, `epoch-000${epoch}`);
    const model = tinyDenseModel(epoch);
    try {
      await saveModel(model, dir, { classes: ['a', 'b'] });
    } finally {
      model.dispose();
    }
    writeFileSync(path.join(dir, STATE_JSON), JSON.stringify({ epoch }));
  }
  writeFileSync(path.join(checkpoints, LATEST_FILE), 'epoch-0002\n');
  writeFileSync(path.join(checkpoints, BEST_FILE), 'epoch-0001\n');
  return run;
}

test('convert --checkpoint best exports the run folder\'s best checkpoint; without it, its latest', async () => {
  const run = await runFolder('run-choice');
  const best = path.join(root, 'best-out');
  const r = await runCaptured(['convert', '--model', run, '--checkpoint', 'best', '--out', best, '--backend', 'cpu']);
  assert.equal(r.code, 0, r.err);
  assert.equal(await savedKernelValue(best), 1);

  const latest = path.join(root, 'latest-out');
  const l = await runCaptured(['convert', '--model', run, '--out', latest, '--backend', 'cpu']);
  assert.equal(l.code, 0, l.err);
  assert.equal(await savedKernelValue(latest), 2);

  const bestH5 = path.join(root, 'best.h5');
  const h = await runCaptured(['convert', '--model', run, '--checkpoint', 'best', '--out', bestH5, '--backend', 'cpu']);
  assert.equal(h.code, 0, h.err);
  assert.equal(await savedKernelValue(bestH5), 1);
});

test('a run\'s pointer file as --model is followed to the checkpoint it names (convert, resolveModelDir, loadModel)', async () => {
  const run = await runFolder('run-pointer');
  const checkpoints = path.join(run, CHECKPOINTS_DIR);
  const bestPointer = path.join(checkpoints, BEST_FILE);
  const latestPointer = path.join(checkpoints, LATEST_FILE);

  const out = path.join(root, 'pointer-out');
  const r = await runCaptured(['convert', '--model', bestPointer, '--out', out, '--backend', 'cpu']);
  assert.equal(r.code, 0, r.err);
  assert.equal(await savedKernelValue(out), 1);

  assert.equal(await resolveModelDir(bestPointer), path.join(checkpoints, 'epoch-0001'));
  assert.equal(await resolveModelDir(latestPointer), path.join(checkpoints, 'epoch-0002'));
  assert.equal(await savedKernelValue(bestPointer), 1);
  assert.equal(await savedKernelValue(latestPointer), 2);

  // A pointer naming a checkpoint that is gone: one line naming the pointer.
  writeFileSync(bestPointer, 'epoch-0009\n');
  await assert.rejects(loadModel(bestPointer), (e: Error) => e.message === `${bestPointer}: names epoch-0009, which is missing or incomplete`);
  const gone = await runCaptured(['convert', '--model', bestPointer, '--out', path.join(root, 'gone-out'), '--backend', 'cpu']);
  assert.equal(gone.code, 1);
  assert.equal(gone.err, `resnet: ${bestPointer}: names epoch-0009, which is missing or incomplete\n`);
});

test('--checkpoint for a --model that is not a training run folder is a one-line usage error (exit 2), nothing written', async () => {
  const run = await runFolder('run-usage');
  const checkpoints = path.join(run, CHECKPOINTS_DIR);
  const saved = path.join(checkpoints, 'epoch-0002');
  const h5 = path.join(root, 'usage.h5');
  const made = await runCaptured(['convert', '--model', saved, '--out', h5, '--backend', 'cpu']);
  assert.equal(made.code, 0, made.err);
  const out = path.join(root, 'usage-out');
  // A saved model folder, a model.json, a Keras file and a run's pointer file; best, and an explicit latest too.
  for (const model of [saved, path.join(saved, 'model.json'), h5, path.join(checkpoints, BEST_FILE)]) {
    for (const which of ['best', 'latest']) {
      const r = await runCaptured(['convert', '--model', model, '--checkpoint', which, '--out', out, '--backend', 'cpu']);
      assert.equal(r.code, 2, `${model} --checkpoint ${which}: ${r.err}`);
      assert.equal(r.err, `resnet: --checkpoint applies to training run folders, and ${model} is not one: leave --checkpoint out, or give the run folder as --model\n`);
      assert.equal(r.out, '');
      assert.ok(!existsSync(out));
    }
  }
  // predict, summary and plot refuse it the same way (one shared check).
  const image = path.join(root, 'usage.png');
  writeFileSync(image, await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer());
  const svg = path.join(root, 'usage.svg');
  for (const argv of [['predict', '--model', saved, '--checkpoint', 'best', image], ['summary', '--model', saved, '--checkpoint', 'best'], ['plot', '--model', saved, '--checkpoint', 'best', '--out', svg]]) {
    const r = await runCaptured([...argv, ...(argv[0] === 'predict' ? ['--backend', 'cpu'] : [])]);
    assert.equal(r.code, 2, `${argv[0]}: ${r.err}`);
    assert.equal(r.err, `resnet: --checkpoint applies to training run folders, and ${saved} is not one: leave --checkpoint out, or give the run folder as --model\n`);
    assert.equal(r.out, '');
  }
  assert.ok(!existsSync(svg));
  // The same model without --checkpoint converts; a missing --model is named by the loader, as without --checkpoint.
  const plain = await runCaptured(['convert', '--model', saved, '--out', out, '--backend', 'cpu']);
  assert.equal(plain.code, 0, plain.err);
  const missing = path.join(root, 'no-such-run');
  const m = await runCaptured(['convert', '--model', missing, '--checkpoint', 'best', '--out', path.join(root, 'x'), '--backend', 'cpu']);
  assert.equal(m.code, 1);
  assert.equal(m.err, `resnet: ${missing}: no such model folder\n`);
});

test('.hdf5 is a Keras HDF5 path as .h5 is: convert --out writes one file, and --model reads it back', async () => {
  const run = await runFolder('run-hdf5');
  for (const name of ['m.hdf5', 'M.HDF5']) {
    const file = path.join(root, name);
    const r = await runCaptured(['convert', '--model', run, '--out', file, '--backend', 'cpu']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `wrote ${file} (Keras 2 HDF5, 2 layers, 8 parameters)\n`);
    assert.ok(statSync(file).isFile(), `${name} is a file, not a tfjs model folder`);
    // An HDF5 file: its signature, as h5py and Keras check it.
    assert.deepEqual([...readFileSync(file).subarray(0, 8)], [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(await savedKernelValue(file), 2);
    // Back to a tfjs folder from the .hdf5 file.
    const back = path.join(root, `${name}-back`);
    const b = await runCaptured(['convert', '--model', file, '--out', back, '--backend', 'cpu']);
    assert.equal(b.code, 0, b.err);
    assert.equal(await savedKernelValue(back), 2);
  }
  assert.ok(isKerasH5Path('x.hdf5') && isKerasH5Path('x.H5') && !isKerasH5Path('x.hdf') && !isKerasH5Path('hdf5'));
});
