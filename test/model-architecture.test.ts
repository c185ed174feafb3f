/**
 * ResNet-50 against the spec, layer by layer, and the rest of the family against their definitions.
 *
 * The expected tables are written from the spec's text (its description of the identity block, the convolutional
 * block and the ResNet-50 stages), never from the code's output. Sizes are derived by hand for a 64x64x3 input:
 * zero padding (3,3) gives 70; conv1 7x7 stride 2 valid gives floor((70 - 7) / 2) + 1 = 32; the 3x3 stride 2 max
 * pooling gives floor((32 - 3) / 2) + 1 = 15; stage 2 (s = 1) keeps 15; stages 3, 4, 5 (1x1 valid convolutions of
 * stride 2) give floor((15 - 1) / 2) + 1 = 8, then 4, then 2; the 2x2 avg_pool gives 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  ResNet50,
  ResNet18,
  ResNet34,
  ResNet101,
  ResNet152,
  buildResNet,
  ARCH_NAMES,
  countParams,
  describeLayers,
  modelToDot,
} from '../src/model/index.js';

await tf.setBackend('cpu');
tf.env().set('IS_TEST', true); // silence the "install tfjs-node" banner

/** One expected layer: an id to refer to it, its inputs (ids), its class, the spec's name and hyperparameters. */
interface Expected {
  id: string;
  inputs: string[];
  cls: string;
  name?: string;
  kernel?: number;
  strides?: number;
  padding?: 'valid' | 'same';
  filters?: number;
  shape: (number | null)[];
}

/** The spec's ResNet-50 for a 64x64x3 input and 6 classes, in the spec's order. */
function specResNet50(): Expected[] {
  const rows: Expected[] = [];
  let last = 'input';
  let channels = 3;
  const push = (e: Omit<Expected, 'inputs'> & { inputs?: string[] }): string => {
    rows.push({ inputs: [last], ...e });
    last = e.id;
    return e.id;
  };
  rows.push({ id: 'input', inputs: [], cls: 'InputLayer', shape: [null, 64, 64, 3] });

  // Zero-padding pads the input with a pad of (3,3).
  push({ id: 'pad', cls: 'ZeroPadding2D', shape: [null, 70, 70, 3] });
  // Stage 1: conv1 64 filters 7x7 stride 2; BatchNorm; ReLU; MaxPooling 3x3 stride 2.
  push({ id: 'conv1', name: 'conv1', cls: 'Conv2D', filters: 64, kernel: 7, strides: 2, padding: 'valid', shape: [null, 32, 32, 64] });
  push({ id: 'bn_conv1', name: 'bn_conv1', cls: 'BatchNormalization', shape: [null, 32, 32, 64] });
  push({ id: 'relu1', cls: 'Activation', shape: [null, 32, 32, 64] });
  push({ id: 'pool1', cls: 'MaxPooling2D', shape: [null, 15, 15, 64] });
  channels = 64;

  /** The spec's identity block (shortcut = the input) or convolutional block (shortcut = 1x1 conv stride s + BN). */
  const block = (stage: number, b: string, f: number, [F1, F2, F3]: number[], s: number | null, inSize: number) => {
    const conv = `res${stage}${b}_branch`;
    const bn = `bn${stage}${b}_branch`;
    const stride = s ?? 1;
    const out = Math.floor((inSize - 1) / stride) + 1;
    const input = last;
    push({ id: conv + '2a', name: conv + '2a', cls: 'Conv2D', filters: F1, kernel: 1, strides: stride, padding: 'valid', shape: [null, out, out, F1] });
    push({ id: bn + '2a', name: bn + '2a', cls: 'BatchNormalization', shape: [null, out, out, F1] });
    push({ id: `relu${stage}${b}_2a`, cls: 'Activation', shape: [null, out, out, F1] });
    push({ id: conv + '2b', name: conv + '2b', cls: 'Conv2D', filters: F2, kernel: f, strides: 1, padding: 'same', shape: [null, out, out, F2] });
    push({ id: bn + '2b', name: bn + '2b', cls: 'BatchNormalization', shape: [null, out, out, F2] });
    push({ id: `relu${stage}${b}_2b`, cls: 'Activation', shape: [null, out, out, F2] });
    push({ id: conv + '2c', name: conv + '2c', cls: 'Conv2D', filters: F3, kernel: 1, strides: 1, padding: 'valid', shape: [null, out, out, F3] });
    const main = push({ id: bn + '2c', name: bn + '2c', cls: 'BatchNormalization', shape: [null, out, out, F3] });
    let shortcut = input;
    if (s !== null) {
      last = input;
      push({ id: conv + '1', name: conv + '1', cls: 'Conv2D', filters: F3, kernel: 1, strides: s, padding: 'valid', shape: [null, out, out, F3] });
      shortcut = push({ id: bn + '1', name: bn + '1', cls: 'BatchNormalization', shape: [null, out, out, F3] });
    } else {
      assert.equal(channels, F3, 'an identity block needs F3 input channels');
    }
    // The shortcut and the main path are added, then a ReLU.
    push({ id: `add${stage}${b}`, inputs: [main, shortcut], cls: 'Add', shape: [null, out, out, F3] });
    push({ id: `relu${stage}${b}`, cls: 'Activation', shape: [null, out, out, F3] });
    channels = F3;
    return out;
  };

  let size = 15;
  // Stage 2: convolutional block [64,64,256], f=3, s=1, 'a'; identity blocks 'b', 'c'.
  size = block(2, 'a', 3, [64, 64, 256], 1, size);
  for (const b of ['b', 'c']) block(2, b, 3, [64, 64, 256], null, size);
  // Stage 3: [128,128,512], s=2, 'a'; 'b', 'c', 'd'.
  size = block(3, 'a', 3, [128, 128, 512], 2, size);
  for (const b of ['b', 'c', 'd']) block(3, b, 3, [128, 128, 512], null, size);
  // Stage 4: [256,256,1024], s=2, 'a'; 'b' to 'f'.
  size = block(4, 'a', 3, [256, 256, 1024], 2, size);
  for (const b of ['b', 'c', 'd', 'e', 'f']) block(4, b, 3, [256, 256, 1024], null, size);
  // Stage 5: [512,512,2048], s=2, 'a'; 'b', 'c'.
  size = block(5, 'a', 3, [512, 512, 2048], 2, size);
  for (const b of ['b', 'c']) block(5, b, 3, [512, 512, 2048], null, size);
  assert.equal(size, 2);

  // AveragePooling2D 2x2 'avg_pool'; Flatten; Dense softmax 'fc' + classes.
  push({ id: 'avg_pool', name: 'avg_pool', cls: 'AveragePooling2D', shape: [null, 1, 1, 2048] });
  push({ id: 'flatten', cls: 'Flatten', shape: [null, 2048] });
  push({ id: 'fc6', name: 'fc6', cls: 'Dense', shape: [null, 6] });
  return rows;
}

