/**
 * The residual blocks of the spec, built with the TensorFlow.js Layers API.
 *
 * - {@link identityBlock} and {@link convolutionalBlock}: the spec's three-convolution ("bottleneck") blocks, used by
 *   ResNet-50, -101 and -152.
 * - {@link basicIdentityBlock} and {@link basicConvolutionalBlock}: the two-convolution ("basic") blocks of
 *   ResNet-18 and -34, named by the same scheme (`branch2a`, `branch2b`, and `branch1` for the projection shortcut).
 *
 * Every block takes and returns a `tf.SymbolicTensor` of shape `[batch, height, width, channels]` (channels last), so
 * blocks chain like the Keras functional API: `X = identityBlock(X, 3, [64, 64, 256], 2, 'b')`.
 */
import * as tf from '@tensorflow/tfjs';

/** The three filter counts `[F1, F2, F3]` of a bottleneck block's main path. */
export type BottleneckFilters = [number, number, number];

/** The two filter counts `[F1, F2]` of a basic block's main path. */
export type BasicFilters = [number, number];

/** Applies a layer to one symbolic tensor, returning one symbolic tensor. */
export function applyLayer(layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
  return layer.apply(x) as tf.SymbolicTensor;
}

/**
 * A Conv2D layer as the spec and the Keras original make it: glorot-uniform kernel initialised with seed 0, and a bias
 * (the Keras default `use_bias=True`; the spec's parameter totals count it).
 */
export function conv2d(
  name: string,
  filters: number,
  kernelSize: number,
  strides: number,
  padding: 'valid' | 'same',
): tf.layers.Layer {
  return tf.layers.conv2d({
    filters,
    kernelSize: [kernelSize, kernelSize],
    strides: [strides, strides],
    padding,
    name,
    kernelInitializer: tf.initializers.glorotUniform({ seed: 0 }),
  });
}

/** A BatchNormalization layer over the channels axis (axis 3 of NHWC), with the Keras defaults otherwise. */
export function batchNorm(name: string): tf.layers.Layer {
  return tf.layers.batchNormalization({ axis: 3, name });
}

/** The ReLU activation function. As in the spec it has no name and no hyperparameters. */
export function relu(): tf.layers.Layer {
  return tf.layers.activation({ activation: 'relu' });
}

