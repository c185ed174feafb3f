/**
 * SGD with momentum (`momentum`, `nesterov`): training steps on the test backend against tfjs's own MomentumOptimizer
 * on tfjs's CPU kernels, stepped by hand; a run stopped after epoch 1 and resumed that ends with the uninterrupted
 * run's weights and velocities; the cosine schedule setting the momentum optimizer's rate at each step; a resume that
 * adds momentum to plain SGD starting a new stretch; the refusals in `train` and the CLI, and `--resume` keeping
 * `--momentum` and `--nesterov`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { type RunState, type TrainOptions, describeOptimizer, readState, train } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import {
  SIGNS_TRAIN, TEST_BACKEND, TINY_INPUT, cosineRate, maxDifference, memoryDataset, recordingReporter, recordingStepRates, stoppingReporter, tempDir,
  tinyResNet, trainReleased, weightsOf,
} from './train-fixtures.js';

const TRAIN = memoryDataset(24, TINY_INPUT, 3, 'train');
const LR = 0.02;
const MOMENTUM = 0.9;
/** 24 images in batches of 8: 3 steps an epoch, 6 in a 2-epoch run. */
const STEPS = 3;
const TOTAL = 6;

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    data: TRAIN,
    buildModel: (shape, classes) => tinyResNet(shape, classes),
    batchSize: 8,
    optimizer: 'sgd',
    lr: LR,
    momentum: MOMENTUM,
    epochs: 2,
    preciseBn: 0,
    out,
    backend: TEST_BACKEND,
    report: false,
    reporter: recordingReporter(),
    ...extra,
  };
}

/** The cosine schedule's rate at step `t` of this file's 2-epoch runs. */
const cosine = (t: number): number => cosineRate(LR, t, TOTAL);

/**
 * The reference: `epochs` epochs of the same batches (same seed, same shuffles) on tfjs's CPU backend, the model
 * compiled with tfjs's own `tf.train.momentum`, its rate set by hand before each step. Returns the final weights.
 */
