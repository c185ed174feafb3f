/**
 * The training workflow through the `resnet` CLI, as separate processes: a run killed with SIGKILL mid-epoch resumes
 * from its last checkpoint; evaluate and predict print tables and JSON; bad inputs give one-line errors and a non-zero
 * exit; an --out folder holding someone's files is refused; the demo runs on Fashion-MNIST.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend } from '../src/backend/index.js';
import { loadImages, openDataset } from '../src/data/index.js';
import { FASHION_MNIST_DIR, loadCheckpoint, loadModel, readState } from '../src/train/index.js';
import { CLI, SIGNS_TEST, SIGNS_TRAIN, TEST_BACKEND, tempDir } from './train-fixtures.js';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `resnet <args>` to completion. */
function resnet(args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The `resnet:` error lines of a run's stderr. */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('resnet: ') && !l.includes('onednn backend is not available'));
}

/** Asserts a failed run with exactly one error line matching `pattern`. */
function assertOneLineError(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
  const lines = errorLines(r.stderr);
  assert.equal(lines.length, 1, `one error line; stderr: ${r.stderr}`);
  assert.match(lines[0], pattern);
}

const { dir: work, cleanup } = tempDir('resnet-cli-train-');
const run = join(work, 'run');
const tiny = ['--input', '40,40,3', '--arch', 'resnet18', '--width-divisor', '32', '--backend', TEST_BACKEND];

test.after(cleanup);

test('train: SIGKILL during epoch 2, then --resume continues from the last checkpoint', async () => {
  // 240 images, batches of 8: 30 steps an epoch, so the kill lands inside epoch 2.
  const args = ['train', '--data', SIGNS_TRAIN, '--limit', '240', '--val-split', '0', '--batch-size', '8', '--epochs', '3', '--out', run, ...tiny];
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const killed = new Promise<NodeJS.Signals | null>((resolve) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // The epoch line is printed after the epoch's checkpoint is written: epoch 2 starts right after.
      if (/^epoch 1\/3 /m.test(stderr) && !child.killed) setTimeout(() => child.kill('SIGKILL'), 150);
    });
    child.on('exit', (_code, signal) => resolve(signal));
  });
  assert.equal(await killed, 'SIGKILL', `the run was killed, not finished; stderr: ${stderr}`);
  assert.doesNotMatch(stderr, /^epoch 2\/3 /m, 'killed before epoch 2 ended');

  const latest = readFileSync(join(run, 'checkpoints', 'latest'), 'utf8').trim();
  assert.equal(latest, 'epoch-0001');
  const { model, state } = await loadCheckpoint(join(run, 'checkpoints', latest));
  assert.equal(state.epoch, 1);
  assert.equal(state.iterations, 30);
  assert.equal(state.history[0].step_loss?.length, 30, 'one loss per step');
  model.dispose();

  // Resume with only --out and --resume: the other options come from the run.
  const r = resnet(['train', '--out', run, '--resume', '--backend', TEST_BACKEND]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^backend: \w+$/m);
  assert.ok(r.stderr.split('\n').includes(`run folder: ${run} (log.csv gets a line after each epoch)`), r.stderr);
  assert.ok(r.stderr.split('\n').includes('images: 240 training, no validation; 30 steps per epoch (batch size 8)'), r.stderr);
  assert.ok(r.stderr.split('\n').includes(`using the data stored with the run: --data ${SIGNS_TRAIN}`), r.stderr);
  assert.match(r.stderr, /resuming from .*epoch-0001 \(epoch 1 of 3\)/);
  assert.doesNotMatch(r.stderr, /^epoch 1\/3 /m, 'epoch 1 is not trained again');
  assert.match(r.stdout, /^epochs: 3$/m);
  const final = await readState(join(run, 'checkpoints', 'epoch-0003'));
  assert.equal(final.epoch, 3);
  assert.equal(final.iterations, 90, 'the optimizer step count continued: 3 epochs of 30 steps');
  assert.deepEqual(final.history[0].step_loss, state.history[0].step_loss, "epoch 1's step losses survive the kill and the resume");
  assert.deepEqual(final.history.map((h) => h.step_loss?.length), [30, 30, 30]);
  const csv = readFileSync(join(run, 'log.csv'), 'utf8').trim().split('\n').slice(1);
  assert.deepEqual(csv.map((l) => l.split(',')[0]), ['1', '2', '3']);
  // The resume kept the run's settings, so the report names them once, without epochs.
  assert.match(readFileSync(join(run, 'report', 'report.md'), 'utf8'), /^- optimizer: adam \(lr 0\.001\)$/m);
});

