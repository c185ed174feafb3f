/**
 * Early stopping as a user meets it: it needs validation data (without any it is refused, not silently ignored); a run
 * that stops early says where it stopped, which epoch was best and how to use that epoch's checkpoint, and its report
 * evaluates that checkpoint; a resumed run that its rule had ended trains nothing and keeps the stop, and one resumed
 * with a larger patience counts the epochs without improvement from the best one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { finalLines } from '../src/cli/commands/train.js';
import { MemorySource, SourceDataset, type Dataset } from '../src/data/index.js';
import { train, type TrainOptions } from '../src/train/index.js';
import { SIGNS_TRAIN, TEST_BACKEND, TINY_INPUT, memoryDataset, recordingReporter, tempDir, tinyResNet } from './train-fixtures.js';

const TRAIN = memoryDataset(24, TINY_INPUT, 3, 'train');

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    data: TRAIN,
    buildModel: (shape, classes) => tinyResNet(shape, classes),
    batchSize: 8,
    preciseBn: 0,
    out,
    backend: TEST_BACKEND,
    reporter: recordingReporter(),
    ...extra,
  };
}

test('train: earlyStop without validation data is refused, naming both options, before anything is written', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const refusal = /^Error: earlyStop needs validation data: give valData, or a valSplit above 0 \(it watches the validation loss\)$/;
    // An in-memory data set is never split; a path with valSplit 0 is not either.
    const memory = join(dir, 'memory');
    await assert.rejects(train(options(memory, { earlyStop: 2 })), refusal);
    assert.equal(existsSync(memory), false);
    const path = join(dir, 'path');
    await assert.rejects(train(options(path, { data: SIGNS_TRAIN, valSplit: 0, inputShape: TINY_INPUT, earlyStop: 2 })), refusal);
    assert.equal(existsSync(path), false);
    await assert.rejects(train(options(path, { valData: TRAIN, earlyStop: 0 })), /^Error: earlyStop must be a positive whole number of epochs, got 0$/);
    assert.equal(existsSync(path), false);
  } finally {
    cleanup();
  }
});

/**
 * `n` images whose class `i % 3` shows as a bright colour channel (the other two dark, a little texture on all),
 * labelled `(i + shift) % 3`. Trained on `shift` 0, a linear model fits them at once; validated on `shift` 1 (every
 * label moved on by one class), its validation loss then only grows.
 */
function colours(n: number, shift: number): Dataset {
  const [h, w, c] = TINY_INPUT;
  const size = h * w * c;
  const pixels = new Uint8Array(n * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = (i + shift) % 3;
    for (let j = 0; j < size; j++) pixels[i * size + j] = (j % c === i % 3 ? 200 : 40) + ((i * 7 + j) % 16);
  }
  const names = ['class0', 'class1', 'class2'];
  return new SourceDataset(new MemorySource(`colours+${shift}`, names, TINY_INPUT, labels, pixels, TINY_INPUT), Int32Array.from({ length: n }, (_, i) => i));
}

/** A seeded linear softmax classifier: quick, and it fits the 24 training images steadily. */
function linear(shape: [number, number, number], classes: number): tf.LayersModel {
  const input = tf.input({ shape });
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(flat);
  return tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
}

