/**
 * Keras 2 HDF5 files: a round trip of a small ResNet-50 with non-trivial BatchNorm statistics, the file's structure
 * checked independently of our reader (h5wasm directly, and h5py when the system has it) against Keras's naming
 * conventions, `resnet convert` both ways, `.h5` through `loadModel`/`predict`, and every bad input (one-line error
 * naming the file, non-zero exit, no output left behind).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import sharp from 'sharp';
import { ResNet50 } from '../src/model/index.js';
import { loadKerasH5, loadKerasH5Weights, saveKerasH5, saveKerasH5Weights } from '../src/io/keras_h5.js';
import { loadModel, predict, saveModel } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import { CLI } from './train-fixtures.js';
import { mulberry32 } from '../src/data/random.js';

tf.env().set('IS_TEST', true);

const dir = mkdtempSync(path.join(tmpdir(), 'resnet-keras-h5-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const CLASSES = ['zero', 'one', 'two', 'three', 'four', 'five'];
const INPUT: [number, number, number] = [40, 40, 3];

/** A seeded uniform generator in [0, 1), so failures reproduce. */
const rng = mulberry32;

/** A small ResNet-50 whose every weight is random, BatchNorm moving statistics included (variances in [0.5, 1.5]). */
function randomModel(seed: number): tf.LayersModel {
  const model = ResNet50({ inputShape: INPUT, classes: CLASSES.length, widthDivisor: 16 });
  const r = rng(seed);
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((w) => {
      const n = w.shape.reduce((a, b) => (a ?? 1) * (b ?? 1), 1) as number;
      const v = new Float32Array(n);
      const variance = w.originalName.endsWith('moving_variance');
      for (let i = 0; i < n; i++) v[i] = variance ? 0.5 + r() : (r() - 0.5) * 0.4;
      return tf.tensor(v, w.shape as number[]);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
  model.setUserDefinedMetadata({ classes: CLASSES, inputShape: INPUT, arch: 'resnet50' });
  return model;
}

/** Every weight of `model`, keyed `<layer>/<index>`, as plain arrays. */
function weightMap(model: tf.LayersModel): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const layer of model.layers) layer.weights.forEach((w, i) => out.set(`${layer.name}/${i}`, w.read().dataSync() as Float32Array));
  return out;
}

function assertSameWeights(a: tf.LayersModel, b: tf.LayersModel): void {
  const wa = weightMap(a);
  const wb = weightMap(b);
  assert.deepEqual([...wb.keys()], [...wa.keys()]);
  for (const [k, v] of wa) assert.deepEqual(wb.get(k), v, `weight ${k}`);
}

/** Class-score predictions of `model` on a fixed random batch. */
function predictions(model: tf.LayersModel): Float32Array {
  return tf.tidy(() => (model.predict(tf.randomUniform([3, ...INPUT], 0, 1, 'float32', 7)) as tf.Tensor).dataSync() as Float32Array);
}

/** What Keras 2 would name and shape the weights of a layer, from the layer's class and configuration alone. */
function kerasExpectedWeights(layer: tf.layers.Layer): Array<{ name: string; shape: number[] }> {
  const cfg = layer.getConfig();
  // The size of the last axis of the layer's (single) input; only asked of the layers with weights.
  const channelsIn = (): number => {
    const shape = (layer.input as tf.SymbolicTensor).shape;
    return shape[shape.length - 1] as number;
  };
  const w = (short: string, shape: number[]) => ({ name: `${layer.name}/${short}:0`, shape });
  switch (layer.getClassName()) {
    case 'Conv2D': {
      const [kh, kw] = cfg.kernelSize as number[];
      const filters = cfg.filters as number;
      return [w('kernel', [kh, kw, channelsIn(), filters]), ...(cfg.useBias ? [w('bias', [filters])] : [])];
    }
    case 'Dense': {
      const units = cfg.units as number;
      return [w('kernel', [channelsIn(), units]), ...(cfg.useBias ? [w('bias', [units])] : [])];
    }
    case 'BatchNormalization': {
      const inChannels = channelsIn();
      // Keras: trainable weights (gamma if scale, beta if center) first, then the moving statistics.
      return [
        ...(cfg.scale ? [w('gamma', [inChannels])] : []),
        ...(cfg.center ? [w('beta', [inChannels])] : []),
        w('moving_mean', [inChannels]),
        w('moving_variance', [inChannels]),
      ];
    }
    default:
      return [];
  }
}

/** A list-of-names attribute as h5wasm reads it (an empty Keras list is an empty float64 array). */
function nameList(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') return [v];
  return [];
}

