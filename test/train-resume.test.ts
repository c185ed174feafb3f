/**
 * Resuming: a run interrupted after epoch 1 and resumed for epoch 2 ends exactly where an uninterrupted 2-epoch run
 * ends (model, optimizer state and epoch count restored; logs and per-step losses continued without duplicates); a
 * state from before per-step losses were recorded still resumes; the report names the optimizer settings and the batch
 * size of each stretch of epochs that a resume changed, old states included. Also early stopping,
 * checkpoint pruning, and the refusals: an existing run without `resume`, a resumed run at another input shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  RunFolderInUseError, type RunState, type TrainSegment, describeBatchSize, describeOptimizer, readState, train, trainSegments, type TrainOptions,
} from '../src/train/index.js';
import {
  TEST_BACKEND, TINY_INPUT, cosineRate, maxDifference, memoryDataset, recordingReporter, tempDir, tinyResNet, trainReleased, weightsOf,
} from './train-fixtures.js';

const TRAIN = memoryDataset(24, TINY_INPUT, 3, 'train');
const VAL = memoryDataset(6, TINY_INPUT, 3, 'val');

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    data: TRAIN,
    valData: VAL,
    buildModel: (shape, classes) => tinyResNet(shape, classes),
    batchSize: 8,
    lr: 0.01,
    preciseBn: 2,
    out,
    backend: TEST_BACKEND,
    report: false,
    reporter: recordingReporter(),
    ...extra,
  };
}

test('resume: 1 epoch + 1 resumed epoch equals 2 uninterrupted epochs; counters and logs continue', async () => {
  const straight = tempDir();
  const split = tempDir();
  try {
    const a = await train(options(straight.dir, { epochs: 2 }));
    const expected = await weightsOf(a.model);
    a.optimizer.dispose();
    a.model.dispose();

    const first = await train(options(split.dir, { epochs: 1 }));
    assert.equal(first.state.epoch, 1);
    const firstSteps = first.state.history[0].step_loss;
    assert.equal(firstSteps?.length, 3, 'one loss per step: 24 images in batches of 8');
    assert.equal(first.optimizer.iterations, 3);
    first.optimizer.dispose();
    first.model.dispose();

    const reporter = recordingReporter();
    const second = await train(options(split.dir, { epochs: 2, resume: true, reporter }));
    try {
      assert.ok(reporter.messages.some((m) => /resuming from .*epoch-0001 \(epoch 1 of 2\)/.test(m)), reporter.messages.join('\n'));
      assert.deepEqual(reporter.records.map((r) => r.epoch), [2], 'only epoch 2 is trained');
      assert.equal(second.state.epoch, 2);
      assert.equal(second.optimizer.iterations, 6, 'the optimizer step count continues from 3');
      assert.equal(second.state.iterations, 6);
      const state = await readState(join(split.dir, 'checkpoints', 'epoch-0002'));
      assert.equal(state.epoch, 2);
      assert.deepEqual(state.history.map((h) => h.epoch), [1, 2]);
      // The per-step losses of epoch 1 survive the resume; epoch 2 adds its own.
      assert.deepEqual(state.history[0].step_loss, firstSteps);
      assert.equal(state.history[1].step_loss?.length, 3);
      const stepsCsv = readFileSync(join(split.dir, 'steps.csv'), 'utf8').trim().split('\n').slice(1);
      assert.deepEqual(stepsCsv.map((l) => l.split(',').slice(0, 2).join(',')), ['1,1', '1,2', '1,3', '2,1', '2,2', '2,3']);

      const csv = readFileSync(join(split.dir, 'log.csv'), 'utf8').trim().split('\n').slice(1);
      assert.deepEqual(csv.map((l) => l.split(',')[0]), ['1', '2'], 'each epoch logged once');
      const json = JSON.parse(readFileSync(join(split.dir, 'log.json'), 'utf8'));
      assert.deepEqual(json.map((r: { epoch: number }) => r.epoch), [1, 2]);

      // Same data order, same weights, same Adam moments, same BatchNorm recalibration: the resumed run lands where
      // the straight one did.
      // (Had Adam's moments or step count been reset, the epoch-2 updates would differ by far more than this.)
      const got = await weightsOf(second.model);
      assert.equal(got.length, expected.length);
      const maxDiff = maxDifference(got, expected);
      assert.ok(maxDiff < 1e-4, `largest weight difference ${maxDiff}`);
      // The straight run's log holds the same epoch-1 metrics as the split run's.
      const straightLog = JSON.parse(readFileSync(join(straight.dir, 'log.json'), 'utf8'));
      assert.ok(Math.abs(straightLog[0].loss - json[0].loss) < 1e-6);
      // And the same per-step losses in both epochs (epoch 2 up to the tiny weight differences above).
      assert.deepEqual(straightLog[0].step_loss, json[0].step_loss);
      straightLog[1].step_loss.forEach((l: number, i: number) => assert.ok(Math.abs(l - json[1].step_loss[i]) < 1e-3, `epoch 2 step ${i + 1}`));
    } finally {
      second.optimizer.dispose();
      second.model.dispose();
    }

    // Resuming a finished run trains nothing more.
    const again = await train(options(split.dir, { epochs: 2, resume: true }));
    assert.equal(again.state.epoch, 2);
    assert.equal(again.optimizer.iterations, 6);
    again.optimizer.dispose();
    again.model.dispose();
  } finally {
    straight.cleanup();
    split.cleanup();
  }
});

test('resume: a run whose state.json predates per-step losses resumes; only the new epochs have them', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await trainReleased(options(dir, { epochs: 1 }));
    // Rewrite the checkpoint's state as an older version wrote it: no step_loss, no step_acc.
    const stateFile = join(dir, 'checkpoints', 'epoch-0001', 'state.json');
    const old = JSON.parse(readFileSync(stateFile, 'utf8'));
    for (const h of old.history) {
      delete h.step_loss;
      delete h.step_acc;
    }
    writeFileSync(stateFile, JSON.stringify(old, null, 2));

    const resumed = await trainReleased(options(dir, { epochs: 2, resume: true, report: true }));
    const { history } = resumed.state;
    assert.equal(history[0].step_loss, undefined);
    assert.equal(history[1].step_loss?.length, 3);
    const steps = readFileSync(join(dir, 'steps.csv'), 'utf8').trim().split('\n').slice(1);
    assert.deepEqual(steps.map((l) => l.split(',').slice(0, 2).join(',')), ['2,1', '2,2', '2,3']);
    assert.match(readFileSync(join(dir, 'report', 'curves.svg'), 'utf8'), />train \(per step\)</);
  } finally {
    cleanup();
  }
});

/** The line of a run's report.md that starts with `prefix`. */
function reportLine(dir: string, prefix: string): string | undefined {
  return readFileSync(join(dir, 'report', 'report.md'), 'utf8').split('\n').find((l) => l.startsWith(prefix));
}