async function referenceRun(initial: Float32Array[], nesterov: boolean, lrOf: (step: number) => number, epochs: number): Promise<Float32Array[]> {
  await initBackend('cpu');
  const model = tinyResNet(TINY_INPUT, 3);
  const optimizer = tf.train.momentum(LR, MOMENTUM, nesterov);
  try {
    model.setWeights(model.getWeights().map((w, i) => tf.tensor(initial[i], w.shape)));
    model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    let step = 0;
    for (let epoch = 1; epoch <= epochs; epoch++) {
      for await (const { xs, ys } of TRAIN.batches({ batchSize: 8, shuffle: true, seed: 0, epoch })) {
        optimizer.setLearningRate(lrOf(step++));
        try {
          await model.trainOnBatch(xs, ys);
        } finally {
          tf.dispose([xs, ys]);
        }
      }
    }
    return await weightsOf(model);
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

for (const nesterov of [false, true]) {
  test(`momentum${nesterov ? ' (nesterov)' : ''}: 6 training steps with a cosine rate match tfjs's MomentumOptimizer on the cpu backend`, async () => {
    // The same initial weights for both: drawn once, then set into each backend's model.
    await initBackend('cpu');
    const init = tinyResNet(TINY_INPUT, 3);
    const initial = await weightsOf(init);
    init.dispose();
    const expected = await referenceRun(initial, nesterov, cosine, 2);

    const { dir, cleanup } = tempDir();
    try {
      const result = await train(
        options(dir, {
          nesterov,
          lrSchedule: 'cosine',
          buildModel: (shape, classes) => {
            const model = tinyResNet(shape, classes);
            model.setWeights(model.getWeights().map((w, i) => tf.tensor(initial[i], w.shape)));
            return model;
          },
        }),
      );
      try {
        assert.equal(result.optimizer.getClassName(), 'Momentum');
        assert.equal(result.optimizer.iterations, TOTAL);
        const got = await weightsOf(result.model);
        const diff = maxDifference(got, expected);
        assert.ok(diff < 1e-4, `${result.backend} vs cpu reference: largest weight difference ${diff}`);
        // The steps moved the weights well beyond that tolerance (the comparison is not of untrained weights).
        assert.ok(maxDifference(got, initial) > 1e-2, 'training changed the weights');
      } finally {
        result.optimizer.dispose();
        result.model.dispose();
      }
    } finally {
      cleanup();
      await initBackend(TEST_BACKEND);
    }
  });
}

test('momentum: the cosine schedule sets the optimizer\'s step rate before every step; log.csv has each epoch\'s first rate', async () => {
  await initBackend(TEST_BACKEND);
  const { dir, cleanup } = tempDir();
  try {
    // MomentumOptimizer steps with SGD's cached scalar `c` = -lr: record it at every step.
    const { rates } = await recordingStepRates(
      tf.MomentumOptimizer.prototype,
      (o: { c: tf.Scalar }) => -o.c.dataSync()[0],
      () => trainReleased(options(dir, { lrSchedule: 'cosine' })),
    );
    assert.equal(rates.length, TOTAL, 'one rate per step');
    // float32 scalars: to float32 precision.
    rates.forEach((r, t) => assert.ok(Math.abs(r - cosine(t)) <= 1e-7 * LR, `step ${t}: ${r} vs ${cosine(t)}`));
    assert.ok(rates[TOTAL - 1] < rates[0] / 5, 'the rate decays');
    const csv = readFileSync(join(dir, 'log.csv'), 'utf8').trim().split('\n');
    const lrColumn = csv[0].split(',').indexOf('lr');
    assert.ok(lrColumn >= 0);
    const logged = csv.slice(1).map((l) => Number(l.split(',')[lrColumn]));
    assert.equal(logged.length, 2);
    // Epoch 1 starts at t = 0 (lr), epoch 2 at t = 3 = T/2 (lr/2).
    assert.ok(Math.abs(logged[0] - LR) < 1e-12 && Math.abs(logged[1] - LR / 2) < 1e-12, `log.csv lr: ${logged}`);
  } finally {
    cleanup();
  }
});

test('momentum: 1 epoch + 1 resumed epoch equals 2 uninterrupted epochs, velocities included', async () => {
  const straight = tempDir();
  const split = tempDir();
  try {
    const a = await train(options(straight.dir));
    let expected: Float32Array[];
    let expectedVelocities: Float32Array[];
    try {
      expected = await weightsOf(a.model);
      const slots = (await a.optimizer.getWeights()).slice(1);
      assert.equal(slots.length, a.model.trainableWeights.length, 'one velocity per trainable weight');
      assert.ok(slots.every((s) => s.name.endsWith('/momentum')));
      expectedVelocities = await Promise.all(slots.map(async (s) => (await s.tensor.data()) as Float32Array));
    } finally {
      a.optimizer.dispose();
      a.model.dispose();
    }

    // The same run stopped (as by a crash) right after epoch 1's checkpoint, then resumed.
    await assert.rejects(train(options(split.dir, { reporter: stoppingReporter() })), /stopped after epoch 1/);
    const stored = JSON.parse(readFileSync(join(split.dir, 'checkpoints', 'epoch-0001', 'optimizer.json'), 'utf8'));
    assert.equal(stored.className, 'Momentum');
    assert.equal(stored.config.momentum, MOMENTUM);
    const b = await train(options(split.dir, { resume: true }));
    try {
      assert.deepEqual(b.state.history.map((h) => h.epoch), [1, 2]);
      assert.equal(b.optimizer.iterations, TOTAL);
      const got = await weightsOf(b.model);
      assert.ok(maxDifference(got, expected) < 1e-6, `weights: largest difference ${maxDifference(got, expected)}`);
      const velocities = await Promise.all((await b.optimizer.getWeights()).slice(1).map(async (s) => (await s.tensor.data()) as Float32Array));
      assert.ok(maxDifference(velocities, expectedVelocities) < 1e-5, 'the velocities continue from the checkpoint');
      // Velocities that had restarted from 0 would be far off (each is a decaying sum of the steps' gradients).
      assert.ok(expectedVelocities.some((v) => v.some((x) => Math.abs(x) > 1e-3)));
      assert.equal(b.state.args.momentum, MOMENTUM);
      assert.equal(b.state.args.nesterov, false);
      assert.equal(describeOptimizer(b.state.segments ?? [], 2), 'sgd (lr 0.02, momentum 0.9)');
    } finally {
      b.optimizer.dispose();
      b.model.dispose();
    }
  } finally {
    straight.cleanup();
    split.cleanup();
  }
});

test('momentum: a resume that adds or changes it starts a new stretch; plain SGD state resumes into momentum and back', async () => {
  const { dir, cleanup } = tempDir();
  /** Trains (resuming) the run in `dir` with `extra` options; returns its state. */
  const run = async (extra: Partial<TrainOptions>): Promise<RunState> => (await trainReleased(options(dir, { resume: true, ...extra }))).state;
  try {
    await run({ epochs: 1, momentum: 0 });
    let state = await run({ epochs: 2, momentum: 0.9, nesterov: true });
    assert.equal(describeOptimizer(state.segments ?? [], 2), 'epoch 1: sgd (lr 0.02); epoch 2: sgd (lr 0.02, momentum 0.9, nesterov)');
    state = await run({ epochs: 3, momentum: 0.5 });
    assert.equal(describeOptimizer(state.segments ?? [], 3), 'epoch 1: sgd (lr 0.02); epoch 2: sgd (lr 0.02, momentum 0.9, nesterov); epoch 3: sgd (lr 0.02, momentum 0.5)');
    state = await run({ epochs: 4, momentum: 0 });
    assert.equal(state.epoch, 4);
    assert.equal(describeOptimizer(state.segments ?? [], 4).split('; ').pop(), 'epoch 4: sgd (lr 0.02)');
    const saved = (await readState(join(dir, 'checkpoints', 'epoch-0004'))) as RunState;
    assert.deepEqual(saved.segments?.map((s) => [s.fromEpoch, s.momentum ?? 0, s.nesterov ?? false]), [[1, 0, false], [2, 0.9, true], [3, 0.5, false], [4, 0, false]]);
  } finally {
    cleanup();
  }
});

test('momentum: train refuses it with adam or rmsprop, nesterov without it, and values outside [0, 1), writing nothing', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    const cases: [Partial<TrainOptions>, RegExp][] = [
      [{ optimizer: 'adam' }, /^Error: momentum applies only to the sgd optimizer, not adam$/],
      [{ optimizer: 'rmsprop', momentum: 0, nesterov: true }, /^Error: nesterov applies only to the sgd optimizer, not rmsprop$/],
      [{ optimizer: 'adam', nesterov: true }, /^Error: momentum and nesterov apply only to the sgd optimizer, not adam$/],
      [{ momentum: 0, nesterov: true }, /^Error: nesterov needs a momentum above 0$/],
      [{ momentum: 1 }, /^Error: momentum must be a number in \[0, 1\), got 1$/],
      [{ momentum: -0.1 }, /^Error: momentum must be a number in \[0, 1\), got -0.1$/],
      [{ momentum: NaN }, /^Error: momentum must be a number in \[0, 1\), got NaN$/],
    ];
    for (const [extra, message] of cases) {
      await assert.rejects(train(options(out, extra)), message, JSON.stringify(extra));
      assert.equal(existsSync(out), false, `nothing written for ${JSON.stringify(extra)}`);
    }
  } finally {
    cleanup();
  }
});

