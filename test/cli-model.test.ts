/**
 * `resnet summary` and `resnet plot`, through `run(argv)`: their output, their files, and their errors (one line,
 * exit code 2, no file left behind); of a model they build from `--arch` and the rest, or of a saved one (`--model`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { saveKerasH5 } from '../src/io/keras_h5.js';
import { buildResNet } from '../src/model/index.js';
import { saveModel } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';

tf.env().set('IS_TEST', true);


const dir = mkdtempSync(path.join(tmpdir(), 'resnet-cli-model-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('summary prints the Keras-style table and the spec totals', async () => {
  const { code, out } = await runCaptured(['summary']);
  assert.equal(code, 0);
  assert.match(out, /^Model: "ResNet50"/);
  assert.match(out, /Layer \(type\) +Output Shape +Param # +Connected to/);
  assert.match(out, /\n conv1 \(Conv2D\) +\(None, 32, 32, 64\) +9,472 +\S+\[0\]\[0\]\n/);
  // The first Add receives the main path and the shortcut, one per line.
  assert.match(out, / \(Add\) +\(None, 15, 15, 256\) +0 +bn2a_branch2c\[0\]\[0\]\n +bn2a_branch1\[0\]\[0\]\n/);
  assert.match(out, /\n fc6 \(Dense\) +\(None, 6\) +12,294 +\S+/);
  assert.ok(out.includes('Total params: 23,600,006\n'));
  assert.ok(out.includes('Trainable params: 23,546,886\n'));
  assert.ok(out.includes('Non-trainable params: 53,120\n'));
});

test('summary options: architecture, input, classes, no top', async () => {
  const r = await runCaptured(['summary', '--arch', 'resnet18', '--input', '48,40,1', '--classes', '10']);
  assert.equal(r.code, 0);
  assert.match(r.out, /^Model: "ResNet18"/);
  assert.match(r.out, / input_1 \(InputLayer\) +\(None, 48, 40, 1\)/);
  assert.match(r.out, / fc10 \(Dense\) +\(None, 10\)/);
  // Without the top, ResNet-50 loses fc6's 2048 * 6 + 6 = 12,294 parameters.
  const noTop = await runCaptured(['summary', '--no-top']);
  assert.equal(noTop.code, 0);
  assert.ok(noTop.out.includes('Total params: 23,587,712\n'));
  assert.doesNotMatch(noTop.out, /avg_pool|fc6/);
  const pooled = await runCaptured(['summary', '--no-top', '--pooling', 'avg', '--width-divisor', '16']);
  assert.equal(pooled.code, 0);
  assert.match(pooled.out, / avg_pool \(GlobalAveragePooling2D\) +\(None, 128\)/);
});

test('summary usage errors exit 2 with one line', async () => {
  const cases: [string[], RegExp][] = [
    [['summary', '--bogus'], /unknown option '--bogus'/],
    [['summary', '--arch', 'nope'], /^resnet: --arch 'nope': allowed choices are resnet18, resnet34, resnet50, resnet101, resnet152/],
    [['summary', '--input', '64,64'], /expected height,width,channels/],
    [['summary', '--classes', '1'], /^resnet: --classes: expected an integer of at least 2 \(a softmax over one class always outputs 1\), got '1' \(see resnet summary --help\)$/],
    [['summary', '--classes', '0'], /^resnet: --classes: expected an integer of at least 2 .*, got '0'/],
    [['summary', '--classes', '-1'], /^resnet: --classes: expected an integer of at least 2 .*, got '-1'/],
    [['summary', '--classes', '2.5'], /^resnet: --classes: expected an integer of at least 2 .*, got '2\.5'/],
    [['plot', '--out', path.join(dir, 'one.svg'), '--classes', '1'], /^resnet: --classes: expected an integer of at least 2 .*, got '1' \(see resnet plot --help\)$/],
    [['summary', '--input', '20,20,3'], /^resnet: ResNet50: input 20x20 is too small; the smallest input that works is 37x37/],
    [['summary', '--pooling', 'avg'], /pooling applies only with includeTop: false/],
  ];
  for (const [argv, message] of cases) {
    const { code, out, err } = await runCaptured(argv);
    assert.equal(code, 2, argv.join(' '));
    assert.equal(out, '', argv.join(' '));
    assert.match(err.split('\n')[0], message, argv.join(' '));
  }
});

test('help for the program and each command exits 0', async () => {
  for (const argv of [['--help'], ['summary', '--help'], ['plot', '--help']]) {
    const { code, out } = await runCaptured(argv);
    assert.equal(code, 0, argv.join(' '));
    assert.match(out, /Usage: resnet/);
  }
  const plotHelp = await runCaptured(['plot', '--help']);
  for (const option of ['--out', '--format', '--rankdir', '--arch', '--input', '--classes', '--no-top']) {
    assert.ok(plotHelp.out.includes(option), option);
  }
});

test('plot writes a valid SVG with every layer and each block in a labelled cluster', async () => {
  const file = path.join(dir, 'model.svg');
  const { code } = await runCaptured(['plot', '--out', file]);
  assert.equal(code, 0);
  const svg = readFileSync(file, 'utf8');
  assert.match(svg, /^<\?xml[^]*<svg [^]*<\/svg>\s*$/);
  for (const name of ['conv1', 'bn_conv1', 'res2a_branch2a', 'res2a_branch1', 'bn5c_branch2c', 'avg_pool', 'fc6']) {
    assert.match(svg, new RegExp(`>${name}<`), name);
  }
  assert.ok(svg.includes('stage 2 block a (convolutional)'));
  assert.ok(svg.includes('stage 4 block f (identity)'));
  assert.ok(svg.includes('(None, 15, 15, 256)'));
  // 16 blocks and stage 1, each a cluster.
  assert.equal(svg.match(/<g id="clust\d+" class="cluster">/g)?.length, 17);
  assert.deepEqual(readdirSync(dir), ['model.svg'], 'no temporary file left');
  rmSync(file);
});

test('plot writes PNG by extension or --format, left to right on request', async () => {
  const file = path.join(dir, 'small.png');
  const r = await runCaptured(['plot', '--out', file, '--arch', 'resnet18', '--width-divisor', '16', '--rankdir', 'LR']);
  assert.equal(r.code, 0);
  assert.deepEqual([...readFileSync(file).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const svgFile = path.join(dir, 'drawing.img');
  assert.equal((await runCaptured(['plot', '--out', svgFile, '--format', 'svg', '--arch', 'resnet18'])).code, 0);
  assert.match(readFileSync(svgFile, 'utf8'), /<svg /);
  rmSync(file);
  rmSync(svgFile);
});

test('plot scales a PNG down to fit the rasteriser: ResNet-152 top to bottom is over 32,767 points tall', async () => {
  const file = path.join(dir, 'tall.png');
  const r = await runCaptured(['plot', '--out', file, '--arch', 'resnet152', '--width-divisor', '32']);
  assert.equal(r.code, 0, r.err);
  const { default: sharp } = await import('sharp');
  const { width, height, format } = await sharp(file, { limitInputPixels: false }).metadata();
  assert.equal(format, 'png');
  assert.equal(height, 32_000);
  assert.ok(width! > 100 && width! < height!, `${width}x${height}`);
  rmSync(file);
});

test('plot errors exit 2 and write nothing', async () => {
  const cases: [string[], RegExp][] = [
    [['plot'], /required option '--out <file>' not specified/],
    [['plot', '--out', path.join(dir, 'x.jpg')], /x\.jpg: cannot tell the format from the extension '\.jpg'/],
    [['plot', '--out', path.join(dir, 'conflict.svg'), '--format', 'png'], /conflict\.svg: the extension '\.svg' contradicts --format png; use a \.png file or --format svg/],
    [['plot', '--out', path.join(dir, 'conflict.PNG'), '--format', 'svg'], /conflict\.PNG: the extension '\.PNG' contradicts --format svg; use a \.svg file or --format png/],
    [['plot', '--out', path.join(dir, 'conflict.jpg'), '--format', 'png'], /conflict\.jpg: the extension '\.jpg' contradicts --format png/],
    [['plot', '--out', path.join(dir, 'x.svg'), '--format', 'pdf'], /^resnet: --format 'pdf': allowed choices are svg, png/],
    [['plot', '--out', path.join(dir, 'x.svg'), '--rankdir', 'BT'], /^resnet: --rankdir 'BT': allowed choices are TB, LR/],
    [['plot', '--out', path.join(dir, 'x.svg'), '--input', '8,8,3'], /too small; the smallest input that works is 37x37/],
  ];
  for (const [argv, message] of cases) {
    const { code, err } = await runCaptured(argv);
    assert.equal(code, 2, argv.join(' '));
    assert.match(err.split('\n')[0], message, argv.join(' '));
  }
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(existsSync(path.join(dir, 'missing')), false);
});

test('plot creates missing parent folders, as convert does', async () => {
  const file = path.join(dir, 'new', 'deeper', 'graph.svg');
  const r = await runCaptured(['plot', '--out', file, '--arch', 'resnet18', '--width-divisor', '16']);
  assert.equal(r.code, 0, r.err);
  assert.match(readFileSync(file, 'utf8'), /<svg /);
  assert.deepEqual(readdirSync(path.dirname(file)), ['graph.svg']);
  rmSync(path.join(dir, 'new'), { recursive: true });
});

test('plot to an unwritable place: one line naming the file, exit 1, nothing left behind', async () => {
  const blocker = path.join(dir, 'a-file');
  writeFileSync(blocker, 'not a folder\n');
  const cases: [string, RegExp][] = [
    [path.join(blocker, 'sub', 'x.svg'), /a-file is not a folder/],
    ['/proc/resnet-plot-test.svg', /no such file or directory|permission denied/],
  ];
  for (const [file, reason] of cases) {
    const { code, err, out } = await runCaptured(['plot', '--out', file, '--arch', 'resnet18', '--width-divisor', '16']);
    assert.equal(code, 1, err);
    assert.equal(out, '');
    assert.equal(err.split('\n').filter((l) => l.length > 0).length, 1, err);
    assert.ok(err.startsWith(`resnet: ${file}: cannot write: `), err);
    assert.match(err, reason);
  }
  assert.deepEqual(readdirSync(dir), ['a-file']);
  assert.deepEqual(readdirSync('/proc').filter((n) => n.startsWith('.tmp-')), []);
  rmSync(blocker);
});

/** A tiny ResNet-18 (3 classes, 40x40 input) saved as a tfjs model folder and as a Keras .h5 file. */
async function savedTinyModel(): Promise<{ model: tf.LayersModel; folder: string; h5: string; cleanup: () => void }> {
  await initBackend('cpu');
  const root = mkdtempSync(path.join(tmpdir(), 'resnet-cli-saved-'));
  const model = buildResNet('resnet18', { inputShape: [40, 40, 3], classes: 3, widthDivisor: 16 });
  const folder = path.join(root, 'saved');
  const h5 = path.join(root, 'tiny.h5');
  await saveModel(model, folder, { classes: ['a', 'b', 'c'] });
  await saveKerasH5(model, h5);
  return { model, folder, h5, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** 12345 as '12,345', as Keras prints counts. */
function withCommas(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+$)/g, ',');
}