/** The `- optimizer: …` line of a run's report.md. */
const optimizerLine = (dir: string): string | undefined => reportLine(dir, '- optimizer: ');

/** Trains (resuming) the run in `dir` with `extra` options and a report; returns its state. */
function resumer(dir: string): (extra: Partial<TrainOptions>) => Promise<RunState> {
  return async (extra) => (await trainReleased(options(dir, { resume: true, report: true, ...extra }))).state;
}

test('resume: the report names the optimizer settings of each stretch of epochs when a resume changed them', async () => {
  const { dir, cleanup } = tempDir();
  const run = resumer(dir);
  try {
    // Epochs 1-2 at lr 0.01, constant: one stretch, named without epochs.
    await run({ epochs: 2, lr: 0.01 });
    assert.equal(optimizerLine(dir), '- optimizer: adam (lr 0.01)');
    // Epoch 3 at 0.005: the learning rate column of log.csv shows the jump, and so does the report.
    await run({ epochs: 3, lr: 0.005 });
    const lrs = readFileSync(join(dir, 'log.csv'), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[7]));
    assert.deepEqual(lrs, [0.01, 0.01, 0.005]);
    assert.equal(optimizerLine(dir), '- optimizer: epochs 1-2: adam (lr 0.01); epoch 3: adam (lr 0.005)');
    // The same settings again (a constant rate does not depend on --epochs) continue the last stretch.
    await run({ epochs: 4, lr: 0.005 });
    assert.equal(optimizerLine(dir), '- optimizer: epochs 1-2: adam (lr 0.01); epochs 3-4: adam (lr 0.005)');
    // Cosine decay over 5 epochs from epoch 5: its first step's rate is 0.005 * (1 + cos(pi * 4/5)) / 2.
    const state = await run({ epochs: 5, lr: 0.005, lrSchedule: 'cosine' });
    assert.ok(Math.abs(state.history[4].lr - cosineRate(0.005, 4, 5)) < 1e-9);
    assert.equal(optimizerLine(dir), '- optimizer: epochs 1-2: adam (lr 0.01); epochs 3-4: adam (lr 0.005); epoch 5: adam (lr 0.005, cosine decay to 0 over 5 epochs)');
    // state.json keeps them, so the next resume (and its report) knows them too.
    const stored = (await readState(join(dir, 'checkpoints', 'epoch-0005'))) as RunState;
    assert.deepEqual(stored.segments?.map((g) => [g.fromEpoch, g.lr, g.lrSchedule]), [[1, 0.01, 'constant'], [3, 0.005, 'constant'], [5, 0.005, 'cosine']]);
  } finally {
    cleanup();
  }
});

