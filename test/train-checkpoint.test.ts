/**
 * Saving and loading: the standard model.json + weights.bin layout (checked by loading it with tfjs's own
 * `tf.io.fromMemory`, not with our loader), one-line errors for broken model folders, atomic checkpoints that survive
 * a failure mid-save, optimizer state round trips, and a diverging run that keeps its last good checkpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { cleanRunDir } from '../src/train/checkpoint.js';
import {
  TrainingDivergedError,
  compileForTraining,
  createOptimizer,
  latestCheckpoint,
  loadCheckpoint,
  loadModel,
  readState,
  restoreOptimizer,
  saveCheckpoint,
  saveModel,
  train,
  writeOptimizerFiles,
  type OptimizerName,
  type TrainState,
} from '../src/train/index.js';
import { TEST_BACKEND, TINY_INPUT, memoryDataset, recordingReporter, tempDir, tinyResNet, trainReleased } from './train-fixtures.js';

function tempEntries(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('.tmp-'));
}

async function sameOutputs(a: tf.LayersModel, b: tf.LayersModel, x: tf.Tensor): Promise<void> {
  const ya = a.predict(x) as tf.Tensor;
  const yb = b.predict(x) as tf.Tensor;
  assert.deepEqual(Array.from(await yb.data()), Array.from(await ya.data()));
  tf.dispose([ya, yb]);
}

/** A trained-looking tiny model: a few Adam steps so that weights and BatchNorm statistics are not the initial ones. */
async function steppedModel(): Promise<{ model: tf.LayersModel; optimizer: tf.Optimizer }> {
  const model = tinyResNet();
  const optimizer = compileForTraining(model, 'adam', 0.01);
  const x = tf.randomUniform([4, ...TINY_INPUT], 0, 1, 'float32', 7);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 6).toFloat();
  for (let i = 0; i < 2; i++) await model.trainOnBatch(x, y);
  tf.dispose([x, y]);
  return { model, optimizer };
}

test('saveModel writes the standard tfjs layout that tfjs itself loads; loadModel reads it back', async () => {
  await initBackend(TEST_BACKEND);
  const { dir, cleanup } = tempDir();
  const { model, optimizer } = await steppedModel();
  const x = tf.randomUniform([3, ...TINY_INPUT], 0, 1, 'float32', 3);
  try {
    const target = join(dir, 'model');
    await saveModel(model, target, { classes: ['a', 'b', 'c', 'd', 'e', 'f'], inputShape: TINY_INPUT });
    assert.deepEqual(readdirSync(target).sort(), ['model.json', 'weights.bin']);
    assert.deepEqual(tempEntries(dir), []);

    const json = JSON.parse(readFileSync(join(target, 'model.json'), 'utf8'));
    assert.equal(json.format, 'layers-model');
    assert.equal(json.weightsManifest.length, 1);
    assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
    assert.deepEqual(json.userDefinedMetadata.classes, ['a', 'b', 'c', 'd', 'e', 'f']);
    // Loaded by tfjs's own in-memory loader from the bytes on disk: the layout is the standard one.
    const bin = readFileSync(join(target, 'weights.bin'));
    const viaTfjs = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
      }),
    );
    await sameOutputs(model, viaTfjs, x);
    viaTfjs.dispose();

    const loaded = await loadModel(target);
    await sameOutputs(model, loaded, x);
    assert.deepEqual(loaded.getUserDefinedMetadata(), { classes: ['a', 'b', 'c', 'd', 'e', 'f'], inputShape: TINY_INPUT });
    loaded.dispose();

    // Saving over an existing model replaces it whole, leaving nothing behind.
    await saveModel(model, target);
    assert.deepEqual(readdirSync(target).sort(), ['model.json', 'weights.bin']);
    assert.deepEqual(tempEntries(dir), []);
  } finally {
    tf.dispose(x);
    optimizer.dispose();
    model.dispose();
    cleanup();
  }
});