/** The names of a layer's inputs within the model. */
function inboundNames(model: tf.LayersModel, layer: tf.layers.Layer): string[] {
  const nodes = new Set(Object.values(model.nodesByDepth).flat());
  return layer.inboundNodes.filter((n) => nodes.has(n)).flatMap((n) => n.inboundLayers.map((l) => l.name));
}

/** Matches every expected row to exactly one layer of the model, following the connections. */
function matchLayers(model: tf.LayersModel, expected: Expected[]): Map<string, tf.layers.Layer> {
  const matched = new Map<string, tf.layers.Layer>();
  for (const e of expected) {
    const inputNames = e.inputs.map((id) => matched.get(id)!.name);
    const candidates = model.layers.filter(
      (l) =>
        l.getClassName() === e.cls &&
        (e.name === undefined || l.name === e.name) &&
        JSON.stringify(inboundNames(model, l)) === JSON.stringify(inputNames),
    );
    assert.equal(candidates.length, 1, `expected one ${e.cls} ${e.name ?? e.id} fed by [${inputNames}], found ${candidates.length}`);
    matched.set(e.id, candidates[0]);
  }
  return matched;
}

test('ResNet50 has every layer of the spec: names, classes, connections, hyperparameters, output shapes', () => {
  const model = ResNet50();
  const expected = specResNet50();
  assert.equal(model.name, 'ResNet50');
  assert.equal(model.layers.length, expected.length, 'no layer more, no layer less');
  const matched = matchLayers(model, expected);
  assert.equal(new Set(matched.values()).size, expected.length);

  for (const e of expected) {
    const layer = matched.get(e.id)!;
    const config = layer.getConfig() as Record<string, unknown>;
    const where = `${e.id} (${layer.name})`;
    assert.deepEqual(layer.outputShape, e.shape, `${where}: output shape`);
    if (e.cls === 'Conv2D') {
      assert.equal(config.filters, e.filters, `${where}: filters`);
      assert.deepEqual(config.kernelSize, [e.kernel, e.kernel], `${where}: kernel size`);
      assert.deepEqual(config.strides, [e.strides, e.strides], `${where}: strides`);
      assert.equal(config.padding, e.padding, `${where}: padding`);
      assert.equal(config.useBias, true, `${where}: bias, as the Keras default`);
      // Glorot uniform is variance scaling with scale 1 over the average fan, uniform; tfjs serialises it so.
      assert.deepEqual(
        config.kernelInitializer,
        { className: 'VarianceScaling', config: { scale: 1, mode: 'fanAvg', distribution: 'uniform', seed: 0 } },
        `${where}: glorot-uniform initialiser with seed 0`,
      );
      // Parameters of a convolution: k * k * C_in * F weights plus F biases.
      const cin = (matched.get(e.inputs[0])!.outputShape as number[])[3];
      assert.equal(layer.countParams(), e.kernel! * e.kernel! * cin * e.filters! + e.filters!, `${where}: params`);
    } else if (e.cls === 'BatchNormalization') {
      assert.equal(config.axis, 3, `${where}: normalises the channels axis`);
      assert.equal(layer.countParams(), 4 * e.shape[3]!, `${where}: gamma, beta, moving mean and variance`);
    } else if (e.cls === 'Activation') {
      assert.equal(config.activation, 'relu', `${where}: ReLU`);
    } else if (e.cls === 'ZeroPadding2D') {
      assert.deepEqual(config.padding, [[3, 3], [3, 3]]);
    } else if (e.cls === 'MaxPooling2D') {
      assert.deepEqual(config.poolSize, [3, 3]);
      assert.deepEqual(config.strides, [2, 2]);
      assert.equal(config.padding, 'valid');
    } else if (e.cls === 'AveragePooling2D') {
      assert.deepEqual(config.poolSize, [2, 2]);
      assert.deepEqual(config.strides, [2, 2]);
    } else if (e.cls === 'Dense') {
      assert.equal(config.units, 6);
      assert.equal(config.activation, 'softmax');
    }
  }
  assert.deepEqual(model.outputs[0].shape, [null, 6]);
  model.dispose();
});

