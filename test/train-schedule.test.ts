/**
 * Learning-rate schedules: `learningRateAt` against values worked out by hand; `setLearningRate` changing the step
 * an optimizer takes (on the test backend, so the onednn Adam override is covered); a cosine run whose optimizer sees
 * the scheduled rate at every step and whose log records each epoch's first rate; a run interrupted after epoch 1 and
 * resumed that follows the same curve and ends with the same weights; the CLI's `--lr-schedule`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { learningRateAt, readState, scheduleChangeNote, setLearningRate, train, type TrainOptions } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import {
  SIGNS_TRAIN, TEST_BACKEND, TINY_INPUT, cosineRate, maxDifference, memoryDataset, recordingReporter, recordingStepRates, stoppingReporter, tempDir,
  tinyResNet, trainReleased, weightsOf,
} from './train-fixtures.js';

/** Asserts |a - b| <= tol * max(|b|, 1e-12). */
function assertClose(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-12), `${what}: ${a} vs ${b}`);
}

test('learningRateAt: constant, and cosine at the start, a quarter, the middle and the end', () => {
  for (const t of [0, 1, 5, 8]) assert.equal(learningRateAt('constant', 0.01, t, 8), 0.01);
  assert.equal(learningRateAt('cosine', 0.01, 0, 8), 0.01);
  // cos(pi/4) = sqrt(2)/2: 0.01 * 0.5 * (1 + 0.70710678) = 0.0085355339.
  assertClose(learningRateAt('cosine', 0.01, 2, 8), 0.0085355339, 1e-8, 't = T/4');
  assertClose(learningRateAt('cosine', 0.01, 4, 8), 0.005, 1e-12, 't = T/2');
  // cos(3 pi/4) = -sqrt(2)/2: 0.01 * 0.5 * (1 - 0.70710678) = 0.0014644661.
  assertClose(learningRateAt('cosine', 0.01, 6, 8), 0.0014644661, 1e-7, 't = 3T/4');
  assert.ok(Math.abs(learningRateAt('cosine', 0.01, 8, 8)) < 1e-18, 't = T gives 0');
  // Decreasing step by step.
  const rates = Array.from({ length: 9 }, (_, t) => learningRateAt('cosine', 3e-4, t, 8));
  rates.slice(1).forEach((r, i) => assert.ok(r < rates[i], `step ${i + 1}`));
});

test('learningRateAt: bad inputs are refused', () => {
  assert.throws(() => learningRateAt('linear' as never, 0.01, 0, 8), /unknown learning-rate schedule 'linear' \(known: constant, cosine\)/);
  assert.throws(() => learningRateAt('cosine', 0, 0, 8), /learning rate must be a positive number, got 0/);
  assert.throws(() => learningRateAt('cosine', NaN, 0, 8), /learning rate must be a positive number/);
  assert.throws(() => learningRateAt('cosine', 0.01, 0, 0), /total steps must be a positive whole number, got 0/);
  assert.throws(() => learningRateAt('cosine', 0.01, 0, 2.5), /total steps must be a positive whole number/);
  assert.throws(() => learningRateAt('cosine', 0.01, -1, 8), /step must be a whole number in \[0, 8\], got -1/);
  assert.throws(() => learningRateAt('cosine', 0.01, 9, 8), /step must be a whole number in \[0, 8\], got 9/);
  assert.throws(() => learningRateAt('constant', 0.01, 1.5, 8), /step must be a whole number/);
});