/** Throws unless `value` is a positive integer. */
function checkPositiveInt(what: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${what} must be a positive integer, got ${value}`);
}

/** Checks the arguments shared by all blocks and returns the input's channel count. */
function checkBlockArgs(
  kind: string,
  X: tf.SymbolicTensor,
  f: number,
  filters: number[],
  count: number,
  stage: number,
  block: string,
): number {
  const where = `${kind} (stage ${stage}, block '${block}')`;
  if (!(X instanceof tf.SymbolicTensor)) throw new Error(`${where}: X must be a tf.SymbolicTensor`);
  if (X.shape.length !== 4) {
    throw new Error(`${where}: X must have rank 4 [batch, height, width, channels], got shape [${X.shape.join(', ')}]`);
  }
  checkPositiveInt(`${where}: f`, f);
  if (!Array.isArray(filters) || filters.length !== count) {
    throw new Error(`${where}: filters must be ${count} positive integers, got ${JSON.stringify(filters)}`);
  }
  filters.forEach((F, i) => checkPositiveInt(`${where}: F${i + 1}`, F));
  checkPositiveInt(`${where}: stage`, stage);
  if (typeof block !== 'string' || !/^[A-Za-z0-9]+$/.test(block)) {
    throw new Error(`${where}: block must be a non-empty alphanumeric string such as 'a', got ${JSON.stringify(block)}`);
  }
  const channels = X.shape[3];
  if (channels == null) throw new Error(`${where}: the channel dimension of X must be known`);
  return channels;
}

/**
 * The identity block: the spec's standard block, for an input and output of the same dimensions.
 *
 * Main path: CONV2D (F1, 1x1, stride 1, valid) → BatchNorm → ReLU → CONV2D (F2, f x f, stride 1, same) → BatchNorm →
 * ReLU → CONV2D (F3, 1x1, stride 1, valid) → BatchNorm. The shortcut (the input itself) is added to the main path,
 * then a ReLU is applied.
 *
 * Convolutions are named `'res' + stage + block + '_branch'` + `2a`/`2b`/`2c`, BatchNorms `'bn' + stage + block +
 * '_branch'` + the same suffixes.
 *
 * @param X input tensor of shape `[batch, H, W, C]`, where C must equal F3 (the shortcut is added unchanged)
 * @param f the size of the middle convolution's window
 * @param filters `[F1, F2, F3]`, the number of filters of the three convolutions of the main path
 * @param stage the stage number, used to name the layers
 * @param block the block letter, used to name the layers
 * @returns the block's output, of shape `[batch, H, W, F3]`
 */
export function identityBlock(
  X: tf.SymbolicTensor,
  f: number,
  filters: BottleneckFilters,
  stage: number,
  block: string,
): tf.SymbolicTensor {
  const channels = checkBlockArgs('identityBlock', X, f, filters, 3, stage, block);
  const convNameBase = `res${stage}${block}_branch`;
  const bnNameBase = `bn${stage}${block}_branch`;
  const [F1, F2, F3] = filters;
  if (channels !== F3) {
    throw new Error(
      `identityBlock ${convNameBase}: the input has ${channels} channels but F3 is ${F3}; ` +
        'the shortcut can only be added when they are equal (use convolutionalBlock to change the channel count)',
    );
  }

  // Save the input value, to add back to the main path later.
  const XShortcut = X;

  // First component of main path.
  X = applyLayer(conv2d(convNameBase + '2a', F1, 1, 1, 'valid'), X);
  X = applyLayer(batchNorm(bnNameBase + '2a'), X);
  X = applyLayer(relu(), X);

  // Second component of main path.
  X = applyLayer(conv2d(convNameBase + '2b', F2, f, 1, 'same'), X);
  X = applyLayer(batchNorm(bnNameBase + '2b'), X);
  X = applyLayer(relu(), X);

  // Third component of main path (no ReLU).
  X = applyLayer(conv2d(convNameBase + '2c', F3, 1, 1, 'valid'), X);
  X = applyLayer(batchNorm(bnNameBase + '2c'), X);

  // Final step: add the shortcut to the main path, then apply a ReLU.
  X = applyLayer(tf.layers.add(), [X, XShortcut]);
  X = applyLayer(relu(), X);
  return X;
}

/**
 * The convolutional block: the spec's block for when the input and output dimensions differ. A 1x1 convolution with
 * stride s on the shortcut path resizes the input to match the main path.
 *
 * Main path: CONV2D (F1, 1x1, stride s, valid) → BatchNorm → ReLU → CONV2D (F2, f x f, stride 1, same) → BatchNorm →
 * ReLU → CONV2D (F3, 1x1, stride 1, valid) → BatchNorm. Shortcut path: CONV2D (F3, 1x1, stride s, valid) → BatchNorm.
 * The two are added, then a ReLU is applied.
 *
 * Layers are named as in {@link identityBlock}; the shortcut's are `res…_branch1` and `bn…_branch1`.
 *
 * @param X input tensor of shape `[batch, H, W, C]`
 * @param f the size of the middle convolution's window
 * @param filters `[F1, F2, F3]`, the number of filters of the three convolutions of the main path
 * @param stage the stage number, used to name the layers
 * @param block the block letter, used to name the layers
 * @param s the stride of the first convolution and of the shortcut's; 2 halves H and W (rounding up)
 * @returns the block's output, of shape `[batch, floor((H - 1) / s) + 1, floor((W - 1) / s) + 1, F3]`
 */
export function convolutionalBlock(
  X: tf.SymbolicTensor,
  f: number,
  filters: BottleneckFilters,
  stage: number,
  block: string,
  s = 2,
): tf.SymbolicTensor {
  checkBlockArgs('convolutionalBlock', X, f, filters, 3, stage, block);
  checkPositiveInt(`convolutionalBlock (stage ${stage}, block '${block}'): s`, s);
  const convNameBase = `res${stage}${block}_branch`;
  const bnNameBase = `bn${stage}${block}_branch`;
  const [F1, F2, F3] = filters;

  // Save the input value.
  let XShortcut = X;

  // First component of main path.
  X = applyLayer(conv2d(convNameBase + '2a', F1, 1, s, 'valid'), X);
  X = applyLayer(batchNorm(bnNameBase + '2a'), X);
  X = applyLayer(relu(), X);

  // Second component of main path.
  X = applyLayer(conv2d(convNameBase + '2b', F2, f, 1, 'same'), X);
  X = applyLayer(batchNorm(bnNameBase + '2b'), X);
  X = applyLayer(relu(), X);

  // Third component of main path (no ReLU).
  X = applyLayer(conv2d(convNameBase + '2c', F3, 1, 1, 'valid'), X);
  X = applyLayer(batchNorm(bnNameBase + '2c'), X);

  // Shortcut path.
  XShortcut = applyLayer(conv2d(convNameBase + '1', F3, 1, s, 'valid'), XShortcut);
  XShortcut = applyLayer(batchNorm(bnNameBase + '1'), XShortcut);

  // Final step: add the shortcut to the main path, then apply a ReLU.
  X = applyLayer(tf.layers.add(), [X, XShortcut]);
  X = applyLayer(relu(), X);
  return X;
}

/**
 * The basic identity block of ResNet-18 and -34 (beyond the spec): two f x f convolutions with the same padding.
 *
 * Main path: CONV2D (F1, f x f, stride 1, same) → BatchNorm → ReLU → CONV2D (F2, f x f, stride 1, same) → BatchNorm.
 * The input is added to it, then a ReLU is applied. Names follow the spec's scheme: `res{stage}{block}_branch2a`,
 * `…2b` and `bn{stage}{block}_branch2a`, `…2b`.
 *
 * @param X input tensor of shape `[batch, H, W, C]`, where C must equal F2
 * @param f the size of both convolutions' windows
 * @param filters `[F1, F2]`, the number of filters of the two convolutions
 * @param stage the stage number, used to name the layers
 * @param block the block letter, used to name the layers
 * @returns the block's output, of shape `[batch, H, W, F2]`
 */
export function basicIdentityBlock(
  X: tf.SymbolicTensor,
  f: number,
  filters: BasicFilters,
  stage: number,
  block: string,
): tf.SymbolicTensor {
  const channels = checkBlockArgs('basicIdentityBlock', X, f, filters, 2, stage, block);
  const convNameBase = `res${stage}${block}_branch`;
  const bnNameBase = `bn${stage}${block}_branch`;
  const [F1, F2] = filters;
  if (channels !== F2) {
    throw new Error(
      `basicIdentityBlock ${convNameBase}: the input has ${channels} channels but F2 is ${F2}; ` +
        'the shortcut can only be added when they are equal (use basicConvolutionalBlock to change the channel count)',
    );
  }
  const XShortcut = X;

  X = applyLayer(conv2d(convNameBase + '2a', F1, f, 1, 'same'), X);
  X = applyLayer(batchNorm(bnNameBase + '2a'), X);
  X = applyLayer(relu(), X);

  X = applyLayer(conv2d(convNameBase + '2b', F2, f, 1, 'same'), X);
  X = applyLayer(batchNorm(bnNameBase + '2b'), X);

  X = applyLayer(tf.layers.add(), [X, XShortcut]);
  X = applyLayer(relu(), X);
  return X;
}

/**
 * The basic convolutional block of ResNet-18 and -34 (beyond the spec): a basic block whose first convolution has
 * stride s, with a projection shortcut CONV2D (F2, 1x1, stride s, valid) → BatchNorm named `res…_branch1` /
 * `bn…_branch1`.
 *
 * @param X input tensor of shape `[batch, H, W, C]`
 * @param f the size of both convolutions' windows
 * @param filters `[F1, F2]`, the number of filters of the two convolutions
 * @param stage the stage number, used to name the layers
 * @param block the block letter, used to name the layers
 * @param s the stride of the first convolution and of the shortcut's
 * @returns the block's output, of shape `[batch, ceil(H / s), ceil(W / s), F2]`
 */
export function basicConvolutionalBlock(
  X: tf.SymbolicTensor,
  f: number,
  filters: BasicFilters,
  stage: number,
  block: string,
  s = 2,
): tf.SymbolicTensor {
  checkBlockArgs('basicConvolutionalBlock', X, f, filters, 2, stage, block);
  checkPositiveInt(`basicConvolutionalBlock (stage ${stage}, block '${block}'): s`, s);
  const convNameBase = `res${stage}${block}_branch`;
  const bnNameBase = `bn${stage}${block}_branch`;
  const [F1, F2] = filters;
  let XShortcut = X;

  X = applyLayer(conv2d(convNameBase + '2a', F1, f, s, 'same'), X);
  X = applyLayer(batchNorm(bnNameBase + '2a'), X);
  X = applyLayer(relu(), X);

  X = applyLayer(conv2d(convNameBase + '2b', F2, f, 1, 'same'), X);
  X = applyLayer(batchNorm(bnNameBase + '2b'), X);

  XShortcut = applyLayer(conv2d(convNameBase + '1', F2, 1, s, 'valid'), XShortcut);
  XShortcut = applyLayer(batchNorm(bnNameBase + '1'), XShortcut);

  X = applyLayer(tf.layers.add(), [X, XShortcut]);
  X = applyLayer(relu(), X);
  return X;
}