test('ResNet50 parameter totals: 23,600,006 total, 23,546,886 trainable, 53,120 non-trainable', () => {
  const model = ResNet50();
  assert.deepEqual(countParams(model), { total: 23_600_006, trainable: 23_546_886, nonTrainable: 53_120 });
  assert.equal(model.countParams(), 23_600_006);
  // The non-trainable ones are the BatchNorm moving means and variances: 2 per channel of every BatchNorm.
  const bnChannels = model.layers
    .filter((l) => l.getClassName() === 'BatchNormalization')
    .reduce((sum, l) => sum + (l.outputShape as number[])[3], 0);
  assert.equal(2 * bnChannels, 53_120);
  model.dispose();
});

test('ResNet50 classes and input shape options; other input sizes where the arithmetic allows', () => {
  const m10 = ResNet50({ inputShape: [224, 224, 3], classes: 10, widthDivisor: 16 });
  assert.deepEqual(m10.outputs[0].shape, [null, 10]);
  assert.ok(m10.getLayer('fc10'));
  // 224 -> 230 -> 112 -> 55 -> 55 -> 28 -> 14 -> 7; the 2x2 avg_pool gives floor((7 - 2) / 2) + 1 = 3.
  assert.deepEqual(m10.getLayer('avg_pool').outputShape, [null, 3, 3, 128]);
  m10.dispose();
  // Non-square and single-channel inputs.
  const m = ResNet50({ inputShape: [37, 80, 1], widthDivisor: 16 });
  // 37 -> 43 -> 19 -> 9 -> 9 -> 5 -> 3 -> 2 and 80 -> 86 -> 40 -> 19 -> 19 -> 10 -> 5 -> 3.
  assert.deepEqual(m.getLayer('res5c_branch2c').outputShape, [null, 2, 3, 128]);
  assert.deepEqual(m.getLayer('conv1').outputShape, [null, 19, 40, 4]);
  m.dispose();
});

