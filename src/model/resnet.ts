/**
 * ResNet-50 as the spec describes it, and the rest of the family (ResNet-18, -34, -101, -152) from the same blocks.
 *
 * Every builder returns a standard `tf.LayersModel` (functional API): compile, fit, predict, save and load it like
 * any other Layers model.
 */
import * as tf from '@tensorflow/tfjs';
import {
  applyLayer,
  basicConvolutionalBlock,
  basicIdentityBlock,
  batchNorm,
  conv2d,
  convolutionalBlock,
  identityBlock,
  relu,
  type BasicFilters,
  type BottleneckFilters,
} from './blocks.js';

/** The architectures {@link buildResNet} builds. */
export type ArchName = 'resnet18' | 'resnet34' | 'resnet50' | 'resnet101' | 'resnet152';

/** How an architecture is made from residual blocks. */
export interface Architecture {
  /** The model's name, e.g. `'ResNet50'`. */
  readonly modelName: string;
  /** `'bottleneck'`: the spec's three-convolution blocks; `'basic'`: two 3x3 convolutions. */
  readonly block: 'bottleneck' | 'basic';
  /** Number of blocks in stages 2, 3, 4 and 5 (the first of each is a convolutional block). */
  readonly blocksPerStage: readonly [number, number, number, number];
  /**
   * How blocks are named within a stage. `'letters'`: a, b, c, … (the spec, Keras). `'caffe'`: as the original Caffe
   * ResNet-101/152 models, a stage of more than 3 blocks is named a, b1, b2, … (e.g. `res4b22_branch2c`).
   */
  readonly blockNaming: 'letters' | 'caffe';
}

/** The architectures, by CLI name. ResNet-50 is the spec's; the others are built from the same parts. */
export const ARCHITECTURES: Readonly<Record<ArchName, Architecture>> = {
  resnet18: { modelName: 'ResNet18', block: 'basic', blocksPerStage: [2, 2, 2, 2], blockNaming: 'letters' },
  resnet34: { modelName: 'ResNet34', block: 'basic', blocksPerStage: [3, 4, 6, 3], blockNaming: 'letters' },
  resnet50: { modelName: 'ResNet50', block: 'bottleneck', blocksPerStage: [3, 4, 6, 3], blockNaming: 'letters' },
  resnet101: { modelName: 'ResNet101', block: 'bottleneck', blocksPerStage: [3, 4, 23, 3], blockNaming: 'caffe' },
  resnet152: { modelName: 'ResNet152', block: 'bottleneck', blocksPerStage: [3, 8, 36, 3], blockNaming: 'caffe' },
};

/** The architecture names, in order of depth. */
export const ARCH_NAMES = Object.keys(ARCHITECTURES) as ArchName[];

/** Options of every ResNet builder. */
export interface ResNetOptions {
  /**
   * `[height, width, channels]` of one input image. Default `[64, 64, 3]`. Height and width must each be at least 37
   * with the top (stage 5's output must be at least 2x2 for the 2x2 `avg_pool`), at least 5 without it.
   */
  inputShape?: [number, number, number];
  /**
   * Number of classes of the softmax output (the Dense layer is named `'fc' + classes`): an integer, at least 2 (a
   * softmax over one class always outputs 1). Default 6.
   */
  classes?: number;
  /**
   * Whether to end with the classifier (`avg_pool` 2x2, flatten, `fc{classes}` softmax). Default true. With false the
   * model ends after stage 5: a backbone for transfer learning.
   */
  includeTop?: boolean;
  /**
   * Only with `includeTop: false`: reduce stage 5's output to one vector per image with a global average pooling
   * (`'avg'`, layer `avg_pool`) or global max pooling (`'max'`, layer `max_pool`). Without it the output is 4-D.
   */
  pooling?: 'avg' | 'max';
  /**
   * Divides every filter count (the stem's 64 and each block's F1, F2, F3) by this positive integer, rounding to the
   * nearest integer and to at least 1. Default 1: the architecture as specified. Use 16 or 32 for small, fast
   * variants in tests (ResNet-50 with 16 has 64/16 = 4 stem filters and stage 5 filters [32, 32, 128]).
   */
  widthDivisor?: number;
}

const OPTION_KEYS = ['inputShape', 'classes', 'includeTop', 'pooling', 'widthDivisor'];

/** The options with their defaults filled in. */
interface ResolvedOptions {
  inputShape: [number, number, number];
  classes: number;
  includeTop: boolean;
  pooling: 'avg' | 'max' | undefined;
  widthDivisor: number;
}

