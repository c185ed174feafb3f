/**
 * Training end to end on real SIGNS images: checkpoints, logs and report files; the per-step losses that the state,
 * `steps.csv` and the curves chart hold; the loss going down when a small ResNet overfits one fixed batch; memory
 * staying flat over training steps; validation on a class-balanced pick of a test file (`valLimit`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend } from '../src/backend/index.js';
import { openDataset } from '../src/data/index.js';
import { STEP_SERIES, compileForTraining, curvesSpec, loadModel, readState, renderSvg, train } from '../src/train/index.js';
import { saturationNote } from '../src/train/train.js';
import { SIGNS_TEST, SIGNS_TRAIN, TEST_BACKEND, TINY_INPUT, memoryDataset, recordingReporter, tempDir, tinyResNet, trainReleased } from './train-fixtures.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

test('train: 2 epochs on a SIGNS subset write checkpoints, logs and a readable report', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const reporter = recordingReporter();
    const result = await train({
      data: SIGNS_TRAIN,
      limit: 36,
      valSplit: 1 / 6,
      inputShape: TINY_INPUT,
      arch: 'resnet18',
      widthDivisor: 32,
      epochs: 2,
      batchSize: 10,
      out: dir,
      backend: TEST_BACKEND,
      reporter,
    });
    try {
      assert.match(reporter.messages[0], /^backend: \w+/, 'the backend in use is printed first');
      // Then where the run goes and how big it is, before the first epoch (a run without --out can be followed).
      assert.deepEqual(reporter.messages.slice(1, 3), [`run folder: ${dir} (log.csv gets a line after each epoch)`, 'images: 30 training, 6 validation; 3 steps per epoch (batch size 10)']);
      assert.equal(result.trainSize, 30);
      assert.equal(result.validationSize, 6);
      // 30 images in batches of 10: 3 steps an epoch.
      assert.equal(reporter.steps, 6);
      assert.equal(result.optimizer.iterations, 6);

      const ckpts = join(dir, 'checkpoints');
      assert.deepEqual(readdirSync(ckpts).sort(), ['best', 'epoch-0001', 'epoch-0002', 'latest']);
      assert.equal(readFileSync(join(ckpts, 'latest'), 'utf8').trim(), 'epoch-0002');
      for (const f of ['model.json', 'weights.bin', 'optimizer.json', 'optimizer.bin', 'state.json']) {
        assert.ok(existsSync(join(ckpts, 'epoch-0002', f)), f);
      }
      const state = await readState(join(ckpts, 'epoch-0002'));
      assert.equal(state.epoch, 2);
      // The report's evaluation is the last epoch's model on the 6 validation images: that epoch's validation.
      assert.equal(result.evaluation?.count, 6);
      assert.equal(result.evaluation?.loss, state.history[1].val_loss);
      assert.equal(result.evaluation?.accuracy, state.history[1].val_acc);
      assert.equal(state.iterations, 6);
      // One training loss and accuracy per step, per epoch, kept in the state.
      assert.deepEqual(state.history.map((h) => h.step_loss?.length), [3, 3]);
      assert.deepEqual(state.history.map((h) => h.step_acc?.length), [3, 3]);
      for (const h of state.history) {
        // Each batch holds 10 images, so its accuracy is a whole number of tenths.
        for (const a of h.step_acc ?? []) assert.ok(Math.abs(a * 10 - Math.round(a * 10)) < 1e-4, `step accuracy ${a}`);
      }
      assert.deepEqual(state.classes, ['0', '1', '2', '3', '4', '5']);

      // log.csv: header + one line per epoch, with the columns the brief lists; log.json the same rows.
      const csv = readFileSync(join(dir, 'log.csv'), 'utf8').trim().split('\n');
      assert.equal(csv[0], 'epoch,loss,acc,val_loss,val_acc,time,images_per_s,lr');
      assert.deepEqual(csv.slice(1).map((l) => l.split(',')[0]), ['1', '2']);
      for (const line of csv.slice(1)) {
        const cells = line.split(',').map(Number);
        assert.ok(cells.every(Number.isFinite), line);
        assert.ok(cells[2] >= 0 && cells[2] <= 1 && cells[4] >= 0 && cells[4] <= 1, 'accuracies are fractions');
      }
      const json = JSON.parse(readFileSync(join(dir, 'log.json'), 'utf8'));
      assert.deepEqual(json.map((r: { epoch: number }) => r.epoch), [1, 2]);
      assert.equal(json[1].loss, Number(csv[2].split(',')[1]));

      // Report: SVGs that an SVG renderer (librsvg, through sharp) accepts, PNGs with the PNG signature.
      const report = join(dir, 'report');
      for (const name of ['curves', 'confusion']) {
        const svg = readFileSync(join(report, `${name}.svg`));
        assert.match(svg.toString('utf8', 0, 200), /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
        const meta = await sharp(svg).metadata();
        assert.equal(meta.format, 'svg');
        assert.ok((meta.width ?? 0) > 100 && (meta.height ?? 0) > 100);
        const png = readFileSync(join(report, `${name}.png`));
        assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
        assert.equal((await sharp(png).metadata()).format, 'png');
      }
      assert.match(readFileSync(join(report, 'curves.svg'), 'utf8'), />train \(per step\)</, 'the per-step loss is in the legend');
      const md = readFileSync(join(report, 'report.md'), 'utf8');
      assert.match(md, /!\[[^\]]*\]\(curves\.png\)/);
      assert.match(md, /!\[[^\]]*\]\(confusion\.png\)/);
      assert.match(md, /\| class \| precision \| recall \| support \|/);
      // The settings that change results are listed, defaults included.
      const facts = md.split('\n').filter((l) => l.startsWith('- '));
      for (const fact of [
        '- training images: 30',
        '- validation images: 6',
        '- validation: 16.7% of the data held out (class-balanced)',
        '- image limit: 36 images of the data (a class-balanced pick; the validation part is held out of them)',
        '- batch size: 10',
        '- augmentation: none',
        '- BatchNorm recalibration: 10 batches after each epoch',
        '- early stopping: off',
        '- seed: 0',
      ]) {
        assert.ok(facts.includes(fact), `${fact} in\n${facts.join('\n')}`);
      }
      const metrics = JSON.parse(readFileSync(join(report, 'metrics.json'), 'utf8'));
      assert.equal(metrics.evaluation.count, 6);
      assert.equal(metrics.evaluation.perClass.length, 6);
      // The confusion matrix holds every validation image once.
      const total = metrics.evaluation.confusion.flat().reduce((a: number, b: number) => a + b, 0);
      assert.equal(total, 6);

      // The checkpoint is a self-describing model folder: it loads and predicts like the trained model.
      const loaded = await loadModel(join(ckpts, 'epoch-0002'));
      const x = tf.randomUniform([2, ...TINY_INPUT]);
      const a = result.model.predict(x) as tf.Tensor;
      const b = loaded.predict(x) as tf.Tensor;
      assert.deepEqual(Array.from(await a.data()), Array.from(await b.data()));
      assert.deepEqual(loaded.getUserDefinedMetadata(), {
        classes: ['0', '1', '2', '3', '4', '5'],
        inputShape: TINY_INPUT,
        arch: 'resnet18',
        dataset: SIGNS_TRAIN,
      });
      tf.dispose([x, a, b]);
      loaded.dispose();
    } finally {
      result.optimizer.dispose();
      result.model.dispose();
    }
  } finally {
    cleanup();
  }
});

test('train: per-step losses: one per batch, their batch-weighted mean is the epoch loss; steps.csv and the chart show them', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const reporter = recordingReporter();
    // 10 images in batches of 4: steps of 4, 4 and 2 images, so the epoch loss is a weighted mean.
    const sizes = [4, 4, 2];
    const result = await trainReleased({
      data: memoryDataset(10, TINY_INPUT, 3),
      buildModel: (shape, classes) => tinyResNet(shape, classes),
      epochs: 2,
      batchSize: 4,
      lr: 0.01,
      out: dir,
      backend: TEST_BACKEND,
      reporter,
    });
    const { history } = result.state;
    assert.deepEqual(history.map((h) => h.step_loss?.length), [3, 3]);
    history.forEach((h, e) => {
      const steps = h.step_loss ?? [];
      // The epoch loss is the batch-size-weighted mean of the step losses (which are rounded to 5 digits).
      const weighted = steps.reduce((sum, l, i) => sum + l * sizes[i], 0) / 10;
      assert.ok(Math.abs(weighted - h.loss) <= 1e-4 * h.loss, `epoch ${h.epoch}: weighted mean ${weighted}, epoch loss ${h.loss}`);
      // Each step's loss, recovered from the running means the progress reporter was given, is the stored one.
      const means = reporter.stepMeans.slice(3 * e, 3 * e + 3);
      let seen = 0;
      means.forEach((m, i) => {
        const stepLoss = (m * (seen + sizes[i]) - (i === 0 ? 0 : means[i - 1] * seen)) / sizes[i];
        seen += sizes[i];
        assert.ok(Math.abs(stepLoss - steps[i]) <= 1e-4 * Math.abs(steps[i]) + 1e-6, `epoch ${h.epoch} step ${i + 1}: ${stepLoss} vs ${steps[i]}`);
      });
      // Stored rounded to 5 significant digits.
      for (const l of steps) assert.equal(l, Number(l.toPrecision(5)));
    });

    // steps.csv: a header, then one line per step with the stored values.
    const csv = readFileSync(join(dir, 'steps.csv'), 'utf8').trim().split('\n');
    assert.equal(csv[0], 'epoch,step,loss,acc');
    assert.deepEqual(
      csv.slice(1).map((l) => l.split(',').map(Number)),
      history.flatMap((h) => (h.step_loss ?? []).map((l, i) => [h.epoch, i + 1, l, h.step_acc?.[i]])),
    );

    // The loss panel draws them, step s (0-based) of epoch e at x = e - 1 + (s + 1) / 3.
    const spec = curvesSpec(history) as unknown as { data: { values: { epoch: number; metric: string; split: string; value: number }[] } };
    const perStep = spec.data.values.filter((r) => r.split === STEP_SERIES);
    assert.deepEqual(perStep.map((r) => r.metric), Array(6).fill('loss'));
    const xs = [1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2];
    perStep.forEach((r, i) => assert.ok(Math.abs(r.epoch - xs[i]) < 1e-12, `x ${r.epoch}, expected ${xs[i]}`));
    assert.deepEqual(perStep.map((r) => r.value), history.flatMap((h) => h.step_loss));
    // A history from before per-step losses were recorded draws no per-step line and no legend entry.
    const old = history.map(({ step_loss: _l, step_acc: _a, ...rest }) => rest);
    const oldSvg = await renderSvg(curvesSpec(old));
    assert.doesNotMatch(oldSvg, /per step/);
    assert.match(oldSvg, />train \(epoch mean\)</);
    const svg = readFileSync(join(dir, 'report', 'curves.svg'), 'utf8');
    assert.match(svg, />train \(per step\)</);
    const metrics = JSON.parse(readFileSync(join(dir, 'report', 'metrics.json'), 'utf8'));
    assert.deepEqual(metrics.history.map((h: { step_loss: number[] }) => h.step_loss), history.map((h) => h.step_loss));
  } finally {
    cleanup();
  }
});

test('train: a small ResNet overfits one fixed batch of SIGNS images, and memory stays flat', async () => {
  await initBackend(TEST_BACKEND);
  const { train: data } = await openDataset(SIGNS_TRAIN, { inputShape: TINY_INPUT, limit: 12 });
  const batches = data.batches({ batchSize: 12 });
  const { value: batch } = await batches.next();
  await batches.return(undefined);
  assert.ok(batch);
  const model = tinyResNet();
  const optimizer = compileForTraining(model, 'adam', 0.01);
  try {
    const losses: number[] = [];
    const tensors: number[] = [];
    for (let step = 0; step < 12; step++) {
      const [loss] = (await model.trainOnBatch(batch.xs, batch.ys)) as number[];
      losses.push(loss);
      tensors.push(tf.memory().numTensors);
    }
    assert.ok(losses.every(Number.isFinite), `finite losses: ${losses}`);
    assert.ok(losses[11] < 0.5 * losses[0], `loss falls on a fixed batch: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
    // The first step creates the optimizer's slot variables; after that the tensor count must not grow.
    assert.deepEqual(new Set(tensors.slice(1)).size, 1, `tensor counts after each step: ${tensors}`);
  } finally {
    tf.dispose([batch.xs, batch.ys]);
    optimizer.dispose();
    model.dispose();
  }
});

test('train: valLimit validates on a class-balanced pick of valData; it needs valData to be a path', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const base = { data: SIGNS_TRAIN, limit: 12, inputShape: TINY_INPUT, arch: 'resnet18', widthDivisor: 32, epochs: 1, batchSize: 12, backend: TEST_BACKEND } as const;
    const result = await trainReleased({ ...base, valData: SIGNS_TEST, valLimit: 12, out: join(dir, 'run'), reporter: recordingReporter() });
    // test_signs.h5 holds 20 images of each of its 6 classes: 12 of them are 2 of each.
    assert.equal(result.validationSize, 12);
    assert.equal(result.evaluation?.count, 12);
    assert.deepEqual(result.evaluation?.confusion.map((row) => row.reduce((a, b) => a + b, 0)), [2, 2, 2, 2, 2, 2]);
    assert.equal(result.state.args.valLimit, 12, 'stored with the run, for --resume');
    // Without a validation file there is nothing to pick from (the held-out part is sized by valSplit).
    const out = join(dir, 'refused');
    await assert.rejects(
      train({ ...base, valLimit: 12, out, reporter: recordingReporter() }),
      /^Error: valLimit needs valData to be a path, or a data folder whose val\/ folder validates the run \(the validation part held out of data is sized by valSplit\)$/,
    );
    assert.equal(existsSync(out), false);
  } finally {
    cleanup();
  }
});

test('train: valLimit picks from the val/ folder of a train/ val/ data folder that validates the run; with valSplit it is refused', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // train/ with 2 images of each of 3 classes, val/ with 4 of each.
    const root = join(dir, 'photos');
    const colours = { blue: { r: 20, g: 20, b: 220 }, green: { r: 20, g: 220, b: 20 }, red: { r: 220, g: 20, b: 20 } };
    for (const [part, n] of [['train', 2], ['val', 4]] as const) {
      for (const [cls, background] of Object.entries(colours)) {
        mkdirSync(join(root, part, cls), { recursive: true });
        for (let i = 0; i < n; i++) await sharp({ create: { width: 8, height: 8, channels: 3, background } }).png().toFile(join(root, part, cls, `${i}.png`));
      }
    }
    const base = { data: root, inputShape: TINY_INPUT, arch: 'resnet18', widthDivisor: 32, epochs: 1, batchSize: 6, preciseBn: 0, backend: TEST_BACKEND } as const;
    const out = join(dir, 'run');
    const result = await trainReleased({ ...base, valLimit: 6, out, reporter: recordingReporter() });
    // Of val/'s 12 images, a class-balanced 6: 2 of each class.
    assert.equal(result.trainSize, 6);
    assert.equal(result.validationSize, 6);
    assert.deepEqual(result.evaluation?.confusion.map((row) => row.reduce((a, b) => a + b, 0)), [2, 2, 2]);
    assert.equal(result.state.args.valLimit, 6, 'stored with the run, for --resume');
    const report = readFileSync(join(out, 'report', 'report.md'), 'utf8').split('\n');
    assert.ok(report.includes(`- validation: ${join(root, 'val')} (the data folder's val/; a class-balanced pick of 6 images)`), report.join('\n'));

    // More than val/ holds: all of it, with a note naming the folder.
    const all = recordingReporter();
    const whole = await trainReleased({ ...base, valLimit: 20, out: join(dir, 'all'), report: false, reporter: all });
    assert.equal(whole.validationSize, 12);
    assert.ok(all.messages.includes(`note: valLimit 20 is more than the 12 images of ${join(root, 'val')}: all of them are used`), all.messages.join('\n'));

    // With valSplit the run holds out part of train/ instead of reading val/: nothing for valLimit to pick from.
    const refused = join(dir, 'refused');
    await assert.rejects(train({ ...base, valSplit: 0.5, valLimit: 6, out: refused, reporter: recordingReporter() }), /^Error: valLimit needs valData to be a path, or a data folder whose val\/ folder validates the run /);
    assert.equal(existsSync(refused), false);
  } finally {
    cleanup();
  }
});

test('train: a last shuffled batch of one image is left out, and the steps per epoch say so; a limit above the data is noted', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // 9 images in batches of 4: 4 + 4, and the ninth (a different one each epoch) is left out.
    const reporter = recordingReporter();
    const r = await trainReleased({
      data: memoryDataset(9, TINY_INPUT, 3, 'train'), buildModel: (shape, classes) => tinyResNet(shape, classes), batchSize: 4, epochs: 1,
      preciseBn: 0, out: join(dir, 'run'), backend: TEST_BACKEND, reporter,
    });
    assert.equal(r.state.history[0].step_loss?.length, 2);
    assert.ok(reporter.messages.includes('images: 9 training, no validation; 2 steps per epoch (batch size 4)'), reporter.messages.join('\n'));

    // A limit above the 1080 images of the SIGNS file: all are used, which a note and the report say; one batch of
    // them all: "1 step".
    const few = recordingReporter();
    await trainReleased({
      data: SIGNS_TRAIN, limit: 5000, valSplit: 0, inputShape: TINY_INPUT, arch: 'resnet18', widthDivisor: 32, epochs: 1, batchSize: 2000,
      preciseBn: 0, out: join(dir, 'limit'), backend: TEST_BACKEND, reporter: few,
    });
    assert.ok(few.messages.includes(`note: limit 5000 is more than the 1080 images of ${SIGNS_TRAIN}: all of them are used`), few.messages.join('\n'));
    assert.ok(few.messages.includes('images: 1080 training, no validation; 1 step per epoch (batch size 2000)'), few.messages.join('\n'));
    const md = readFileSync(join(dir, 'limit', 'report', 'report.md'), 'utf8');
    assert.match(md, /image limit: 5000 images, more than the data holds: all 1080 are used/);
  } finally {
    cleanup();
  }
});

test('saturationNote: a training loss far above chance level gets a hint, once per run', async () => {
  assert.equal(saturationNote(2.0, 6), undefined);
  assert.equal(saturationNote(5.5, 1000), undefined, 'ln 1000 = 6.9: 5.5 is below chance');
  assert.equal(saturationNote(13.37, 6), 'note: the training loss (13.37) is far above chance level (ln 6 = 1.79): the model is ' +
    'confidently wrong, its softmax saturated; a lower lr or a larger batchSize usually helps');
  // A model that puts all its probability on class 0 and (at a learning rate of 1e-12) stays so: two thirds of the
  // images get the clipped 1e-7, a loss of about 10.7.
  const { dir, cleanup } = tempDir();
  try {
    const reporter = recordingReporter();
    const r = await trainReleased({
      data: memoryDataset(12, TINY_INPUT, 3, 'train'), valSplit: 0, batchSize: 6, epochs: 2, lr: 1e-12, optimizer: 'sgd', preciseBn: 0,
      out: join(dir, 'run'), backend: TEST_BACKEND, reporter,
      buildModel: (shape, classes) => {
        const input = tf.input({ shape });
        const output = tf.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: 'zeros' }).apply(tf.layers.flatten().apply(input));
        const m = tf.model({ inputs: input, outputs: output as tf.SymbolicTensor });
        m.layers[2].setWeights([tf.zeros(m.layers[2].getWeights()[0].shape), tf.tensor1d([100, 0, 0])]);
        return m;
      },
    });
    const notes = reporter.messages.filter((m) => m.startsWith('note: the training loss'));
    assert.equal(notes.length, 1, reporter.messages.join('\n'));
    assert.ok(r.state.history.every((h) => h.loss > 10), `losses ${r.state.history.map((h) => h.loss)}`);
  } finally {
    cleanup();
  }
});