const model = randomModel(1);
const h5Path = path.join(dir, 'resnet50.h5');

test('saveKerasH5 -> loadKerasH5 gives identical weights, predictions and metadata', async () => {
  await saveKerasH5(model, h5Path);
  assert.deepEqual(readdirSync(dir), ['resnet50.h5'], 'no temporary file left');
  const loaded = await loadKerasH5(h5Path);
  try {
    assert.deepEqual(
      loaded.layers.map((l) => [l.name, l.getClassName()]),
      model.layers.map((l) => [l.name, l.getClassName()]),
    );
    assertSameWeights(model, loaded);
    // BatchNorm statistics really are non-trivial, so inference depends on them being restored.
    const mv = loaded.getLayer('bn_conv1').weights[3].read().dataSync();
    assert.ok(mv.some((x) => Math.abs(x - 1) > 0.1));
    assert.deepEqual(predictions(loaded), predictions(model));
    assert.deepEqual(loaded.getUserDefinedMetadata(), { classes: CLASSES, inputShape: INPUT, arch: 'resnet50' });
  } finally {
    loaded.dispose();
  }
});

test('the file has the Keras 2 layout (read with h5wasm directly)', async () => {
  await h5wasm.ready;
  const f = new h5wasm.File(h5Path, 'r');
  try {
    assert.match(String(f.attrs.keras_version.value), /^2\.\d+\.\d+$/);
    assert.equal(f.attrs.backend.value, 'tensorflow');
    const config = JSON.parse(String(f.attrs.model_config.value)) as {
      class_name: string;
      config: { layers: Array<{ name: string; class_name: string; config: Record<string, unknown> }>; input_layers: unknown; output_layers: unknown };
    };
    assert.equal(config.class_name, 'Functional');
    assert.deepEqual(
      config.config.layers.map((l) => [l.name, l.class_name]),
      model.layers.map((l) => [l.name, l.getClassName()]),
    );
    // Keras's snake_case keys, not tfjs's camelCase.
    const conv1 = config.config.layers.find((l) => l.name === 'conv1');
    assert.ok(conv1 !== undefined && 'kernel_size' in conv1.config && !('kernelSize' in conv1.config));
    assert.deepEqual(config.config.output_layers, [['fc6', 0, 0]]);
    assert.deepEqual(JSON.parse(String(f.attrs.resnet_metadata.value)).classes, CLASSES);

    const mw = f.get('model_weights') as InstanceType<typeof h5wasm.Group>;
    assert.ok(mw instanceof h5wasm.Group);
    assert.deepEqual(nameList(mw.attrs.layer_names.value), model.layers.map((l) => l.name));
    assert.equal(mw.attrs.backend.value, 'tensorflow');
    let datasets = 0;
    for (const layer of model.layers) {
      const g = mw.get(layer.name) as InstanceType<typeof h5wasm.Group>;
      assert.ok(g instanceof h5wasm.Group, `group ${layer.name}`);
      const expected = kerasExpectedWeights(layer);
      assert.deepEqual(nameList(g.attrs.weight_names.value), expected.map((e) => e.name), `weight_names of ${layer.name}`);
      expected.forEach((e, i) => {
        const d = f.get(`model_weights/${layer.name}/${e.name}`) as InstanceType<typeof h5wasm.Dataset>;
        assert.ok(d instanceof h5wasm.Dataset, `dataset model_weights/${layer.name}/${e.name}`);
        assert.deepEqual(d.shape, e.shape, `shape of ${e.name}`);
        assert.equal(d.metadata.type, 1, 'float class');
        assert.equal(d.metadata.size, 4, 'float32');
        assert.deepEqual(d.value, layer.weights[i].read().dataSync(), `values of ${e.name}`);
        datasets++;
      });
    }
    // 53 convolutions (bias each), 53 BatchNorms, 1 dense layer: 53*2 + 53*4 + 2.
    assert.equal(datasets, 53 * 2 + 53 * 4 + 2);
    const top = mw.get('top_level_model_weights') as InstanceType<typeof h5wasm.Group>;
    assert.deepEqual(nameList(top.attrs.weight_names.value), []);
  } finally {
    f.close();
  }
});

const PYTHON = '/usr/bin/python3';
const hasH5py = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import h5py'], { stdio: 'ignore' }).status === 0;