test('scheduleChangeNote: a resumed run says where its rate jumps, and only then', () => {
  const resumed = (args: Record<string, unknown>) => ({ epoch: 1, args });
  const cosine2 = { epochs: 2, lr: 0.01, lrSchedule: 'cosine' };
  // 3 steps an epoch, resuming at step 3. Stored: cosine over T = 6 steps, 0.01 * 0.5 * (1 + cos(pi / 2)) = 0.005.
  // Asked: T = 12, 0.01 * 0.5 * (1 + cos(pi / 4)) = 0.0085355.
  assert.equal(
    scheduleChangeNote(resumed(cosine2), { epochs: 4, lr: 0.01, lrSchedule: 'cosine' }, 3),
    'note: the learning rate jumps from 0.005 to 0.008536 at epoch 2 (epochs 2 -> 4)',
  );
  // The same settings, or more epochs at a constant rate: no jump, no note.
  assert.equal(scheduleChangeNote(resumed(cosine2), { epochs: 2, lr: 0.01, lrSchedule: 'cosine' }, 3), undefined);
  assert.equal(scheduleChangeNote(resumed({ epochs: 2, lr: 0.01, lrSchedule: 'constant' }), { epochs: 5, lr: 0.01, lrSchedule: 'constant' }, 3), undefined);
  // A new base rate, and a new schedule (constant 0.01 -> cosine at step 3 of 6: 0.005).
  assert.equal(
    scheduleChangeNote(resumed({ epochs: 2, lr: 0.01, lrSchedule: 'constant' }), { epochs: 2, lr: 0.02, lrSchedule: 'constant' }, 3),
    'note: the learning rate jumps from 0.01 to 0.02 at epoch 2 (lr 0.01 -> 0.02)',
  );
  assert.equal(
    scheduleChangeNote(resumed({ epochs: 2, lr: 0.01, lrSchedule: 'constant' }), { epochs: 2, lr: 0.01, lrSchedule: 'cosine' }, 3),
    'note: the learning rate jumps from 0.01 to 0.005 at epoch 2 (schedule constant -> cosine)',
  );
  // Nothing left to train, or stored arguments that do not say: no note.
  assert.equal(scheduleChangeNote({ epoch: 2, args: cosine2 }, { epochs: 2, lr: 0.02, lrSchedule: 'cosine' }, 3), undefined);
  assert.equal(scheduleChangeNote(resumed({}), { epochs: 4, lr: 0.01, lrSchedule: 'cosine' }, 3), undefined);
});

test('setLearningRate: the next step of SGD, Adam and RMSProp uses the new rate', async () => {
  await initBackend(TEST_BACKEND);
  // One step from w = 1 with gradient g = 0.5, learning rate 0.01 set after creation with 0.5:
  // SGD: w - lr g = 0.995. Adam's first step: m^ = g, v^ = g^2, w - lr g / (|g| + 1e-7) ~= 0.99.
  // RMSProp (decay 0.9, no momentum): ms = 0.1 g^2, w - lr g / sqrt(ms + 1e-7) ~= 1 - 0.01 * sqrt(10) = 0.968377.
  const cases: [string, tf.Optimizer, number][] = [
    ['sgd', tf.train.sgd(0.5), 0.995],
    ['adam', tf.train.adam(0.5, 0.9, 0.999, 1e-7), 0.99],
    ['rmsprop', tf.train.rmsprop(0.5, 0.9, 0, 1e-7), 1 - 0.01 * Math.sqrt(10)],
  ];
  for (const [name, opt, expected] of cases) {
    // 64 elements, so the onednn Adam kernel (not its tensor-op fallback) takes the update.
    const w = tf.variable(tf.ones([64]), true, `w_${name}`);
    try {
      setLearningRate(opt, 0.01);
      opt.applyGradients({ [w.name]: tf.fill([64], 0.5) });
      const got = await w.data();
      for (const v of got) assertClose(v, expected, 1e-5, name);
    } finally {
      opt.dispose();
      w.dispose();
    }
  }
});

const TRAIN = memoryDataset(24, TINY_INPUT, 3, 'train');
const VAL = memoryDataset(6, TINY_INPUT, 3, 'val');
const LR = 0.01;
/** 24 images in batches of 8: 3 steps an epoch, 6 in a 2-epoch run. */
const STEPS = 3;
const TOTAL = 6;

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    data: TRAIN,
    valData: VAL,
    buildModel: (shape, classes) => tinyResNet(shape, classes),
    batchSize: 8,
    lr: LR,
    lrSchedule: 'cosine',
    epochs: 2,
    out,
    backend: TEST_BACKEND,
    report: false,
    reporter: recordingReporter(),
    ...extra,
  };
}

/**
 * Runs `fn` while recording the learning rate of every AdamOptimizer step. Installed after the backend (whose Adam
 * override replaces applyGradients when it registers), so it wraps whichever applyGradients is in use.
 */