test('CLI: --momentum and --nesterov usage errors are one line with exit code 2', async () => {
  const cases: [string[], string][] = [
    [['--optimizer', 'adam', '--momentum', '0.9'], 'resnet: --momentum applies only to --optimizer sgd, not adam'],
    [['--optimizer', 'rmsprop', '--nesterov'], 'resnet: --nesterov applies only to --optimizer sgd, not rmsprop'],
    [['--momentum', '0.9', '--nesterov'], 'resnet: --momentum and --nesterov apply only to --optimizer sgd, not adam'],
    [['--optimizer', 'sgd', '--nesterov'], 'resnet: --nesterov needs --momentum above 0 (e.g. --momentum 0.9)'],
    [['--optimizer', 'sgd', '--momentum', '1'], "resnet: --momentum: expected a fraction in [0, 1), got '1' (see resnet train --help)"],
    [['--optimizer', 'sgd', '--momentum', '-0.5'], "resnet: --momentum: expected a non-negative number, got '-0.5' (see resnet train --help)"],
  ];
  for (const [args, line] of cases) {
    const r = await runCaptured(['train', '--data', SIGNS_TRAIN, ...args]);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.out, '');
    assert.deepEqual(r.err.trim().split('\n'), [line]);
  }
  const help = await runCaptured(['train', '--help']);
  assert.match(help.out, /--momentum <m>/);
  assert.match(help.out, /--nesterov/);
});