test('h5py reads the names and shapes Keras expects (only where python3-h5py is installed)', { skip: hasH5py ? false : 'python3 h5py not installed' }, () => {
  // The same reading Keras's load_attributes_from_hdf5_group does: decode bytes, accept str.
  const script = `
import h5py, json, sys
dec = lambda n: n.decode('utf8') if hasattr(n, 'decode') else n
f = h5py.File(sys.argv[1], 'r')
mw = f['model_weights']
out = {'root': {k: dec(f.attrs[k]) for k in ('keras_version', 'backend')},
       'model_config_class': json.loads(dec(f.attrs['model_config']))['class_name'],
       'layer_names': [dec(n) for n in mw.attrs['layer_names']], 'weights': {}}
for name in out['layer_names']:
    g = mw[name]
    out['weights'][name] = [[dec(w), list(g[dec(w)].shape), str(g[dec(w)].dtype)] for w in g.attrs['weight_names']]
print(json.dumps(out))
`;
  const r = spawnSync(PYTHON, ['-c', script, h5Path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { root: Record<string, string>; model_config_class: string; layer_names: string[]; weights: Record<string, Array<[string, number[], string]>> };
  assert.equal(got.root.backend, 'tensorflow');
  assert.match(got.root.keras_version, /^2\./);
  assert.equal(got.model_config_class, 'Functional');
  assert.deepEqual(got.layer_names, model.layers.map((l) => l.name));
  for (const layer of model.layers) {
    assert.deepEqual(
      got.weights[layer.name],
      kerasExpectedWeights(layer).map((e) => [e.name, e.shape, 'float32']),
      `weights of ${layer.name}`,
    );
  }
});

test('weights-only files: saveKerasH5Weights -> loadKerasH5Weights; a model file also serves as weights', async () => {
  const weightsPath = path.join(dir, 'weights-only.h5');
  await saveKerasH5Weights(model, weightsPath);
  await h5wasm.ready;
  const f = new h5wasm.File(weightsPath, 'r');
  try {
    assert.ok(!('model_config' in f.attrs));
    assert.deepEqual(nameList(f.attrs.layer_names.value), model.layers.map((l) => l.name));
    assert.deepEqual((f.get('conv1/conv1/kernel:0') as InstanceType<typeof h5wasm.Dataset>).shape, [7, 7, 3, 4]);
  } finally {
    f.close();
  }
  for (const file of [weightsPath, h5Path]) {
    const fresh = ResNet50({ inputShape: INPUT, classes: CLASSES.length, widthDivisor: 16 });
    await loadKerasH5Weights(fresh, file);
    assertSameWeights(model, fresh);
    fresh.dispose();
  }
});

test('loadKerasH5Weights: a layer of the file that the model lacks is a one-line error, and the model is untouched', async () => {
  const input = tf.input({ shape: [4] });
  const other = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, name: 'extra_dense' }).apply(input) as tf.SymbolicTensor });
  const otherPath = path.join(dir, 'other-weights.h5');
  await saveKerasH5Weights(other, otherPath);
  const target = randomModel(2);
  const before = weightMap(target);
  await assert.rejects(loadKerasH5Weights(target, otherPath), (err: Error) => {
    assert.equal(err.message.split('\n').length, 1);
    assert.ok(err.message.startsWith(`${otherPath}: `), err.message);
    assert.match(err.message, /layer 'extra_dense' in the file is not in the model/);
    return true;
  });
  const after = weightMap(target);
  for (const [k, v] of before) assert.deepEqual(after.get(k), v, `weight ${k} untouched`);
  target.dispose();
  other.dispose();
});