test('resume: a state from before the settings were recorded stands for its epochs with its stored arguments', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await trainReleased(options(dir, { epochs: 1, lr: 0.01 }));
    const stateFile = join(dir, 'checkpoints', 'epoch-0001', 'state.json');
    const old = JSON.parse(readFileSync(stateFile, 'utf8'));
    assert.ok(Array.isArray(old.segments));
    delete old.segments;
    writeFileSync(stateFile, JSON.stringify(old, null, 2));
    assert.deepEqual(trainSegments(old), [{ fromEpoch: 1, optimizer: 'adam', lr: 0.01, lrSchedule: 'constant', epochs: 1, batchSize: 8 }]);

    await trainReleased(options(dir, { epochs: 2, lr: 0.002, resume: true, report: true }));
    assert.equal(optimizerLine(dir), '- optimizer: epoch 1: adam (lr 0.01); epoch 2: adam (lr 0.002)');
  } finally {
    cleanup();
  }
});

/** The `- batch size: …` line of a run's report.md. */
const batchSizeLine = (dir: string): string | undefined => reportLine(dir, '- batch size: ');

test('resume: a new batch size starts a stretch of its own, and the report gives each stretch\'s batch size', async () => {
  const { dir, cleanup } = tempDir();
  const run = resumer(dir);
  try {
    await run({ epochs: 2, batchSize: 8 });
    assert.equal(batchSizeLine(dir), '- batch size: 8');
    await run({ epochs: 3, batchSize: 8 });
    assert.equal(batchSizeLine(dir), '- batch size: 8', 'the same batch size continues the stretch');
    const state = await run({ epochs: 5, batchSize: 12 });
    assert.equal(batchSizeLine(dir), '- batch size: 8 (epochs 1-3), 12 (epochs 4-5)');
    assert.equal(optimizerLine(dir), '- optimizer: adam (lr 0.01)', 'the optimizer did not change: one stretch');
    // 24 images: 3 steps an epoch in batches of 8, 2 in batches of 12.
    assert.deepEqual(state.history.map((r) => r.step_loss?.length), [3, 3, 3, 2, 2]);
    const stored = (await readState(join(dir, 'checkpoints', 'epoch-0005'))) as RunState;
    assert.deepEqual(stored.segments?.map((g) => [g.fromEpoch, g.batchSize]), [[1, 8], [4, 12]]);

    // A state whose segments predate the batch size: they take its arguments' batch size.
    const stateFile = join(dir, 'checkpoints', 'epoch-0005', 'state.json');
    const old = JSON.parse(readFileSync(stateFile, 'utf8')) as RunState;
    for (const segment of old.segments ?? []) delete segment.batchSize;
    writeFileSync(stateFile, JSON.stringify(old, null, 2));
    assert.deepEqual(trainSegments(old).map((g) => [g.fromEpoch, g.batchSize]), [[1, 12], [4, 12]]);
    await run({ epochs: 6, batchSize: 6 });
    assert.equal(batchSizeLine(dir), '- batch size: 12 (epochs 1-5), 6 (epoch 6)');
  } finally {
    cleanup();
  }
});