test('CLI: --resume keeps the run\'s --momentum and --nesterov; another optimizer drops them from the stored run', async () => {
  const { dir, cleanup } = tempDir();
  const run = join(dir, 'run');
  const common = ['--input', '40,40,3', '--arch', 'resnet18', '--width-divisor', '32', '--backend', TEST_BACKEND,
    '--limit', '12', '--val-split', '0', '--batch-size', '6', '--precise-bn', '0', '--out', run];
  try {
    const first = await runCaptured(['train', '--data', SIGNS_TRAIN, '--epochs', '1', '--optimizer', 'sgd', '--lr', '0.05', '--momentum', '0.9', '--nesterov', ...common]);
    assert.equal(first.code, 0, first.err);
    const second = await runCaptured(['train', '--epochs', '2', '--resume', ...common]);
    assert.equal(second.code, 0, second.err);
    const state = (await readState(join(run, 'checkpoints', 'epoch-0002'))) as RunState;
    assert.equal(state.args.optimizer, 'sgd');
    assert.equal(state.args.momentum, 0.9);
    assert.equal(state.args.nesterov, true);
    // Same settings: one stretch, and the report says so.
    assert.equal(describeOptimizer(state.segments ?? [], 2), 'sgd (lr 0.05, momentum 0.9, nesterov)');
    const report = readFileSync(join(run, 'report', 'report.md'), 'utf8');
    assert.match(report, /optimizer: sgd \(lr 0\.05, momentum 0\.9, nesterov\)/);
    // --no-nesterov on a resume drops the stored nesterov (a new stretch), keeping the stored momentum.
    const third = await runCaptured(['train', '--epochs', '3', '--resume', '--no-nesterov', ...common]);
    assert.equal(third.code, 0, third.err);
    const after = (await readState(join(run, 'checkpoints', 'epoch-0003'))) as RunState;
    assert.equal(after.args.nesterov, false);
    assert.equal(describeOptimizer(after.segments ?? [], 3), 'epochs 1-2: sgd (lr 0.05, momentum 0.9, nesterov); epoch 3: sgd (lr 0.05, momentum 0.9)');
    // Resuming with --optimizer adam: the stored momentum does not make it a usage error (the checkpoint's SGD state
    // is what refuses the switch).
    const fourth = await runCaptured(['train', '--epochs', '4', '--resume', '--optimizer', 'adam', ...common]);
    assert.equal(fourth.code, 1, fourth.err);
    assert.match(fourth.err, /the checkpoint's optimizer is Momentum, not Adam/);
  } finally {
    cleanup();
  }
});