/** Spatial sizes (one dimension: height or width) after each part of the network. */
export interface SpatialSizes {
  /** After the (3,3) zero padding. */
  padded: number;
  /** After `conv1` (7x7, stride 2, valid). */
  conv1: number;
  /** After the 3x3, stride 2 max pooling. */
  pool1: number;
  /** After stages 2, 3, 4 and 5. */
  stages: [number, number, number, number];
  /** After the 2x2 `avg_pool` of the top (when `includeTop`). */
  avgPool: number;
}

/** Output size of a 'valid' window of size k and stride s over n positions: 0 where the window does not fit. */
function validSize(n: number, k: number, s: number): number {
  return n >= k ? Math.floor((n - k) / s) + 1 : 0;
}

/** The stride of the first block of stages 2, 3, 4 and 5. */
const STAGE_STRIDES = [1, 2, 2, 2] as const;

/**
 * Walks the size arithmetic of the network for one spatial dimension of `n` pixels. All architectures of the family
 * share it: the stem, then stages whose first block has stride 1 (stage 2) or 2 (1x1 valid convolutions or 3x3 same
 * convolutions of stride 2 both give `ceil(n / 2)`), then the 2x2 average pooling. A size of 0 means "does not fit".
 */
export function spatialSizes(n: number): SpatialSizes {
  const padded = n + 6;
  const conv1 = validSize(padded, 7, 2);
  const pool1 = validSize(conv1, 3, 2);
  const stages: number[] = [];
  let x = pool1;
  for (const s of STAGE_STRIDES) {
    x = validSize(x, 1, s);
    stages.push(x);
  }
  const avgPool = validSize(x, 2, 2);
  return { padded, conv1, pool1, stages: stages as SpatialSizes['stages'], avgPool };
}

/** Whether an input of `n` pixels (height or width) leaves every layer at least one pixel. */
function sizeWorks(n: number, includeTop: boolean): boolean {
  const sizes = spatialSizes(n);
  return includeTop ? sizes.avgPool >= 1 : sizes.stages[3] >= 1;
}

/**
 * The smallest height (and width) of an input that the network can take: with the top, stage 5's output must be at
 * least 2x2 for the 2x2 `avg_pool` (37 pixels); without it, every layer must keep at least one pixel (5 pixels).
 * Found by walking the size arithmetic of {@link spatialSizes}, which only grows with the input size.
 */