test('loadModel: one-line errors naming the path for missing, incomplete and corrupt model folders', async () => {
  const { dir, cleanup } = tempDir();
  const model = tinyResNet();
  try {
    await assert.rejects(loadModel(join(dir, 'nope')), (e: Error) => e.message === `${join(dir, 'nope')}: no such model folder`);
    mkdirSync(join(dir, 'empty'));
    await assert.rejects(loadModel(join(dir, 'empty')), /empty: no model\.json in this folder/);

    const m = join(dir, 'm');
    await saveModel(model, m);
    const size = readFileSync(join(m, 'weights.bin')).length;
    truncateSync(join(m, 'weights.bin'), size - 8);
    await assert.rejects(loadModel(m), (e: Error) => e.message === `${join(m, 'weights.bin')}: weights hold ${size - 8} bytes, model.json expects ${size}`);
    writeFileSync(join(m, 'model.json'), '{"modelTopology": ');
    await assert.rejects(loadModel(m), (e: Error) => e.message.startsWith(`${join(m, 'model.json')}: not a valid model.json:`) && !e.message.includes('\n'));
    await saveModel(model, m);
    rmSync(join(m, 'weights.bin'));
    await assert.rejects(loadModel(m), /weights\.bin: weights file named in model\.json is missing/);
  } finally {
    model.dispose();
    cleanup();
  }
});

function stateAt(epoch: number, args: Record<string, unknown> = {}): TrainState {
  return { epoch, iterations: 2 * epoch, seed: 0, history: [], classes: ['a', 'b', 'c', 'd', 'e', 'f'], args, savedAt: new Date(0).toISOString() };
}

test('saveCheckpoint: a failure mid-save leaves the previous checkpoint and the latest pointer intact', async () => {
  await initBackend(TEST_BACKEND);
  const { dir, cleanup } = tempDir();
  const { model, optimizer } = await steppedModel();
  try {
    const first = await saveCheckpoint(dir, { model, optimizer, state: stateAt(1) });
    const ckpts = join(dir, 'checkpoints');
    const weightsBefore = readFileSync(join(first, 'weights.bin'));
    assert.deepEqual(tempEntries(ckpts), []);

    // state.json is written last, after model and optimizer files: a BigInt cannot be serialized, so the save fails
    // with most of the checkpoint already written into the temporary folder.
    await assert.rejects(saveCheckpoint(dir, { model, optimizer, state: stateAt(2, { bad: 1n }) }), /BigInt/);
    assert.equal(await latestCheckpoint(dir), first);
    assert.deepEqual(readdirSync(ckpts).sort(), ['epoch-0001', 'latest']);
    // The same failure while replacing an existing checkpoint folder keeps the old one.
    await assert.rejects(saveCheckpoint(dir, { model, optimizer, state: stateAt(1, { bad: 1n }) }), /BigInt/);
    assert.deepEqual(readdirSync(ckpts).sort(), ['epoch-0001', 'latest']);
    assert.deepEqual(readFileSync(join(first, 'weights.bin')), weightsBefore);

    const { model: loaded, state } = await loadCheckpoint(first);
    assert.equal(state.epoch, 1);
    loaded.dispose();

    // What a killed writer leaves (a temporary folder, a checkpoint the pointer never reached) is cleaned up.
    mkdirSync(join(ckpts, '.tmp-epoch-0002-1-abcd'));
    writeFileSync(join(ckpts, '.tmp-latest-1-abcd'), 'epoch-0002');
    await saveCheckpoint(dir, { model, optimizer, state: stateAt(2) });
    writeFileSync(join(ckpts, 'latest'), 'epoch-0001\n'); // as if killed before the pointer moved to epoch-0002
    const removed = await cleanRunDir(dir);
    assert.deepEqual(removed.sort(), ['.tmp-epoch-0002-1-abcd', '.tmp-latest-1-abcd', 'epoch-0002']);
    assert.deepEqual(readdirSync(ckpts).sort(), ['epoch-0001', 'latest']);
  } finally {
    optimizer.dispose();
    model.dispose();
    cleanup();
  }
});