test('without the top: a backbone, optionally globally pooled', () => {
  const plain = ResNet50({ includeTop: false, widthDivisor: 16 });
  assert.deepEqual(plain.outputs[0].shape, [null, 2, 2, 128]);
  assert.throws(() => plain.getLayer('avg_pool'));
  assert.equal(plain.layers.some((l) => l.getClassName() === 'Dense' || l.getClassName() === 'Flatten'), false);
  plain.dispose();
  const avg = ResNet50({ includeTop: false, pooling: 'avg', widthDivisor: 16 });
  assert.deepEqual(avg.outputs[0].shape, [null, 128]);
  assert.equal(avg.getLayer('avg_pool').getClassName(), 'GlobalAveragePooling2D');
  avg.dispose();
  const max = buildResNet('resnet18', { includeTop: false, pooling: 'max', widthDivisor: 16 });
  assert.deepEqual(max.outputs[0].shape, [null, 32]);
  assert.equal(max.getLayer('max_pool').getClassName(), 'GlobalMaxPooling2D');
  max.dispose();
  // Without the 2x2 avg_pool, 5x5 is enough: 5 -> 11 -> 3 -> 1 -> 1 -> 1 -> 1 -> 1.
  const tiny = ResNet50({ includeTop: false, inputShape: [5, 5, 3], widthDivisor: 16 });
  assert.deepEqual(tiny.outputs[0].shape, [null, 1, 1, 128]);
  tiny.dispose();
});

/**
 * Parameters of a family member computed from its definition: stem conv 7x7x3x64 + bias and BN(64); per block,
 * convolutions k*k*Cin*F + F and BN 4*F; a projection shortcut where the shape changes; fc 2048 (or 512) * classes.
 */
function familyParams(kind: 'basic' | 'bottleneck', depths: number[], classes: number, avgPoolCells: number): number {
  const conv = (k: number, cin: number, f: number) => k * k * cin * f + f;
  const bn = (c: number) => 4 * c;
  let total = conv(7, 3, 64) + bn(64);
  let cin = 64;
  depths.forEach((n, i) => {
    const width = 64 * 2 ** i;
    for (let j = 0; j < n; j++) {
      if (kind === 'bottleneck') {
        const out = 4 * width;
        total += conv(1, cin, width) + bn(width) + conv(3, width, width) + bn(width) + conv(1, width, out) + bn(out);
        if (j === 0) total += conv(1, cin, out) + bn(out);
        cin = out;
      } else {
        total += conv(3, cin, width) + bn(width) + conv(3, width, width) + bn(width);
        if (j === 0 && (i > 0 || cin !== width)) total += conv(1, cin, width) + bn(width);
        cin = width;
      }
    }
  });
  return total + (cin * avgPoolCells * classes + classes);
}

test('the family: ResNet-18, -34, -101, -152 have the right blocks, names and parameter counts', () => {
  // The formula reproduces the spec's ResNet-50 total, so it can be trusted for the others.
  assert.equal(familyParams('bottleneck', [3, 4, 6, 3], 6, 1), 23_600_006);

  const r18 = ResNet18();
  assert.equal(r18.name, 'ResNet18');
  assert.equal(r18.countParams(), familyParams('basic', [2, 2, 2, 2], 6, 1));
  const convs18 = r18.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.name);
  // conv1, two convolutions in each of 8 blocks, and a projection in the first block of stages 3, 4 and 5.
  assert.equal(convs18.length, 1 + 16 + 3);
  assert.ok(!convs18.includes('res2a_branch1'), 'stage 2 keeps 64 channels and its size: no projection');
  for (const name of ['res3a_branch1', 'res2b_branch2a', 'res5b_branch2b']) assert.ok(convs18.includes(name), name);
  assert.ok(!convs18.some((n) => n.endsWith('2c')), 'basic blocks have two convolutions');
  assert.deepEqual(r18.getLayer('res3a_branch2a').getConfig().strides, [2, 2]);
  assert.deepEqual(r18.getLayer('res3a_branch2a').getConfig().kernelSize, [3, 3]);
  r18.dispose();

  const r34 = ResNet34({ classes: 3 });
  assert.equal(r34.countParams(), familyParams('basic', [3, 4, 6, 3], 3, 1));
  assert.ok(r34.getLayer('res4f_branch2b'));
  assert.deepEqual(r34.outputs[0].shape, [null, 3]);
  r34.dispose();

  // The deep ones, narrowed: only names and counts matter here.
  const r101 = ResNet101({ widthDivisor: 16 });
  const convs101 = r101.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.name);
  assert.equal(convs101.length, 1 + 3 * (3 + 4 + 23 + 3) + 4);
  for (const name of ['res2c_branch2c', 'res3b3_branch2c', 'res4b22_branch2c', 'res5c_branch2c']) assert.ok(convs101.includes(name), name);
  assert.equal(r101.name, 'ResNet101');
  r101.dispose();
  const r152 = ResNet152({ widthDivisor: 16 });
  const convs152 = r152.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.name);
  assert.equal(convs152.length, 1 + 3 * (3 + 8 + 36 + 3) + 4);
  for (const name of ['res3b7_branch2c', 'res4b35_branch2c', 'res5a_branch1']) assert.ok(convs152.includes(name), name);
  assert.deepEqual(r152.outputs[0].shape, [null, 6]);
  r152.dispose();
});