test('summary --model: a saved model (folder, model.json, Keras .h5) is summarised as it is, layer by layer', async () => {
  const { model, folder, h5, cleanup } = await savedTinyModel();
  try {
    const size = (ws: tf.LayerVariable[]) => ws.reduce((n, w) => n + w.shape.reduce<number>((a, b) => a * (b ?? 0), 1), 0);
    for (const given of [folder, path.join(folder, 'model.json'), h5]) {
      const { code, out, err } = await runCaptured(['summary', '--model', given]);
      assert.equal(code, 0, err);
      assert.match(out, new RegExp(`^Model: "${model.name}"\n`), given);
      // One row per layer, in order, each with its name and class.
      const rows = [...out.matchAll(/^ (\S+) \((\w+)\) +\(/gm)].map((m) => [m[1], m[2]]);
      assert.deepEqual(rows, model.layers.map((l) => [l.name, l.getClassName()]), given);
      assert.ok(out.includes(`Total params: ${withCommas(model.countParams())}\n`), given);
      assert.ok(out.includes(`Trainable params: ${withCommas(size(model.trainableWeights))}\n`), given);
      // The saved input shape and class count, not the --arch defaults (64x64 input, 6 classes).
      assert.match(out, / input_1 \(InputLayer\) +\(None, 40, 40, 3\)/, given);
      assert.match(out, / fc3 \(Dense\) +\(None, 3\)/, given);
    }
    const missing = path.join(dir, 'no-such-model');
    const r = await runCaptured(['summary', '--model', missing]);
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
    assert.equal(r.err, `resnet: ${missing}: no such model folder\n`);
  } finally {
    model.dispose();
    cleanup();
  }
});

test('plot --model: draws a saved model, every layer of it', async () => {
  const { model, folder, cleanup } = await savedTinyModel();
  try {
    const file = path.join(dir, 'saved.svg');
    const r = await runCaptured(['plot', '--model', folder, '--out', file]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `wrote ${file} (svg, ${model.layers.length} layers)\n`);
    const svg = readFileSync(file, 'utf8');
    assert.match(svg, /^<\?xml[^]*<svg [^]*<\/svg>\s*$/);
    for (const layer of model.layers) assert.match(svg, new RegExp(`>${layer.name}<`), layer.name);
    assert.ok(svg.includes('(None, 40, 40, 3)'));
    rmSync(file);
  } finally {
    model.dispose();
    cleanup();
  }
});

test('--model and the options that build a model exclude each other: one line, exit 2, nothing written', async () => {
  const saved = path.join(dir, 'any-model');
  const out = path.join(dir, 'never.svg');
  const cases: [string[], string][] = [
    [['summary', '--model', saved, '--arch', 'resnet18'], '--arch'],
    [['summary', '--arch', 'resnet50', '--model', saved], '--arch'],
    [['summary', '--model', saved, '--input', '64,64,3'], '--input'],
    [['summary', '--model', saved, '--classes', '6'], '--classes'],
    [['summary', '--model', saved, '--no-top'], '--no-top'],
    [['summary', '--model', saved, '--width-divisor', '16'], '--width-divisor'],
    [['plot', '--model', saved, '--out', out, '--arch', 'resnet18'], '--arch'],
    [['plot', '--model', saved, '--out', out, '--input', '40,40,3', '--classes', '3'], '--input'],
  ];
  for (const [argv, option] of cases) {
    const r = await runCaptured(argv);
    const command = argv[0];
    assert.equal(r.code, 2, argv.join(' '));
    assert.equal(r.out, '', argv.join(' '));
    assert.equal(
      r.err,
      `resnet: --model and ${option} cannot be used together: a saved model is shown as it was built (see resnet ${command} --help)\n`,
      argv.join(' '),
    );
  }
  const lone = await runCaptured(['summary', '--checkpoint', 'best']);
  assert.equal(lone.code, 2);
  assert.equal(lone.err, 'resnet: --checkpoint applies only with --model (a training run folder) (see resnet summary --help)\n');
  assert.deepEqual(readdirSync(dir), []);
});