test('resnet convert: tfjs folder -> .h5 -> tfjs folder keeps weights, predictions and class names', async () => {
  const tfjsDir = path.join(dir, 'tfjs-model');
  await saveModel(model, tfjsDir, { classes: CLASSES });
  const outH5 = path.join(dir, 'converted.h5');
  const a = await runCaptured(['convert', '--model', tfjsDir, '--out', outH5, '--backend', 'cpu']);
  assert.equal(a.code, 0, a.err);
  assert.match(a.out, /converted\.h5 \(Keras 2 HDF5/);
  const back = path.join(dir, 'back-to-tfjs');
  const b = await runCaptured(['convert', '--model', outH5, '--out', back, '--backend', 'cpu']);
  assert.equal(b.code, 0, b.err);
  assert.ok(existsSync(path.join(back, 'model.json')) && existsSync(path.join(back, 'weights.bin')));
  for (const p of [outH5, back]) {
    const m = await loadModel(p); // loadModel also reads .h5 files
    assertSameWeights(model, m);
    assert.deepEqual(predictions(m), predictions(model));
    assert.deepEqual((m.getUserDefinedMetadata() as { classes?: string[] }).classes, CLASSES);
    m.dispose();
  }
});

test('predict accepts a .h5 model and names the classes from its metadata', async () => {
  const png = path.join(dir, 'image.png');
  const pixels = Buffer.alloc(40 * 40 * 3);
  const r = rng(3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(r() * 256);
  await sharp(pixels, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(png);
  const [result] = await predict({ model: h5Path, images: [png], topK: 2, backend: 'cpu' });
  assert.equal(result.top.length, 2);
  for (const t of result.top) assert.equal(t.class, CLASSES[t.index]);
});

/** Asserts a failed convert: exit code 1, one `resnet:` line naming `file`, and nothing at (or beside) `out`. */
async function assertConvertFails(model: string, out: string, problem: RegExp, file = model): Promise<void> {
  const outDir = path.dirname(out);
  const before = existsSync(outDir) ? readdirSync(outDir).sort() : [];
  const r = await runCaptured(['convert', '--model', model, '--out', out, '--backend', 'cpu']);
  assert.equal(r.code, 1, r.err);
  const lines = r.err.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, r.err);
  assert.ok(lines[0].startsWith(`resnet: ${file}: `), lines[0]);
  assert.match(lines[0], problem);
  assert.equal(r.out, '');
  assert.ok(!existsSync(out), `${out} must not exist`);
  assert.deepEqual(existsSync(outDir) ? readdirSync(outDir).sort() : [], before, 'no temporary left behind');
}

test('convert errors: missing file, not HDF5, no model_config, a weights layer the model lacks', async () => {
  const errDir = path.join(dir, 'errors');
  rmSync(errDir, { recursive: true, force: true });
  // Missing input, to either format.
  await assertConvertFails(path.join(errDir, 'missing.h5'), path.join(dir, 'out-missing'), /no such file/);
  // A text file named .h5.
  const notH5 = path.join(dir, 'not-hdf5.h5');
  writeFileSync(notH5, 'this is not an HDF5 file\n'.repeat(40));
  await assertConvertFails(notH5, path.join(dir, 'out-not-h5'), /not an HDF5 file/);
  // A weights-only file has no model_config.
  const weightsOnly = path.join(dir, 'weights-only-for-cli.h5');
  await saveKerasH5Weights(model, weightsOnly);
  await assertConvertFails(weightsOnly, path.join(dir, 'out-no-config'), /no model_config/);
  // A model file whose model_weights holds a layer that model_config does not: add one with h5wasm.
  const extra = path.join(dir, 'extra-layer.h5');
  await saveKerasH5(model, extra);
  await h5wasm.ready;
  const f = new h5wasm.File(extra, 'a');
  try {
    const mw = f.get('model_weights') as InstanceType<typeof h5wasm.Group>;
    const names = nameList(mw.attrs.layer_names.value);
    mw.delete_attribute('layer_names');
    mw.create_attribute('layer_names', [...names, 'ghost_dense'], [names.length + 1], 'A');
    const g = mw.create_group('ghost_dense');
    g.create_attribute('weight_names', ['ghost_dense/kernel:0'], [1], 'A');
    g.create_group('ghost_dense').create_dataset({ name: 'kernel:0', data: new Float32Array(6), shape: [2, 3], dtype: '<f' });
  } finally {
    f.close();
  }
  await assertConvertFails(extra, path.join(dir, 'out-extra'), /layer 'ghost_dense' in the file is not in the model/);
  // A bad model, to an .h5 output: no .h5 appears.
  await assertConvertFails(notH5, path.join(dir, 'out-bad.h5'), /not an HDF5 file/);
});

test('loadKerasH5Weights: a shape mismatch is a one-line error naming the file and the weight', async () => {
  const wider = ResNet50({ inputShape: INPUT, classes: CLASSES.length, widthDivisor: 8 });
  await assert.rejects(loadKerasH5Weights(wider, h5Path), (err: Error) => {
    assert.equal(err.message, `${h5Path}: weight 'conv1/kernel:0' has shape [7, 7, 3, 4] in the file, the model expects [7, 7, 3, 8]`);
    return true;
  });
  wider.dispose();
});

/**
 * Runs `resnet convert` in a child process (so that anything the HDF5 library prints to stderr is seen), optionally
 * as another user, and returns its exit code and full output.
 */
function convertInChild(modelDir: string, out: string, asUser?: { uid: number; gid: number }): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'convert', '--model', modelDir, '--out', out, '--backend', 'cpu'], {
    encoding: 'utf8',
    timeout: 120_000,
    ...(asUser ?? {}),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Asserts a clean failure: exit 1, nothing on stdout, exactly one stderr line `resnet: <out>: …` matching `reason`. */
function assertOneLineFailure(r: { code: number | null; stdout: string; stderr: string }, out: string, reason: RegExp): void {
  assert.doesNotMatch(r.stderr, /HDF5-DIAG/);
  assert.equal(r.code, 1, r.stderr.slice(0, 2000));
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter((l) => l.length > 0 && !/tfjs-node|TensorFlow\.js in Node|^=+$/.test(l));
  assert.equal(lines.length, 1, r.stderr.slice(0, 2000));
  assert.ok(lines[0].startsWith(`resnet: ${out}: `), lines[0]);
  assert.match(lines[0], reason);
}

test('convert to an unwritable .h5 destination: one line naming it, exit 1, no HDF5-DIAG flood, no temporary left', async () => {
  const tiny = path.join(dir, 'unwritable-src');
  const input = tf.input({ shape: [4] });
  const small = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(input) as tf.SymbolicTensor });
  await saveModel(small, tiny);
  small.dispose();

  // /proc: not even root may create a file there.
  const procOut = '/proc/resnet-test-x.h5';
  assertOneLineFailure(convertInChild(tiny, procOut), procOut, /cannot write the Keras HDF5 file: /);
  assert.deepEqual(readdirSync('/proc').filter((n) => n.startsWith('.tmp-')), []);
  await assert.rejects(saveKerasH5(model, procOut), (e: Error) => e.message.startsWith(`${procOut}: cannot write the Keras HDF5 file: `) && !e.message.includes('\n'));

  // A folder that cannot exist: its would-be parent is a file.
  const blocker = path.join(dir, 'a-file');
  writeFileSync(blocker, 'not a folder\n');
  const underFile = path.join(blocker, 'sub', 'x.h5');
  assertOneLineFailure(convertInChild(tiny, underFile), underFile, /a-file is not a folder/);
  assert.equal(readFileSync(blocker, 'utf8'), 'not a folder\n');

  // A read-only folder, as a user who may not write there (as root: run the child as nobody, whom chmod binds).
  const readOnly = path.join(dir, 'read-only');
  mkdirSync(readOnly);
  chmodSync(readOnly, 0o555);
  chmodSync(dir, 0o755); // mkdtemp made it 0700; the other user must be able to read the model
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
  const roOut = path.join(readOnly, 'x.h5');
  assertOneLineFailure(convertInChild(tiny, roOut, asUser), roOut, /permission denied/);
  assert.deepEqual(readdirSync(readOnly), []);
});