test('buildResNet covers every architecture name, and resnet50 is the spec model', () => {
  assert.deepEqual(ARCH_NAMES, ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152']);
  const a = buildResNet('resnet50', { widthDivisor: 32 });
  const b = ResNet50({ widthDivisor: 32 });
  // Layers with weights carry the spec's names; the unnamed ones get tfjs's automatic (session-unique) names.
  const weighted = (m: tf.LayersModel) => m.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
  assert.deepEqual(weighted(a), weighted(b));
  assert.deepEqual(a.layers.map((l) => l.getClassName()), b.layers.map((l) => l.getClassName()));
  assert.equal(a.countParams(), b.countParams());
  a.dispose();
  b.dispose();
});

test('widthDivisor divides every filter count', () => {
  const m = ResNet50({ widthDivisor: 16 });
  assert.equal(m.getLayer('conv1').getConfig().filters, 4);
  assert.equal(m.getLayer('res2a_branch2c').getConfig().filters, 16);
  assert.equal(m.getLayer('res5a_branch1').getConfig().filters, 128);
  assert.equal(m.getLayer('res5c_branch2b').getConfig().filters, 32);
  m.dispose();
});

test('layers are grouped by stage and block for the summary and the plot', () => {
  const model = ResNet50({ widthDivisor: 32 });
  const layers = describeLayers(model);
  const byGroup = new Map<string, string[]>();
  for (const l of layers) {
    const key = l.group?.label ?? '(none)';
    byGroup.set(key, [...(byGroup.get(key) ?? []), l.className]);
  }
  // Outside the blocks: the input, the zero padding, avg_pool, flatten and fc6.
  assert.deepEqual(byGroup.get('(none)'), ['InputLayer', 'ZeroPadding2D', 'AveragePooling2D', 'Flatten', 'Dense']);
  assert.deepEqual(byGroup.get('stage 1')!.sort(), ['Activation', 'BatchNormalization', 'Conv2D', 'MaxPooling2D']);
  const count = (classes: string[], cls: string) => classes.filter((c) => c === cls).length;
  const blocks = [...byGroup.keys()].filter((k) => k.includes('block'));
  assert.equal(blocks.length, 16);
  for (const label of blocks) {
    const classes = byGroup.get(label)!;
    // Each block: 3 (or 4) convolutions and BatchNorms, 3 ReLUs, 1 Add.
    const conv = label.endsWith('(convolutional)') ? 4 : 3;
    assert.equal(label.endsWith('block a (convolutional)') || label.endsWith('(identity)'), true, label);
    assert.deepEqual(
      [count(classes, 'Conv2D'), count(classes, 'BatchNormalization'), count(classes, 'Activation'), count(classes, 'Add')],
      [conv, conv, 3, 1],
      label,
    );
  }
  const dot = modelToDot(model, { rankdir: 'LR' });
  assert.match(dot, /rankdir=LR/);
  assert.equal(dot.match(/subgraph "cluster_/g)?.length, 17);
  assert.match(dot, /subgraph "cluster_stage4_f" \{\n\s+graph \[label="stage 4 block f \(identity\)"/);
  // One edge per connection: every layer but the input has one input, the 16 Adds have two.
  assert.equal(dot.match(/ -> /g)?.length, model.layers.length - 1 + 16);
  model.dispose();
});