test('early stop: the final lines and report.md say where it stopped, which epoch was best and how to load it; the report evaluates that epoch; resumed, the stop stands (nothing to train) unless the patience grows, counted from the best epoch', async () => {
  const { dir, cleanup } = tempDir();
  const fmt = (x: number | undefined): string => (x ?? NaN).toFixed(4);
  try {
    const out = join(dir, 'run');
    const base = options(out, { data: colours(24, 0), valData: colours(12, 1), buildModel: linear, optimizer: 'sgd', lr: 1e-4, epochs: 8, earlyStop: 2, seed: 5, augment: { flip: true, shift: 0.15 } });
    const first = recordingReporter();
    const r = await train({ ...base, reporter: first });
    const checkpoints = join(out, 'checkpoints');
    try {
      const h = r.state.history;
      // The validation loss grows from the first epoch on: epoch 1 is the best, 2 and 3 do not improve, patience 2.
      assert.ok(h[1].val_loss! > h[0].val_loss! && h[2].val_loss! > h[1].val_loss!, `validation losses ${h.map((e) => e.val_loss)}`);
      assert.equal(r.stoppedEarly, true);
      assert.equal(r.state.epoch, 3);
      assert.equal(r.plannedEpochs, 8);
      assert.equal(r.bestCheckpoint, join(checkpoints, 'epoch-0001'));
      assert.equal(readFileSync(join(checkpoints, 'best'), 'utf8').trim(), 'epoch-0001');

      // The report evaluated the best epoch's checkpoint: the same validation loss and accuracy as epoch 1 logged.
      assert.equal(r.evaluatedEpoch, 1);
      assert.ok(Math.abs(r.evaluation!.loss - h[0].val_loss!) < 1e-5, `evaluated loss ${r.evaluation!.loss}, epoch 1's ${h[0].val_loss}`);
      assert.equal(r.evaluation!.accuracy, h[0].val_acc);
      // That evaluation showed its progress (batches of 8 of the 12 validation images).
      const what = 'epoch 1 (the best) on the validation set';
      assert.deepEqual(first.evaluations, [`${what} 0/12`, `${what} 8/12`, `${what} 12/12`]);
      assert.ok(Math.abs(r.evaluation!.loss - h[2].val_loss!) > 1e-3, 'not the last epoch\'s');
      const metrics = JSON.parse(readFileSync(join(out, 'report', 'metrics.json'), 'utf8'));
      assert.equal(metrics.evaluation.epoch, 1);
      assert.equal(metrics.evaluation.checkpoint, join(checkpoints, 'epoch-0001'));
      assert.deepEqual(metrics.run, { folder: out, plannedEpochs: 8, stoppedEarly: { patience: 2 }, best: { epoch: 1, monitor: 'val_loss', checkpoint: join(checkpoints, 'epoch-0001') } });

      const md = readFileSync(join(out, 'report', 'report.md'), 'utf8');
      const lines = md.split('\n');
      assert.ok(lines.includes('Training stopped early at epoch 3 of 8 planned: the validation loss had not improved for 2 epochs (`--early-stop 2`).'), md);
      const bestLine = lines.find((l) => l.startsWith('The best epoch by validation loss is 1 '));
      assert.ok(bestLine !== undefined, md);
      assert.ok(bestLine.includes(`(loss ${fmt(h[0].loss)}, acc ${fmt(h[0].acc)}, val_loss ${fmt(h[0].val_loss)}, val_acc ${fmt(h[0].val_acc)})`), bestLine);
      assert.ok(bestLine.includes(`its checkpoint is \`${join(checkpoints, 'epoch-0001')}\``), bestLine);
      assert.ok(bestLine.includes(`\`resnet evaluate --model ${out} --checkpoint best --data <test data>\``), bestLine);
      assert.ok(lines.some((l) => l.startsWith('| 1 (best) | ')), 'the best epoch is marked in the table');
      assert.ok(lines.includes(`Weights of epoch 1 (the best by validation loss): \`${join(checkpoints, 'epoch-0001')}\`.`), md);
      assert.match(md, /chosen by its loss on these same images/);
      assert.doesNotMatch(md, /Final epoch 3 of 3 logged/);
      assert.doesNotMatch(md, /before the run ended/, 'the final report replaced the one written after epoch 3');
      // The run's settings, as given.
      for (const fact of [
        '- validation: colours+1',
        '- image limit: none',
        '- augmentation: flip,shift=0.15',
        '- BatchNorm recalibration: off',
        '- early stopping: after 2 epochs without a lower validation loss',
        '- seed: 5',
        `- latest checkpoint: ${join(checkpoints, 'epoch-0003')}`,
        `- best checkpoint: ${join(checkpoints, 'epoch-0001')}`,
      ]) {
        assert.ok(lines.includes(fact), `${fact} in\n${md}`);
      }

      // The final lines of `resnet train`.
      assert.deepEqual(finalLines(r), [
        `run: ${out}`,
        'epochs: 3 of 8 planned (stopped early: val_loss has not improved for 2 epochs)',
        `final: loss ${fmt(h[2].loss)}  acc ${fmt(h[2].acc)}  val_loss ${fmt(h[2].val_loss)}  val_acc ${fmt(h[2].val_acc)}`,
        `best: epoch 1  loss ${fmt(h[0].loss)}  acc ${fmt(h[0].acc)}  val_loss ${fmt(h[0].val_loss)}  val_acc ${fmt(h[0].val_acc)}`,
        `checkpoint: ${join(checkpoints, 'epoch-0003')}`,
        `best checkpoint: ${join(checkpoints, 'epoch-0001')} (evaluate, predict and convert load it with --model ${out} --checkpoint best)`,
        `report: ${join(out, 'report', 'report.md')} (evaluates epoch 1, the best)`,
      ]);
    } finally {
      r.optimizer.dispose();
      r.model.dispose();
    }

    // Resumed as it was, the run has nothing left to train: its rule ended it at epoch 3. It says why, and the early
    // stop stands: in the result, the final lines and the report, which evaluates the best epoch again.
    const resumed = recordingReporter();
    const stopped = await train({ ...base, resume: true, reporter: resumed });
    try {
      const h = stopped.state.history;
      assert.ok(resumed.messages.includes(
        `${join(checkpoints, 'epoch-0003')} is at epoch 3 of 8, where early stopping's rule is met: val_loss has not improved for 2 epochs ` +
          `(best ${fmt(h[0].val_loss)} at epoch 1) and earlyStop is 2: nothing to train (pass a larger one to go on)`,
      ), resumed.messages.join('\n'));
      assert.equal(resumed.steps, 0, 'no training step');
      assert.ok(!resumed.messages.some((m) => m.startsWith('training step: ') || m.startsWith('early stop: ')), resumed.messages.join('\n'));
      assert.equal(stopped.state.epoch, 3);
      assert.equal(stopped.stoppedEarly, true);
      assert.equal(stopped.checkpoint, join(checkpoints, 'epoch-0003'));
      assert.equal(readFileSync(join(checkpoints, 'latest'), 'utf8').trim(), 'epoch-0003');
      assert.equal(stopped.evaluatedEpoch, 1);
      assert.ok(Math.abs(stopped.evaluation!.loss - h[0].val_loss!) < 1e-5, `evaluated loss ${stopped.evaluation!.loss}, epoch 1's ${h[0].val_loss}`);
      assert.deepEqual(finalLines(stopped), finalLines(r), 'the same final lines as when it stopped');
      const metrics = JSON.parse(readFileSync(join(out, 'report', 'metrics.json'), 'utf8'));
      assert.deepEqual(metrics.run.stoppedEarly, { patience: 2 });
      assert.equal(metrics.evaluation.epoch, 1);
      const md = readFileSync(join(out, 'report', 'report.md'), 'utf8');
      assert.ok(md.split('\n').includes('Training stopped early at epoch 3 of 8 planned: the validation loss had not improved for 2 epochs (`--early-stop 2`).'), md);
    } finally {
      stopped.optimizer.dispose();
      stopped.model.dispose();
    }

    // With a larger patience it goes on: epoch 4 does not improve on epoch 1 either, 3 epochs without improvement,
    // counted from the best epoch, not from the resume.
    const reporter = recordingReporter();
    const again = await train({ ...base, earlyStop: 3, resume: true, report: false, reporter });
    try {
      assert.ok(reporter.messages.includes(`resuming from ${join(checkpoints, 'epoch-0003')} (epoch 3 of 8)`), reporter.messages.join('\n'));
      assert.equal(again.state.epoch, 4);
      assert.equal(again.stoppedEarly, true);
      const stop = reporter.messages.find((m) => m.startsWith('early stop: '));
      assert.equal(stop, `early stop: val_loss has not improved for 3 epochs (best ${fmt(again.state.history[0].val_loss)} at epoch 1)`);
    } finally {
      again.optimizer.dispose();
      again.model.dispose();
    }
  } finally {
    cleanup();
  }
});