test('evaluate: text tables and --json on the run folder (its latest checkpoint)', async () => {
  const json = resnet(['evaluate', '--model', run, '--data', SIGNS_TEST, '--limit', '30', '--json', '--backend', TEST_BACKEND]);
  assert.equal(json.code, 0, json.stderr);
  const r = JSON.parse(json.stdout);
  assert.equal(r.count, 30);
  assert.deepEqual(r.classes, ['0', '1', '2', '3', '4', '5']);
  const cells: number[] = r.confusion.flat();
  assert.equal(cells.reduce((a, b) => a + b, 0), 30);
  const trace = r.confusion.reduce((a: number, row: number[], i: number) => a + row[i], 0);
  assert.equal(r.accuracy, trace / 30);
  assert.ok(Number.isFinite(r.loss) && r.loss > 0);
  assert.deepEqual(r.perClass.map((c: { support: number }) => c.support), r.confusion.map((row: number[]) => row.reduce((a, b) => a + b, 0)));

  const text = resnet(['evaluate', '--model', run, '--data', SIGNS_TEST, '--limit', '30', '--backend', TEST_BACKEND]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^accuracy: ${r.accuracy.toFixed(4)}$`, 'm'));
  assert.match(text.stdout, new RegExp(`^loss: ${r.loss.toFixed(4)}$`, 'm'));
  const lines = text.stdout.split('\n');
  const perClass = lines.slice(lines.findIndex((l) => /^class\s+precision\s+recall\s+support$/.test(l)), undefined).slice(0, 7);
  assert.equal(perClass.length, 7);
  assert.equal(new Set(perClass.map((l) => l.length)).size, 1, `aligned per-class table:\n${perClass.join('\n')}`);
  const start = lines.findIndex((l) => l.startsWith('true \\ predicted'));
  const matrix = lines.slice(start, start + 7);
  assert.equal(new Set(matrix.map((l) => l.length)).size, 1, `aligned confusion matrix:\n${matrix.join('\n')}`);
  matrix.slice(1).forEach((l, i) => assert.deepEqual(l.trim().split(/\s+/).slice(1).map(Number), r.confusion[i]));
});

test('predict: top-k classes with probabilities, as text and --json, matching the model', async () => {
  await initBackend(TEST_BACKEND);
  const { train: test2 } = await openDataset(SIGNS_TEST, { limit: 2 });
  const files: string[] = [];
  for await (const { xs, ys } of test2.batches({ batchSize: 2 })) {
    const bytes = await tf.tidy(() => xs.mul(255).round().toInt()).data();
    for (let i = 0; i < 2; i++) {
      const file = join(work, `sign${i}.png`);
      await sharp(Buffer.from(Uint8Array.from(bytes.subarray(i * 64 * 64 * 3, (i + 1) * 64 * 64 * 3))), { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(file);
      files.push(file);
    }
    tf.dispose([xs, ys]);
  }
  const json = resnet(['predict', '--model', run, '--top', '2', '--json', '--backend', TEST_BACKEND, ...files]);
  assert.equal(json.code, 0, json.stderr);
  const preds = JSON.parse(json.stdout) as { file: string; top: { class: string; index: number; probability: number }[] }[];
  assert.deepEqual(preds.map((p) => p.file), files);

  // The same model and images in this process give the same top classes and probabilities.
  const model = await loadModel(join(run, 'checkpoints', 'epoch-0003'));
  const xs = await loadImages(files, [40, 40, 3]);
  const probs = (await (model.predict(xs) as tf.Tensor).array()) as number[][];
  preds.forEach((p, i) => {
    assert.equal(p.top.length, 2);
    const order = probs[i].map((v, k) => [v, k]).sort((a, b) => b[0] - a[0]);
    assert.deepEqual(p.top.map((t) => t.index), [order[0][1], order[1][1]]);
    p.top.forEach((t, j) => {
      assert.equal(t.class, String(t.index));
      assert.ok(Math.abs(t.probability - order[j][0]) < 1e-5);
    });
  });
  tf.dispose(xs);
  model.dispose();

  const text = resnet(['predict', '--model', run, '--top', '2', '--backend', TEST_BACKEND, ...files]);
  assert.equal(text.code, 0, text.stderr);
  assert.deepEqual(
    text.stdout.trim().split('\n'),
    preds.map((p) => `${p.file}: ${p.top.map((t) => `${t.class} (${t.probability.toFixed(3)})`).join(', ')}`),
  );
});

test('bad input: missing model, folder without model.json, not an image, shape mismatch, usage errors', () => {
  const missing = join(work, 'no-such-model');
  assertOneLineError(resnet(['evaluate', '--model', missing, '--data', SIGNS_TEST]), 1, new RegExp(`^resnet: ${missing}: no such model folder$`));
  assertOneLineError(resnet(['predict', '--model', work, join(work, 'sign0.png')]), 1, new RegExp(`^resnet: ${work}: no model\\.json in this folder`));

  const notImage = join(work, 'notes.png');
  writeFileSync(notImage, 'these are notes, not pixels\n');
  assertOneLineError(
    resnet(['predict', '--model', run, '--backend', TEST_BACKEND, join(work, 'sign0.png'), notImage]),
    1,
    new RegExp(`^resnet: ${notImage}: not an image`),
  );
  assertOneLineError(
    resnet(['train', '--out', run, '--resume', '--input', '48,48,3', '--backend', TEST_BACKEND]),
    1,
    /^resnet: input shape mismatch: the checkpoint .*epoch-0003 takes 40x40x3 images, the options ask for 48x48x3$/,
  );
  assertOneLineError(resnet(['train', '--data', SIGNS_TRAIN, '--resume']), 2, /^resnet: --resume needs --out/);
  // --resume without --data continues a run; where --out holds none, it says so (and creates nothing).
  const nowhere = join(work, 'no-such-run');
  assertOneLineError(
    resnet(['train', '--out', nowhere, '--resume', ...tiny]),
    2,
    new RegExp(`^resnet: ${nowhere}: no training run to resume \\(no such folder\\): check --out, or give --data to start a new run$`),
  );
  assert.equal(existsSync(nowhere), false);
  const emptyRun = join(work, 'empty-run');
  mkdirSync(emptyRun);
  assertOneLineError(resnet(['train', '--out', emptyRun, '--resume', ...tiny]), 2, new RegExp(`^resnet: ${emptyRun}: no training run to resume \\(no checkpoint in it\\)`));
  assert.deepEqual(readdirSync(emptyRun), []);
  assertOneLineError(resnet(['train', '--out', SIGNS_TRAIN, '--resume', ...tiny]), 2, /: no training run to resume \(not a folder\)/);
  assertOneLineError(
    resnet(['train', '--data', SIGNS_TRAIN, '--val-limit', '10', '--out', join(work, 'no-val-data'), ...tiny]),
    2,
    /^resnet: --val-limit needs --val-data, or a --data folder with a val\/ folder \(the validation part held out of --data is sized by --val-split\)$/,
  );
  // Early stopping watches the validation loss: without validation data it is refused, not silently ignored.
  const noVal = join(work, 'no-val');
  assertOneLineError(
    resnet(['train', '--data', SIGNS_TRAIN, '--val-split', '0', '--early-stop', '3', '--out', noVal, ...tiny]),
    2,
    /^resnet: --early-stop needs validation data: give --val-data, or a --val-split above 0 \(it watches the validation loss\)$/,
  );
  assert.equal(existsSync(noVal), false);
  assert.equal(resnet(['train', '--data', SIGNS_TRAIN, '--augment', 'rotate']).code, 2);
  // --limit picks from --data before the validation part is held out: the help says so.
  const help = resnet(['train', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout.replace(/\s+/g, ' '), /--limit <n> use only n images of --data \(class-balanced pick\); the --val-split part is held out of these n/);
  assert.equal(resnet(['train', '--data', SIGNS_TRAIN, '--lr', '-1']).code, 2);
  // An --out that holds a run is a usage error (exit 2), like any other occupied --out.
  assertOneLineError(resnet(['train', '--out', run, '--backend', TEST_BACKEND, '--data', SIGNS_TRAIN]), 2, /already holds a training run \(latest checkpoint epoch-\d+\): continue it with --resume, or choose another run folder \(--out\)$/);

  // Bad training data: one line naming the file, and no empty run folder left behind.
  const truncated = join(work, 'truncated.h5');
  writeFileSync(truncated, readFileSync(SIGNS_TRAIN).subarray(0, 5000));
  const fresh = join(work, 'never-trained');
  assertOneLineError(resnet(['train', '--data', truncated, '--out', fresh, ...tiny]), 1, new RegExp(`^resnet: ${truncated}: truncated HDF5 file`));
  assert.equal(existsSync(fresh), false, 'the run folder the failed run created is gone');
});

test('train and demo: an --out folder holding other files is refused with one line before the data is read, and left as it was', () => {
  const mine = join(work, 'my-folder');
  mkdirSync(mine);
  writeFileSync(join(mine, 'notes.txt'), 'my notes\n');
  writeFileSync(join(mine, 'log.csv'), 'my,own,log\n');
  const refusal = new RegExp(`^resnet: ${mine}: folder is not empty and is not a training run \\(holds log\\.csv, notes\\.txt\\): choose a new or empty run folder \\(--out\\)$`);
  // A bad --out: a usage error, exit 2 (as convert's), not a failure of training.
  assertOneLineError(resnet(['train', '--data', join(work, 'no-such-data.h5'), '--out', mine, ...tiny]), 2, refusal);
  // The demo continues a run in its --out, but refuses a folder that holds none.
  assertOneLineError(resnet(['demo', '--data', FASHION_MNIST_DIR, '--out', mine, ...tiny]), 2, refusal);
  assert.deepEqual(readdirSync(mine).sort(), ['log.csv', 'notes.txt']);
  assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'my notes\n');
  assert.equal(readFileSync(join(mine, 'log.csv'), 'utf8'), 'my,own,log\n');
});

test('train: a diverging run exits non-zero with one line and keeps its last good checkpoint', async () => {
  const before = readFileSync(join(run, 'checkpoints', 'epoch-0003', 'weights.bin'));
  const r = resnet(['train', '--out', run, '--resume', '--epochs', '4', '--lr', '1e30', '--backend', TEST_BACKEND]);
  assertOneLineError(r, 1, new RegExp(`^resnet: training diverged: loss is NaN at epoch 4 batch \\d+; last good checkpoint: ${join(run, 'checkpoints', 'epoch-0003')}$`));
  assert.equal(readFileSync(join(run, 'checkpoints', 'latest'), 'utf8').trim(), 'epoch-0003');
  assert.deepEqual(readFileSync(join(run, 'checkpoints', 'epoch-0003', 'weights.bin')), before);
  const ev = resnet(['evaluate', '--model', run, '--data', SIGNS_TEST, '--limit', '12', '--json', '--backend', TEST_BACKEND]);
  assert.equal(ev.code, 0, ev.stderr);
  assert.ok(Number.isFinite(JSON.parse(ev.stdout).loss));
});

test('train --resume: a run stored with --early-stop and no validation data (as runs before it needed some were) resumes without it, saying so', () => {
  // The SIGKILL test's run has no validation data (--val-split 0); give its latest state an --early-stop, then restore it.
  const stateFile = join(run, 'checkpoints', 'epoch-0003', 'state.json');
  const original = readFileSync(stateFile, 'utf8');
  const state = JSON.parse(original);
  writeFileSync(stateFile, JSON.stringify({ ...state, args: { ...state.args, earlyStop: 2 } }));
  try {
    const r = resnet(['train', '--out', run, '--resume', '--backend', TEST_BACKEND]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.split('\n').includes("note: the run's stored --early-stop 2 is dropped: the run has no validation data for it to watch"), r.stderr);
    assert.match(r.stderr, /epoch-0003 is at epoch 3 and --epochs is 3: nothing to train/);
    // Given on the command line, it is refused as for a new run.
    assertOneLineError(resnet(['train', '--out', run, '--resume', '--early-stop', '2', '--backend', TEST_BACKEND]), 2, /^resnet: --early-stop needs validation data/);
  } finally {
    writeFileSync(stateFile, original);
  }
});

test('demo: trains on Fashion-MNIST, evaluates on its test split and writes the report; the same command continues it; says how to get the data', () => {
  assertOneLineError(
    resnet(['demo', '--data', join(work, 'no-fashion'), '--out', join(work, 'demo-missing')]),
    1,
    /^resnet: Fashion-MNIST not found at .*no-fashion: install it with `sudo apt-get install dataset-fashion-mnist`/,
  );
  const out = join(work, 'demo');
  const r = resnet(['demo', '--data', FASHION_MNIST_DIR, '--epochs', '1', '--limit', '100', '--test-limit', '20', '--arch', 'resnet18', '--width-divisor', '32', '--out', out, '--backend', TEST_BACKEND]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^test: loss \d+\.\d{4} {2}accuracy \d\.\d{4} \(20 images\)$/m);
  assert.match(r.stdout, new RegExp(`^report: ${join(out, 'report', 'report.md')}$`, 'm'));
  const metrics = JSON.parse(readFileSync(join(out, 'report', 'metrics.json'), 'utf8'));
  assert.equal(metrics.evaluation.split, 'test');
  assert.equal(metrics.evaluation.count, 20);
  assert.deepEqual(metrics.classes, ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
  assert.ok(existsSync(join(out, 'report', 'confusion.png')) && existsSync(join(out, 'report', 'curves.png')));
  // The report names the optimizer as train's does: the demo's Adam at 3e-4, cosine over the run's epochs.
  const report = readFileSync(join(out, 'report', 'report.md'), 'utf8');
  assert.match(report, /^- optimizer: adam \(lr 0\.0003, cosine decay to 0 over 1 epoch\)$/m);
  assert.match(report, /^- batch size: 32$/m);

  // The same command with more epochs continues the demo's run in its folder.
  const more = resnet(['demo', '--data', FASHION_MNIST_DIR, '--epochs', '2', '--limit', '100', '--test-limit', '20', '--arch', 'resnet18', '--width-divisor', '32', '--out', out, '--backend', TEST_BACKEND]);
  assert.equal(more.code, 0, more.stderr);
  assert.match(more.stderr, /resuming from .*epoch-0001 \(epoch 1 of 2\)/);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'report', 'metrics.json'), 'utf8')).history.map((h: { epoch: number }) => h.epoch), [1, 2]);
  // --epochs 2 lengthened the cosine schedule: each stretch with its own.
  assert.match(
    readFileSync(join(out, 'report', 'report.md'), 'utf8'),
    /^- optimizer: epoch 1: adam \(lr 0\.0003, cosine decay to 0 over 1 epoch\); epoch 2: adam \(lr 0\.0003, cosine decay to 0 over 2 epochs\)$/m,
  );
});