test('an .h5 destination that is not an HDF5 file is never replaced: TargetInUseError, convert exits 2; an old model file is', async () => {
  const tiny = path.join(dir, 'replace-src');
  const input = tf.input({ shape: [4] });
  const small = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(input) as tf.SymbolicTensor });
  await saveModel(small, tiny);

  const notes = path.join(dir, 'notes.h5');
  writeFileSync(notes, 'my notes, not a model\n');
  await assert.rejects(saveKerasH5(small, notes), (e: Error) => e.name === 'TargetInUseError' && e.message === `${notes}: exists and is not an HDF5 file; not replaced`);
  await assert.rejects(saveKerasH5Weights(small, notes), (e: Error) => e.name === 'TargetInUseError');
  const r = await runCaptured(['convert', '--model', tiny, '--out', notes, '--backend', 'cpu']);
  assert.equal(r.code, 2);
  assert.equal(r.err, `resnet: ${notes}: exists and is not an HDF5 file; not replaced; choose another --out\n`);
  assert.equal(readFileSync(notes, 'utf8'), 'my notes, not a model\n');

  const folder = path.join(dir, 'folder.h5');
  mkdirSync(folder);
  writeFileSync(path.join(folder, 'keep.txt'), 'x');
  const f = await runCaptured(['convert', '--model', tiny, '--out', folder, '--backend', 'cpu']);
  assert.equal(f.code, 2);
  assert.match(f.err, /folder\.h5: is a folder, not a file; choose another --out\n$/);
  assert.deepEqual(readdirSync(folder), ['keep.txt']);

  // A Keras file written before is replaced by the new model: its weights are the new ones.
  const kept = path.join(dir, 'replaced.h5');
  await saveKerasH5(small, kept);
  const other = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, kernelInitializer: 'ones' }).apply(input) as tf.SymbolicTensor });
  await saveKerasH5(other, kept);
  const back = await loadKerasH5(kept);
  assert.deepEqual(Array.from(back.getWeights()[0].dataSync()), new Array(8).fill(1));
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.tmp-')), []);
  for (const m of [small, other, back]) m.dispose();
});