test('a run that trains all its epochs: the report says so and which epoch it evaluated; the final lines are as before', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    // Validation on correctly labelled images of the same kind: a model that fits them improves every epoch.
    const reporter = recordingReporter();
    const r = await train(options(out, { data: colours(24, 0), valData: colours(12, 0), buildModel: linear, optimizer: 'sgd', lr: 1e-4, epochs: 2, earlyStop: 1, reporter }));
    try {
      assert.deepEqual(reporter.evaluations, [], "the report reuses the last epoch's validation: no evaluation after the epochs");
      const h = r.state.history;
      assert.ok(h[1].val_loss! < h[0].val_loss!, `validation losses ${h.map((e) => e.val_loss)}`);
      assert.equal(r.stoppedEarly, false);
      assert.equal(r.evaluatedEpoch, 2);
      const md = readFileSync(join(out, 'report', 'report.md'), 'utf8').split('\n');
      assert.ok(md.includes('Trained all 2 epochs planned.'), md.join('\n'));
      assert.ok(md.some((l) => l.startsWith('The best epoch by validation loss is the last one, 2 (')), md.join('\n'));
      const ckpt = join(out, 'checkpoints', 'epoch-0002');
      assert.ok(md.includes(`Weights of epoch 2 (the best by validation loss and the last): \`${ckpt}\`.`), md.join('\n'));
      assert.ok(!md.some((l) => l.includes('--checkpoint best')), 'nothing to say about --checkpoint best when the best is the last');
      const lines = finalLines(r);
      assert.deepEqual(lines.map((l) => l.split(':')[0]), ['run', 'epochs', 'final', 'checkpoint', 'report']);
      assert.equal(lines[1], 'epochs: 2');
      assert.equal(lines[3], `checkpoint: ${ckpt}`);
      assert.equal(lines[4], `report: ${join(out, 'report', 'report.md')}`);
    } finally {
      r.optimizer.dispose();
      r.model.dispose();
    }
  } finally {
    cleanup();
  }
});
