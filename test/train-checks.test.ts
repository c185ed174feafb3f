/**
 * What train and evaluate check before they run, and what a failed or empty run leaves: class names against the
 * model's and the training set's, the default BatchNorm recalibration, a resumed run with nothing left to train, and
 * no run folder left behind by a run that failed in its first epoch or while writing its first checkpoint; which existing
 * folders a new run accepts (empty ones, what an interrupted run left) and refuses (anything else, untouched);
 * loadModel's word on a run folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_PRECISE_BN, RunFolderInUseError, checkCompatible, evaluateModel, loadModel, train, type TrainOptions } from '../src/train/index.js';
import { TEST_BACKEND, TINY_INPUT, memoryDataset, recordingReporter, tempDir, tinyResNet, trainReleased } from './train-fixtures.js';

const TRAIN = memoryDataset(12, TINY_INPUT, 3, 'train');

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    data: TRAIN,
    buildModel: (shape, classes) => tinyResNet(shape, classes),
    batchSize: 6,
    epochs: 1,
    out,
    backend: TEST_BACKEND,
    report: false,
    reporter: recordingReporter(),
    ...extra,
  };
}

test('checkCompatible: a model that names its classes refuses data with other names', async () => {
  await initBackend(TEST_BACKEND);
  const model = tinyResNet(TINY_INPUT, 3);
  try {
    const data = memoryDataset(3, TINY_INPUT, 3, 'photos', ['cat', 'dog', 'bird']);
    checkCompatible(model, data); // no names in the model's metadata: only shape and count are checked
    model.setUserDefinedMetadata({ classes: ['blue', 'green', 'red'] });
    assert.throws(() => checkCompatible(model, data), /^Error: class mismatch: the model was trained on classes \[blue, green, red\], photos has \[cat, dog, bird\]$/);
    assert.throws(() => checkCompatible(model, memoryDataset(3, TINY_INPUT, 3, 'shuffled', ['green', 'blue', 'red'])), /class mismatch/);
    checkCompatible(model, memoryDataset(3, TINY_INPUT, 3, 'same', ['blue', 'green', 'red']));
  } finally {
    model.dispose();
  }
});

test('train: validation data with other class names is refused, and the run folder it created is gone', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    const val = memoryDataset(3, TINY_INPUT, 3, 'val', ['x', 'y', 'z']);
    await assert.rejects(
      train(options(out, { valData: val })),
      /^Error: class mismatch: val has classes that the training data train does not have: \[x, y, z\] \(it has \[class0, class1, class2\]\)$/,
    );
    assert.equal(existsSync(out), false);
  } finally {
    cleanup();
  }
});

test('evaluateModel: data holding some of a named model\'s classes is measured over all of them, labels matched by name', async () => {
  await initBackend(TEST_BACKEND);
  const model = tinyResNet(TINY_INPUT, 3);
  try {
    model.setUserDefinedMetadata({ classes: ['blue', 'green', 'red'] });
    // Labels 0, 1, 0, 1, ...: 'red' (the model's 2) and 'blue' (the model's 0); no 'green'.
    const data = memoryDataset(7, TINY_INPUT, 2, 'sub', ['red', 'blue']);
    const toModel = [2, 0];
    // Expected values from the model's raw predictions on the data's own batches, with the labels mapped by hand.
    const confusion = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
    let lossSum = 0;
    const labels = await data.labels();
    let i = 0;
    for await (const { xs, ys } of data.batches({ batchSize: 7 })) {
      const probs = tf.tidy(() => model.predict(xs) as tf.Tensor2D);
      const rows = (await probs.array()) as number[][];
      tf.dispose([xs, ys, probs]);
      for (const row of rows) {
        const t = toModel[labels[i++]];
        const p = row.indexOf(Math.max(...row));
        confusion[t][p]++;
        lossSum -= Math.log(row[t]);
      }
    }
    const before = tf.memory().numTensors;
    const r = await evaluateModel(model, data, 3);
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    assert.deepEqual(r.classes, ['blue', 'green', 'red']);
    assert.equal(r.count, 7);
    assert.deepEqual(r.confusion, confusion);
    assert.ok(Math.abs(r.loss - lossSum / 7) < 1e-5, `loss ${r.loss} vs ${lossSum / 7}`);
    assert.equal(r.accuracy, (confusion[0][0] + confusion[1][1] + confusion[2][2]) / 7);
    assert.deepEqual(r.perClass.map((m) => [m.name, m.support]), [['blue', 3], ['green', 0], ['red', 4]]);
    assert.equal(r.perClass[1].recall, null, 'no green image: no recall');

    // A class the model lacks is refused, naming it; a model without class names still needs the same count.
    await assert.rejects(
      evaluateModel(model, memoryDataset(2, TINY_INPUT, 2, 'photos', ['red', 'cat'])),
      /^Error: class mismatch: photos has a class that the model does not have: \[cat\] \(it has \[blue, green, red\]\)$/,
    );
    model.setUserDefinedMetadata({});
    await assert.rejects(evaluateModel(model, data), /^Error: class count mismatch: the model has 3 classes, sub has 2$/);
  } finally {
    model.dispose();
  }
});

test('train: validation data holding some of the training classes validates over all of them, matched by name', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // Validation images of class2 and class0 only (labels 0, 1, 0, 1: class2, class0, ...).
    const val = memoryDataset(4, TINY_INPUT, 2, 'val', ['class2', 'class0']);
    const r = await trainReleased(options(join(dir, 'run'), { valData: val, report: true }));
    const e = r.evaluation!;
    assert.deepEqual(e.classes, ['class0', 'class1', 'class2']);
    assert.deepEqual(e.perClass.map((m) => m.support), [2, 0, 2]);
    assert.deepEqual(e.confusion[1], [0, 0, 0]);
    assert.equal(e.count, 4);
    assert.equal(r.state.history[0].val_acc, e.accuracy);
  } finally {
    cleanup();
  }
});

test('train: a run that fails during its first epoch leaves no run folder, nor the parents it made (no logs before the first epoch)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    const reporter = recordingReporter();
    reporter.step = () => {
      throw new Error('failed at the first step');
    };
    await assert.rejects(train(options(out, { reporter })), /failed at the first step/);
    assert.equal(existsSync(out), false);
    // Parent folders it had to make go too; the ones that were there stay.
    const nested = join(dir, 'a', 'b', 'run');
    await assert.rejects(train(options(nested, { reporter })), /failed at the first step/);
    assert.equal(existsSync(join(dir, 'a')), false, 'a/ and a/b/ were made for the run: removed');
    mkdirSync(join(dir, 'a'));
    await assert.rejects(train(options(nested, { reporter })), /failed at the first step/);
    assert.deepEqual(readdirSync(dir), ['a']);
    assert.deepEqual(readdirSync(join(dir, 'a')), [], 'a/ was there before: kept, emptied of what the run made');
  } finally {
    cleanup();
  }
});

test('train: BatchNorm recalibration is on by default; resuming a finished run says there is nothing to train', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    const first = await trainReleased(options(out));
    assert.equal(DEFAULT_PRECISE_BN, 10);
    assert.equal(first.state.args.preciseBn, DEFAULT_PRECISE_BN);
    // loadModel takes a saved model, and says what to do with a run folder: give one of its pointer files, which it follows.
    const latest = join(out, 'checkpoints', 'latest');
    const best = join(out, 'checkpoints', 'best');
    await assert.rejects(loadModel(out), (e: Error) => e.message === `${out}: a training run folder, not a saved model: load ${latest} or ${best} (its latest or its best checkpoint)`);
    for (const pointer of [latest, best]) (await loadModel(pointer)).dispose();
    // A run folder without a complete checkpoint has nothing to point to.
    const unfinished = join(dir, 'unfinished');
    mkdirSync(join(unfinished, 'checkpoints'), { recursive: true });
    await assert.rejects(loadModel(unfinished), (e: Error) => e.message === `${unfinished}: a training run folder with no complete checkpoint yet, not a saved model`);
    const reporter = recordingReporter();
    const again = await trainReleased(options(out, { resume: true, reporter }));
    assert.equal(again.state.epoch, 1);
    assert.ok(
      reporter.messages.some((m) => /epoch-0001 is at epoch 1 and epochs is 1: nothing to train \(pass a larger one to go on\)$/.test(m)),
      reporter.messages.join('\n'),
    );
  } finally {
    cleanup();
  }
});

/** The names in `dir` and the bytes of each file (sub-folders listed as `name/` with their own content). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) for (const [k, v] of Object.entries(snapshot(path))) out[`${e.name}/${k}`] = v;
    else out[e.name] = readFileSync(path, 'latin1');
  }
  return out;
}

test('train: an existing folder holding other files is refused at once, new run or --resume, and left as it was', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'mine');
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'my notes\n');
    writeFileSync(join(out, 'log.csv'), 'my,own,log\n');
    const before = snapshot(out);
    // Missing data and a model builder that throws: the refusal comes before either is touched.
    const reporter = recordingReporter();
    const slow = options(out, {
      data: join(dir, 'no-such-data.h5'),
      buildModel: () => {
        throw new Error('the model was built');
      },
      reporter,
    });
    const refusal = `${out}: folder is not empty and is not a training run (holds log.csv, notes.txt): choose a new or empty run folder (out)`;
    await assert.rejects(train(slow), (e: Error) => e instanceof RunFolderInUseError && e.folder === out && e.message === refusal);
    assert.deepEqual(reporter.messages, [], 'refused before the backend message');
    // --resume too: there is no run to continue, and the run would write its logs over these files.
    await assert.rejects(train({ ...slow, resume: true }), (e: Error) => e.message === refusal);
    assert.deepEqual(snapshot(out), before, 'nothing deleted, overwritten or added');

    // A file named like one of the run's own is not a run either; nor is a checkpoints/ folder holding other things.
    const logOnly = join(dir, 'log-only');
    mkdirSync(logOnly);
    writeFileSync(join(logOnly, 'log.csv'), 'my,own,log\n');
    await assert.rejects(train(options(logOnly)), (e: Error) => e.message.startsWith(`${logOnly}: folder is not empty and is not a training run (holds log.csv)`));
    const others = join(dir, 'others');
    mkdirSync(join(others, 'checkpoints', 'epoch-0001'), { recursive: true });
    writeFileSync(join(others, 'checkpoints', 'model.pt'), 'weights');
    writeFileSync(join(others, 'checkpoints', 'epoch-0001', 'model.pt'), 'weights');
    writeFileSync(join(others, 'a.txt'), 'a');
    writeFileSync(join(others, 'b.txt'), 'b');
    writeFileSync(join(others, 'c.txt'), 'c');
    writeFileSync(join(others, 'd.txt'), 'd');
    const othersBefore = snapshot(others);
    await assert.rejects(train(options(others)), (e: Error) => e.message === `${others}: folder is not empty and is not a training run (holds a.txt, b.txt, c.txt and 2 more): choose a new or empty run folder (out)`);
    assert.deepEqual(snapshot(others), othersBefore, 'not even checkpoints/epoch-0001 (which a leftover run would lose) is removed');
    assert.equal(existsSync(join(others, 'checkpoints', 'epoch-0001', 'model.pt')), true);
  } finally {
    cleanup();
  }
});

test('train: an existing empty folder, and one left by a run killed while writing its first checkpoint, are accepted', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const a = await trainReleased(options(empty));
    assert.equal(a.state.epoch, 1);
    assert.ok(existsSync(join(empty, 'checkpoints', 'epoch-0001', 'state.json')));

    // What SIGKILL during the first checkpoint's write leaves: checkpoints/ holding only a temporary folder.
    const killed = join(dir, 'killed');
    const temp = join(killed, 'checkpoints', `.tmp-epoch-0001-4242-0a1b2c3d`);
    mkdirSync(temp, { recursive: true });
    writeFileSync(join(temp, 'weights.bin'), 'partial');
    const b = await trainReleased(options(killed));
    assert.equal(b.state.epoch, 1);
    assert.deepEqual(readdirSync(join(killed, 'checkpoints')).sort(), ['best', 'epoch-0001', 'latest'], 'the temporary is gone');
  } finally {
    cleanup();
  }
});

test('train: a run that fails writing its first checkpoint leaves an existing empty folder empty, and no folder it created', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const unsavable = (shape: [number, number, number], classes: number) => {
      const model = tinyResNet(shape, classes);
      model.save = () => Promise.reject(new Error('disk full'));
      return model;
    };
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await assert.rejects(train(options(empty, { buildModel: unsavable })), /^Error: disk full$/);
    assert.deepEqual(readdirSync(empty), [], 'no empty checkpoints/ left behind');
    const created = join(dir, 'created');
    await assert.rejects(train(options(created, { buildModel: unsavable })), /^Error: disk full$/);
    assert.equal(existsSync(created), false);
  } finally {
    cleanup();
  }
});
