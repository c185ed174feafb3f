/**
 * The builders' option checks: inputs too small for the network (the error names the smallest size that works),
 * non-positive sizes, bad channel counts, classes, pooling, width and unknown options or architectures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ResNet50, ResNet18, buildResNet, minimumInputSize, spatialSizes, type ArchName } from '../src/model/index.js';

await tf.setBackend('cpu');
tf.env().set('IS_TEST', true);

test('the smallest input is 37 with the top and 5 without, derived by hand', () => {
  // With the top, stage 5 must be at least 2 for the 2x2 avg_pool. Backwards through the size arithmetic:
  // stage 5 >= 2 <- stage 4 >= 3 <- stage 3 >= 5 <- stage 2 = pool1 >= 9 <- conv1 >= 2 * 8 + 3 = 19
  // <- padded >= 2 * 18 + 7 = 43 <- input >= 43 - 6 = 37.
  assert.equal(minimumInputSize(true), 37);
  // Without the top, conv1 must fit the 3x3 pooling: conv1 >= 3 <- padded >= 2 * 2 + 7 = 11 <- input >= 5.
  assert.equal(minimumInputSize(false), 5);
  assert.deepEqual(spatialSizes(64), { padded: 70, conv1: 32, pool1: 15, stages: [15, 8, 4, 2], avgPool: 1 });
  assert.deepEqual(spatialSizes(37).stages, [9, 5, 3, 2]);
  assert.deepEqual(spatialSizes(36).stages, [8, 4, 2, 1]);
});

test('an input too small for the network is an error naming the smallest size that works', () => {
  const small = ResNet50({ inputShape: [37, 37, 3], widthDivisor: 32 });
  assert.deepEqual(small.outputs[0].shape, [null, 6]);
  small.dispose();
  assert.throws(() => ResNet50({ inputShape: [36, 36, 3] }), /ResNet50: input 36x36 is too small; the smallest input that works is 37x37/);
  assert.throws(() => ResNet50({ inputShape: [32, 32, 3] }), /at least 37/);
  assert.throws(() => ResNet50({ inputShape: [64, 36, 3] }), /input 64x36 is too small.*37x37/);
  assert.throws(() => ResNet50({ inputShape: [36, 64, 3] }), /37x37/);
  for (const arch of ['resnet18', 'resnet34', 'resnet101', 'resnet152'] as ArchName[]) {
    assert.throws(() => buildResNet(arch, { inputShape: [20, 20, 3] }), /too small; the smallest input that works is 37x37/, arch);
  }
  assert.throws(() => ResNet18({ includeTop: false, inputShape: [4, 64, 3] }), /input 4x64 is too small; the smallest input that works is 5x5/);
});

test('bad options are clear errors', () => {
  const cases: [unknown, RegExp][] = [
    [{ inputShape: [0, 64, 3] }, /inputShape must be \[height, width, channels\], three positive integers, got \[0,64,3\]/],
    [{ inputShape: [-64, 64, 3] }, /three positive integers/],
    [{ inputShape: [64, 64, 0] }, /three positive integers, got \[64,64,0\]/],
    [{ inputShape: [64, 64] }, /three positive integers, got \[64,64\]/],
    [{ inputShape: [64, 64, 3, 1] }, /three positive integers/],
    [{ inputShape: [64.5, 64, 3] }, /three positive integers/],
    [{ classes: 1 }, /ResNet50: classes must be an integer of at least 2 \(a softmax over one class always outputs 1\), got 1$/],
    [{ classes: 0 }, /classes must be an integer of at least 2 .*, got 0$/],
    [{ classes: -1 }, /classes must be an integer of at least 2 .*, got -1$/],
    [{ classes: 2.5 }, /classes must be an integer of at least 2 .*, got 2\.5$/],
    [{ classes: '6' }, /classes must be an integer of at least 2 .*, got "6"$/],
    [{ pooling: 'avg' }, /pooling applies only with includeTop: false/],
    [{ includeTop: false, pooling: 'sum' }, /pooling must be 'avg' or 'max', got "sum"/],
    [{ includeTop: 'no' }, /includeTop must be a boolean/],
    [{ widthDivisor: 0 }, /widthDivisor must be a positive integer, got 0/],
    [{ inputshape: [64, 64, 3] }, /unknown option 'inputshape'/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => ResNet50(options as Parameters<typeof ResNet50>[0]), message, JSON.stringify(options));
  }
  // Two classes, the fewest, is a model.
  const two = ResNet18({ classes: 2, inputShape: [37, 37, 1], widthDivisor: 32 });
  assert.deepEqual(two.outputs[0].shape, [null, 2]);
  assert.equal(two.layers.at(-1)?.name, 'fc2');
  two.dispose();
  assert.throws(() => buildResNet('resnet51' as ArchName), /unknown architecture 'resnet51' \(known: resnet18, resnet34, resnet50, resnet101, resnet152\)/);
  assert.throws(() => buildResNet('toString' as ArchName), /unknown architecture/);
});