test('describeBatchSize: one number, or each stretch\'s with its epochs; epochs before the first recorded one', () => {
  const at = (fromEpoch: number, batchSize: number | undefined, lr = 0.01): TrainSegment => ({ fromEpoch, optimizer: 'adam', lr, lrSchedule: 'constant', epochs: 6, batchSize });
  assert.equal(describeBatchSize([at(1, 32)], 6), '32');
  assert.equal(describeBatchSize([at(1, 32), at(4, 16)], 6), '32 (epochs 1-3), 16 (epochs 4-6)');
  assert.equal(describeBatchSize([at(1, 32), at(4, 16)], 3), '32', 'a stretch from epoch 4 has not begun at epoch 3');
  assert.equal(describeBatchSize([at(1, 32), at(3, 32, 0.1)], 6), '32', 'an lr change alone leaves one batch size');
  assert.equal(describeBatchSize([at(3, 32)], 4), 'not recorded (epochs 1-2), 32 (epochs 3-4)');
  assert.equal(describeBatchSize([at(1, undefined), at(2, 8)], 2), 'not recorded (epoch 1), 8 (epoch 2)');
  assert.equal(describeBatchSize([], 2), 'not recorded');
  // And the optimizer line does not split where only the batch size changed.
  assert.equal(describeOptimizer([at(1, 32), at(4, 16)], 6), 'adam (lr 0.01)');
});

test('describeOptimizer: stretches with their epochs; epochs before the first recorded one, and a stretch not yet begun', () => {
  const adam = (fromEpoch: number, lr: number): TrainSegment => ({ fromEpoch, optimizer: 'adam', lr, lrSchedule: 'constant', epochs: 9 });
  assert.equal(describeOptimizer([adam(1, 0.01)], 4), 'adam (lr 0.01)');
  assert.equal(describeOptimizer([adam(1, 0.01), adam(5, 0.1)], 4), 'adam (lr 0.01)', 'a stretch from epoch 5 has not begun at epoch 4');
  assert.equal(describeOptimizer([adam(3, 0.01)], 4), 'epochs 1-2: not recorded; epochs 3-4: adam (lr 0.01)');
  assert.equal(describeOptimizer([], 2), 'not recorded');
  assert.equal(
    describeOptimizer([adam(1, 0.01), { fromEpoch: 2, optimizer: 'sgd', lr: 0.1, lrSchedule: 'cosine', epochs: 9 }], 9),
    'epoch 1: adam (lr 0.01); epochs 2-9: sgd (lr 0.1, cosine decay to 0 over 9 epochs)',
  );
});