async function recordingAdamRates<T>(fn: () => Promise<T>): Promise<{ result: T; rates: number[] }> {
  await initBackend(TEST_BACKEND);
  return recordingStepRates(tf.AdamOptimizer.prototype, (o: { learningRate: number }) => o.learningRate, fn);
}

/** The cosine schedule's rate at step `t` of this file's 2-epoch runs. */
const cosine = (t: number): number => cosineRate(LR, t, TOTAL);

test('train: with cosine the optimizer steps at the scheduled rate, the log has each epoch\'s first rate; resume continues the curve', async () => {
  const straight = tempDir();
  const split = tempDir();
  try {
    const a = await recordingAdamRates(() => train(options(straight.dir)));
    let expectedWeights: Float32Array[];
    try {
      assert.equal(a.rates.length, TOTAL, 'one recorded rate per step');
      a.rates.forEach((r, t) => assertClose(r, cosine(t), 1e-12, `step ${t}`));
      // Epoch 1 starts at lr; epoch 2 at t = 3 = T/2: lr/2.
      assert.deepEqual(a.result.state.history.map((h) => h.epoch), [1, 2]);
      assert.equal(a.result.state.history[0].lr, LR);
      assertClose(a.result.state.history[1].lr, LR / 2, 1e-12, 'epoch 2 lr');
      const csv = readFileSync(join(straight.dir, 'log.csv'), 'utf8').trim().split('\n');
      const lrColumn = csv[0].split(',').indexOf('lr');
      assert.deepEqual(csv.slice(1).map((l) => Number(l.split(',')[lrColumn])), [LR, a.result.state.history[1].lr]);
      const state = await readState(join(straight.dir, 'checkpoints', 'epoch-0002'));
      // Per-step values take one line per epoch in state.json.
      const stateText = readFileSync(join(straight.dir, 'checkpoints', 'epoch-0002', 'state.json'), 'utf8');
      const stepLines = stateText.split('\n').filter((l) => l.includes('"step_loss"'));
      assert.equal(stepLines.length, 2);
      for (const line of stepLines) assert.match(line, /"step_loss": \[[-\d.e, ]+\],?$/);
      assert.equal(state.args.lrSchedule, 'cosine', 'the schedule is stored with the run\'s arguments');
      expectedWeights = await weightsOf(a.result.model);
    } finally {
      a.result.optimizer.dispose();
      a.result.model.dispose();
    }

    // The same run, stopped (as by a crash) right after epoch 1's checkpoint, then resumed.
    await assert.rejects(train(options(split.dir, { reporter: stoppingReporter() })), /stopped after epoch 1/);
    const b = await recordingAdamRates(() => train(options(split.dir, { resume: true })));
    try {
      assert.deepEqual(b.result.state.history.map((h) => h.epoch), [1, 2]);
      assert.equal(b.rates.length, STEPS, 'only epoch 2 is trained');
      b.rates.forEach((r, i) => assertClose(r, cosine(STEPS + i), 1e-12, `resumed step ${STEPS + i}`));
      assertClose(b.result.state.history[1].lr, LR / 2, 1e-12, 'resumed epoch 2 lr');
      const maxDiff = maxDifference(await weightsOf(b.result.model), expectedWeights);
      assert.ok(maxDiff < 1e-4, `largest weight difference from the uninterrupted run: ${maxDiff}`);
    } finally {
      b.result.optimizer.dispose();
      b.result.model.dispose();
    }
  } finally {
    straight.cleanup();
    split.cleanup();
  }
});