export function minimumInputSize(includeTop = true): number {
  let n = 1;
  while (!sizeWorks(n, includeTop)) n++;
  return n;
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Checks the options, fills in the defaults, and checks that the input size works for the network. */
function resolveOptions(modelName: string, options: ResNetOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new Error(`${modelName}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) {
      throw new Error(`${modelName}: unknown option '${key}' (known options: ${OPTION_KEYS.join(', ')})`);
    }
  }
  const { inputShape = [64, 64, 3], classes = 6, includeTop = true, pooling, widthDivisor = 1 } = options;
  if (!Array.isArray(inputShape) || inputShape.length !== 3 || !inputShape.every(isPositiveInt)) {
    throw new Error(
      `${modelName}: inputShape must be [height, width, channels], three positive integers, got ${JSON.stringify(inputShape)}`,
    );
  }
  if (!isPositiveInt(classes) || classes < 2) {
    const got = typeof classes === 'number' ? classes : JSON.stringify(classes);
    throw new Error(
      `${modelName}: classes must be an integer of at least 2 (a softmax over one class always outputs 1), got ${got}`,
    );
  }
  if (typeof includeTop !== 'boolean') throw new Error(`${modelName}: includeTop must be a boolean, got ${includeTop}`);
  if (pooling !== undefined && pooling !== 'avg' && pooling !== 'max') {
    throw new Error(`${modelName}: pooling must be 'avg' or 'max', got ${JSON.stringify(pooling)}`);
  }
  if (pooling !== undefined && includeTop) {
    throw new Error(`${modelName}: pooling applies only with includeTop: false (the top has its own avg_pool)`);
  }
  if (!isPositiveInt(widthDivisor)) {
    throw new Error(`${modelName}: widthDivisor must be a positive integer, got ${widthDivisor}`);
  }
  const [height, width] = inputShape;
  if (!sizeWorks(height, includeTop) || !sizeWorks(width, includeTop)) {
    const min = minimumInputSize(includeTop);
    const why = includeTop
      ? 'stage 5 must be at least 2x2 for the 2x2 avg_pool'
      : 'every layer must keep at least one pixel';
    throw new Error(
      `${modelName}: input ${height}x${width} is too small; the smallest input that works is ${min}x${min} ` +
        `(height and width must each be at least ${min}: ${why})`,
    );
  }
  return { inputShape: [...inputShape], classes, includeTop, pooling, widthDivisor };
}

/** Divides filter counts by the width divisor (rounding, at least 1). */
function scaled<T extends number[]>(filters: T, widthDivisor: number): T {
  return filters.map((F) => Math.max(1, Math.round(F / widthDivisor))) as T;
}

/**
 * Zero-padding and stage 1: ZeroPadding2D (3,3); Conv2D `conv1` (64 filters, 7x7, stride 2); BatchNorm `bn_conv1`;
 * ReLU; MaxPooling2D (3x3, stride 2).
 */
function stem(X: tf.SymbolicTensor, widthDivisor: number): tf.SymbolicTensor {
  X = applyLayer(tf.layers.zeroPadding2d({ padding: [3, 3] }), X);
  X = applyLayer(conv2d('conv1', scaled([64], widthDivisor)[0], 7, 2, 'valid'), X);
  X = applyLayer(batchNorm('bn_conv1'), X);
  X = applyLayer(relu(), X);
  X = applyLayer(tf.layers.maxPooling2d({ poolSize: [3, 3], strides: [2, 2] }), X);
  return X;
}

/**
 * The end of the network: with the top, AveragePooling2D 2x2 `avg_pool`, Flatten, and a softmax Dense layer
 * `fc{classes}`; without it, the optional global pooling.
 */
function top(X: tf.SymbolicTensor, o: ResolvedOptions): tf.SymbolicTensor {
  if (o.includeTop) {
    X = applyLayer(tf.layers.averagePooling2d({ poolSize: [2, 2], name: 'avg_pool' }), X);
    X = applyLayer(tf.layers.flatten(), X);
    X = applyLayer(
      tf.layers.dense({
        units: o.classes,
        activation: 'softmax',
        name: `fc${o.classes}`,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 0 }),
      }),
      X,
    );
  } else if (o.pooling === 'avg') {
    X = applyLayer(tf.layers.globalAveragePooling2d({ name: 'avg_pool' }), X);
  } else if (o.pooling === 'max') {
    X = applyLayer(tf.layers.globalMaxPooling2d({ name: 'max_pool' }), X);
  }
  return X;
}

/** The input layer of every model. */
function modelInput(o: ResolvedOptions): tf.SymbolicTensor {
  return tf.input({ shape: o.inputShape, name: 'input_1' });
}

/**
 * ResNet-50, exactly as the spec describes it:
 *
 * ZeroPadding2D (3,3) → stage 1 (conv1, bn_conv1, ReLU, 3x3/2 max pooling) → stage 2 (convolutional block
 * [64,64,256], f=3, s=1, 'a'; identity blocks 'b', 'c') → stage 3 ([128,128,512], s=2, 'a'; 'b'…'d') → stage 4
 * ([256,256,1024], s=2, 'a'; 'b'…'f') → stage 5 ([512,512,2048], s=2, 'a'; 'b', 'c') → AveragePooling2D 2x2
 * `avg_pool` → Flatten → Dense softmax `fc{classes}`. The model is named `ResNet50`.
 *
 * With the defaults (64x64x3 input, 6 classes) it has 23,600,006 parameters, 23,546,886 of them trainable.
 *
 * @throws Error on bad options, or an input smaller than the network takes: 37x37 with the top, 5x5 without (the
 *   message names the minimum)
 */
export function ResNet50(options: ResNetOptions = {}): tf.LayersModel {
  const o = resolveOptions('ResNet50', options);
  const w = <T extends number[]>(filters: T): T => scaled(filters, o.widthDivisor);

  // Define the input as a tensor with shape inputShape.
  const XInput = modelInput(o);

  // Zero-padding and stage 1.
  let X = stem(XInput, o.widthDivisor);

  // Stage 2.
  X = convolutionalBlock(X, 3, w([64, 64, 256]), 2, 'a', 1);
  X = identityBlock(X, 3, w([64, 64, 256]), 2, 'b');
  X = identityBlock(X, 3, w([64, 64, 256]), 2, 'c');

  // Stage 3.
  X = convolutionalBlock(X, 3, w([128, 128, 512]), 3, 'a', 2);
  X = identityBlock(X, 3, w([128, 128, 512]), 3, 'b');
  X = identityBlock(X, 3, w([128, 128, 512]), 3, 'c');
  X = identityBlock(X, 3, w([128, 128, 512]), 3, 'd');

  // Stage 4.
  X = convolutionalBlock(X, 3, w([256, 256, 1024]), 4, 'a', 2);
  X = identityBlock(X, 3, w([256, 256, 1024]), 4, 'b');
  X = identityBlock(X, 3, w([256, 256, 1024]), 4, 'c');
  X = identityBlock(X, 3, w([256, 256, 1024]), 4, 'd');
  X = identityBlock(X, 3, w([256, 256, 1024]), 4, 'e');
  X = identityBlock(X, 3, w([256, 256, 1024]), 4, 'f');

  // Stage 5.
  X = convolutionalBlock(X, 3, w([512, 512, 2048]), 5, 'a', 2);
  X = identityBlock(X, 3, w([512, 512, 2048]), 5, 'b');
  X = identityBlock(X, 3, w([512, 512, 2048]), 5, 'c');

  // Average pooling, flatten and the fully connected softmax layer (or the backbone's pooling).
  X = top(X, o);

  return tf.model({ inputs: XInput, outputs: X, name: 'ResNet50' });
}

/** The block names of a stage of `count` blocks under a naming scheme (see {@link Architecture.blockNaming}). */
export function blockNames(count: number, naming: Architecture['blockNaming']): string[] {
  if (naming === 'caffe' && count > 3) return ['a', ...Array.from({ length: count - 1 }, (_, i) => `b${i + 1}`)];
  if (count > 26) throw new Error(`a stage of ${count} blocks cannot be named with letters`);
  return Array.from({ length: count }, (_, i) => String.fromCharCode(97 + i));
}

/** Stage filters of the bottleneck ([F1, F2, F3]) and basic ([F1, F2]) blocks, for stages 2 to 5. */
const BOTTLENECK_FILTERS: BottleneckFilters[] = [
  [64, 64, 256],
  [128, 128, 512],
  [256, 256, 1024],
  [512, 512, 2048],
];
const BASIC_FILTERS: BasicFilters[] = [
  [64, 64],
  [128, 128],
  [256, 256],
  [512, 512],
];

/**
 * Builds any architecture of the family from the spec's parts: the same stem and top as {@link ResNet50}, and four
 * stages of residual blocks (f = 3), the first of each a convolutional block (stride 1 in stage 2, else 2).
 *
 * `buildResNet('resnet50', options)` is {@link ResNet50}.
 *
 * @throws Error on an unknown architecture, bad options, or an input smaller than the network takes: 37x37 with the
 *   top, 5x5 without (the message names the minimum)
 */
export function buildResNet(arch: ArchName, options: ResNetOptions = {}): tf.LayersModel {
  const spec = (ARCHITECTURES as Record<string, Architecture | undefined>)[arch];
  if (spec === undefined || !Object.hasOwn(ARCHITECTURES, arch)) {
    throw new Error(`unknown architecture '${arch}' (known: ${ARCH_NAMES.join(', ')})`);
  }
  if (arch === 'resnet50') return ResNet50(options);
  const o = resolveOptions(spec.modelName, options);

  const XInput = modelInput(o);
  let X = stem(XInput, o.widthDivisor);
  spec.blocksPerStage.forEach((count, i) => {
    const stage = i + 2;
    const s = STAGE_STRIDES[i];
    blockNames(count, spec.blockNaming).forEach((block, j) => {
      if (spec.block === 'bottleneck') {
        const filters = scaled(BOTTLENECK_FILTERS[i], o.widthDivisor);
        X = j === 0 ? convolutionalBlock(X, 3, filters, stage, block, s) : identityBlock(X, 3, filters, stage, block);
      } else {
        const filters = scaled(BASIC_FILTERS[i], o.widthDivisor);
        // A projection shortcut only where the shape changes: stage 2's first block keeps 64 channels and the size.
        const needsProjection = j === 0 && (s !== 1 || X.shape[3] !== filters[1]);
        X = needsProjection
          ? basicConvolutionalBlock(X, 3, filters, stage, block, s)
          : basicIdentityBlock(X, 3, filters, stage, block);
      }
    });
  });
  X = top(X, o);
  return tf.model({ inputs: XInput, outputs: X, name: spec.modelName });
}

/** ResNet-18 (basic blocks, [2, 2, 2, 2]). See {@link buildResNet}. */
export function ResNet18(options: ResNetOptions = {}): tf.LayersModel {
  return buildResNet('resnet18', options);
}

/** ResNet-34 (basic blocks, [3, 4, 6, 3]). See {@link buildResNet}. */
export function ResNet34(options: ResNetOptions = {}): tf.LayersModel {
  return buildResNet('resnet34', options);
}

/** ResNet-101 (bottleneck blocks, [3, 4, 23, 3], Caffe block names). See {@link buildResNet}. */
export function ResNet101(options: ResNetOptions = {}): tf.LayersModel {
  return buildResNet('resnet101', options);
}

/** ResNet-152 (bottleneck blocks, [3, 8, 36, 3], Caffe block names). See {@link buildResNet}. */
export function ResNet152(options: ResNetOptions = {}): tf.LayersModel {
  return buildResNet('resnet152', options);
}