test('resume: refuses to start over an existing run, and a different input shape', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await trainReleased(options(dir, { epochs: 1 }));
    // Said in the option's name and the CLI's flag, for both callers.
    await assert.rejects(train(options(dir, { epochs: 2 })), (e: Error) => e instanceof RunFolderInUseError &&
      e.message === `${dir} already holds a training run (latest checkpoint epoch-0001): continue it with resume: true, or choose another run folder (out)`);
    await assert.rejects(
      train(options(dir, { epochs: 2, resume: true, widthDivisor: 2 })),
      (e: Error) => e.message === `widthDivisor mismatch: the checkpoint ${join(dir, 'checkpoints', 'epoch-0001')} has 1, the options ask for 2; a new run needs another run folder (out)`,
    );
    await assert.rejects(
      train(options(dir, { epochs: 2, resume: true, inputShape: [48, 48, 3] })),
      /^Error: input shape mismatch: the checkpoint .*epoch-0001 takes 40x40x3 images, the options ask for 48x48x3$/,
    );
    // A data set of another shape is refused too, naming it.
    await assert.rejects(
      train(options(dir, { epochs: 2, resume: true, data: memoryDataset(8, [44, 44, 3], 3, 'other') })),
      /input shape mismatch: the model takes 40x40x3 images, other gives 44x44x3/,
    );
    const tensorsBefore = tf.memory().numTensors;
    await assert.rejects(train(options(dir, { epochs: 2, resume: true, data: memoryDataset(8, TINY_INPUT, 4, 'four') })), /class count mismatch/);
    assert.equal(tf.memory().numTensors, tensorsBefore, 'a refused run frees its model');
  } finally {
    cleanup();
  }
});

test('early stopping: stops when the validation loss has not improved for `patience` epochs; pruning keeps the best', async () => {
  const { dir, cleanup } = tempDir();
  // A linear classifier trained with a learning rate far below float32 resolution: its weights, hence its validation
  // loss, never change, so no epoch after the first improves on it.
  const frozen = (shape: [number, number, number], classes: number): tf.LayersModel => {
    const input = tf.input({ shape });
    const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: classes, activation: 'softmax', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(flat);
    return tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
  };
  try {
    const reporter = recordingReporter();
    const r = await trainReleased(options(dir, { buildModel: frozen, optimizer: 'sgd', lr: 1e-20, epochs: 6, earlyStop: 2, keepCheckpoints: 1, reporter }));
    assert.equal(r.stoppedEarly, true);
    assert.equal(r.state.epoch, 3, 'epoch 1 is the best; epochs 2 and 3 do not improve; patience 2 stops after 3');
    assert.deepEqual(r.state.best, { monitor: 'val_loss', epoch: 1, value: r.state.history[0].val_loss });
    assert.ok(reporter.messages.some((m) => /^early stop: val_loss has not improved for 2 epochs/.test(m)));
    const ckpts = join(dir, 'checkpoints');
    assert.deepEqual(readdirSync(ckpts).sort(), ['best', 'epoch-0001', 'epoch-0003', 'latest']);
    assert.equal(readFileSync(join(ckpts, 'best'), 'utf8').trim(), 'epoch-0001');
  } finally {
    cleanup();
  }
});

test('resume: data of another size than the run trained on gets a note, and the state records the sizes', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const first = await trainReleased(options(dir, { epochs: 1 }));
    assert.deepEqual(first.state.images, { train: TRAIN.size, validation: VAL.size });
    // The same data: no note.
    const same = recordingReporter();
    await trainReleased(options(dir, { epochs: 2, resume: true, reporter: same }));
    assert.ok(!same.messages.some((m) => m.startsWith('note: the data')), same.messages.join('\n'));
    // Fewer training images now.
    const fewer = recordingReporter();
    const smaller = memoryDataset(TRAIN.size - 4, TINY_INPUT, 3, 'train');
    const third = await trainReleased(options(dir, { data: smaller, epochs: 3, resume: true, reporter: fewer }));
    assert.ok(
      fewer.messages.includes(`note: the data is not what the run trained on so far: ${TRAIN.size} training and ${VAL.size} validation images then, ` +
        `${TRAIN.size - 4} and ${VAL.size} now (validation results before and after this point do not compare)`),
      fewer.messages.join('\n'),
    );
    assert.deepEqual(third.state.images, { train: TRAIN.size - 4, validation: VAL.size });
  } finally {
    cleanup();
  }
});