test('resume with another batch size: the cosine rate goes on from where the epochs left it (no jump, no note); with more epochs too, the note gives the rates the steps use', async () => {
  const jumps = (messages: string[]): string[] => messages.filter((m) => m.startsWith('note: the learning rate jumps'));
  const same = tempDir();
  const longer = tempDir();
  try {
    // Epoch 1 in batches of 8 (3 steps), stopped after its checkpoint; resumed in batches of 4 (6 steps an epoch).
    for (const { dir } of [same, longer]) await assert.rejects(train(options(dir, { reporter: stoppingReporter() })), /stopped after epoch 1/);

    // The same 2 epochs: epoch 2 starts at half the curve, lr / 2, as the uninterrupted run's epoch 2 does
    // (cosine(3) of 6 steps), and its 6 steps follow the curve over 2 epochs of 6 steps.
    const sameReporter = recordingReporter();
    const a = await recordingAdamRates(() => trainReleased(options(same.dir, { resume: true, batchSize: 4, reporter: sameReporter })));
    assert.equal(a.rates.length, 6);
    assertClose(a.rates[0], cosine(STEPS), 1e-12, 'first rate of epoch 2');
    a.rates.forEach((r, i) => assertClose(r, cosineRate(LR, 6 + i, 12), 1e-12, `step ${i} of epoch 2`));
    assert.deepEqual(jumps(sameReporter.messages), [], 'no jump, no note');

    // 3 epochs now: the stored settings would have gone on at lr / 2, the new ones at cos(pi / 3): 0.0075.
    const longerReporter = recordingReporter();
    const b = await recordingAdamRates(() => trainReleased(options(longer.dir, { resume: true, batchSize: 4, epochs: 3, reporter: longerReporter })));
    assert.equal(b.rates.length, 12);
    b.rates.forEach((r, i) => assertClose(r, cosineRate(LR, 6 + i, 18), 1e-12, `step ${i} of epochs 2-3`));
    assertClose(b.rates[0], 0.0075, 1e-12, 'first rate of epoch 2');
    assert.deepEqual(jumps(longerReporter.messages), ['note: the learning rate jumps from 0.005 to 0.0075 at epoch 2 (epochs 2 -> 3)']);
  } finally {
    same.cleanup();
    longer.cleanup();
  }
});

test('train: an unknown schedule is refused before anything is written', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    await assert.rejects(train(options(out, { lrSchedule: 'linear' as never })), /^Error: unknown learning-rate schedule 'linear' \(known: constant, cosine\)$/);
    assert.equal(existsSync(out), false);
  } finally {
    cleanup();
  }
});

test('train: the constant schedule keeps every step at lr', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { result, rates } = await recordingAdamRates(() => trainReleased(options(dir, { lrSchedule: undefined, epochs: 1 })));
    assert.deepEqual(rates, [LR, LR, LR]);
    assert.equal(result.state.history[0].lr, LR);
    assert.equal(result.state.args.lrSchedule, 'constant');
  } finally {
    cleanup();
  }
});

test('CLI: --lr-schedule cosine is logged and kept by --resume; an unknown schedule is a usage error', async () => {
  const bad = await runCaptured(['train', '--data', SIGNS_TRAIN, '--lr-schedule', 'linear']);
  assert.equal(bad.code, 2);
  assert.equal(bad.out, '');
  // One error line, as for every usage error.
  assert.deepEqual(bad.err.trim().split('\n'), ["resnet: --lr-schedule 'linear': allowed choices are constant, cosine (see resnet train --help)"]);

  const { dir, cleanup } = tempDir();
  const run = join(dir, 'run');
  const common = ['--input', '40,40,3', '--arch', 'resnet18', '--width-divisor', '32', '--backend', TEST_BACKEND,
    '--limit', '12', '--val-split', '0', '--batch-size', '6', '--out', run];
  try {
    const first = await runCaptured(['train', '--data', SIGNS_TRAIN, '--epochs', '1', '--lr', '0.002', '--lr-schedule', 'cosine', ...common]);
    assert.equal(first.code, 0, first.err);
    // Resumed without --lr-schedule (or --lr): both come from the run. Now 2 epochs of 2 steps, so epoch 2 starts at
    // t = 2 = T/2, at half the rate; the constant default would have kept 0.002.
    const second = await runCaptured(['train', '--epochs', '2', '--resume', ...common]);
    assert.equal(second.code, 0, second.err);
    const state = await readState(join(run, 'checkpoints', 'epoch-0002'));
    assert.equal(state.args.lrSchedule, 'cosine');
    assert.deepEqual(state.history.map((h) => h.lr), [0.002, 0.001]);
  } finally {
    cleanup();
  }
});