for (const name of ['adam', 'rmsprop', 'sgd'] as OptimizerName[]) {
  test(`optimizer state round trip (${name}): restored slots and step count continue training identically`, async () => {
    await initBackend(TEST_BACKEND);
    const { dir, cleanup } = tempDir();
    const build = (): tf.LayersModel => {
      const input = tf.input({ shape: [4] });
      const h = tf.layers.dense({ units: 5, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(input);
      const out = tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(h as tf.SymbolicTensor);
      return tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
    };
    const x = tf.tensor2d([[0.1, 0.9, 0.3, 0.5], [0.7, 0.2, 0.8, 0.1], [0.4, 0.4, 0.6, 0.9]]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2], 'int32'), 3).toFloat();
    const a = build();
    const optA = compileForTraining(a, name, 0.05);
    const b = build();
    const optB = createOptimizer(name, 0.05);
    try {
      for (let i = 0; i < 3; i++) await a.trainOnBatch(x, y);
      await writeOptimizerFiles(optA, dir);
      b.setWeights(a.getWeights());
      b.compile({ optimizer: optB, loss: 'categoricalCrossentropy' });
      await restoreOptimizer(optB, b, dir);
      assert.equal(optB.iterations, 3);
      const [wa, wb] = [await optA.getWeights(), await optB.getWeights()];
      assert.equal(wb.length, wa.length);
      for (let i = 0; i < wa.length; i++) assert.deepEqual(Array.from(await wb[i].tensor.data()), Array.from(await wa[i].tensor.data()), wa[i].name);
      tf.dispose([wa[0].tensor, wb[0].tensor]);
      // One more step on each: same update, because the state is the same.
      await a.trainOnBatch(x, y);
      await b.trainOnBatch(x, y);
      const [pa, pb] = [a.getWeights(), b.getWeights()];
      for (let i = 0; i < pa.length; i++) assert.deepEqual(Array.from(await pb[i].data()), Array.from(await pa[i].data()));
      // State of another optimizer kind, or of another architecture, is refused.
      const other = createOptimizer(name === 'adam' ? 'sgd' : 'adam', 0.1);
      await assert.rejects(restoreOptimizer(other, b, dir), /optimizer\.json: the checkpoint's optimizer is \w+, not \w+/);
      other.dispose();
      if (name !== 'sgd') {
        const wide = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 6 }), tf.layers.dense({ units: 3 })] });
        const opt = createOptimizer(name, 0.1);
        await assert.rejects(restoreOptimizer(opt, wide, dir), /has shape \[4,5\], weight .* has \[4,6\]/);
        opt.dispose();
        wide.dispose();
      }
    } finally {
      tf.dispose([x, y]);
      optA.dispose();
      optB.dispose();
      a.dispose();
      b.dispose();
      cleanup();
    }
  });
}

test('divergence: a NaN loss stops training with a clear error and keeps the last good checkpoint', async () => {
  const { dir, cleanup } = tempDir();
  const base = {
    data: memoryDataset(24, TINY_INPUT, 3, 'train'),
    buildModel: (shape: [number, number, number], classes: number) => tinyResNet(shape, classes),
    batchSize: 8,
    out: dir,
    backend: TEST_BACKEND,
    report: false,
  };
  try {
    await trainReleased({ ...base, epochs: 1, lr: 0.01, reporter: recordingReporter() });
    const ckpt = join(dir, 'checkpoints', 'epoch-0001');
    const weightsBefore = readFileSync(join(ckpt, 'weights.bin'));
    const tensorsBefore = tf.memory().numTensors;

    // A learning rate of 1e30 blows the weights up on the first step; the next loss is NaN.
    const err = await train({ ...base, epochs: 3, lr: 1e30, resume: true, reporter: recordingReporter() }).then(
      () => assert.fail('training should have diverged'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TrainingDivergedError, String(err));
    assert.match(err.message, new RegExp(`^training diverged: loss is NaN at epoch 2 batch [23]; last good checkpoint: ${ckpt}$`));
    assert.equal(err.epoch, 2);
    assert.equal(tf.memory().numTensors, tensorsBefore, 'the diverged model and optimizer are freed');

    assert.equal(await latestCheckpoint(dir), ckpt);
    assert.deepEqual(readFileSync(join(ckpt, 'weights.bin')), weightsBefore);
    assert.equal((await readState(ckpt)).epoch, 1);
    assert.ok(!existsSync(join(dir, 'checkpoints', 'epoch-0002')));
    const log = JSON.parse(readFileSync(join(dir, 'log.json'), 'utf8'));
    assert.deepEqual(log.map((r: { epoch: number }) => r.epoch), [1]);
    const { model } = await loadCheckpoint(ckpt);
    const out = model.predict(tf.zeros([1, ...TINY_INPUT])) as tf.Tensor;
    assert.ok(Array.from(await out.data()).every(Number.isFinite), 'the kept checkpoint still predicts finite values');
    tf.dispose(out);
    model.dispose();
  } finally {
    cleanup();
  }
});
