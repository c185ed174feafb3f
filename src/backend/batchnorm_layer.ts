/**
 * A faster training mode for tfjs-layers' BatchNormalization layer on the onednn backend.
 *
 * In training, tfjs's layer normalizes with the batch's statistics: tf.moments (Mean, Sub, Square, Mean and
 * Reshapes) then tf.batchNorm, and backpropagation goes back through every one of those ops, with x's gradient
 * added up from three paths. On the onednn backend this hook computes the output, the batch mean and the biased
 * variance with one OnednnBatchNormTraining kernel, whose gradient (gradients.ts) is one OnednnBatchNormTrainingGrad
 * kernel. The moving mean and variance are then updated with the same tensor ops as tfjs's layer.
 *
 * Like the Adam override (adam.ts), it patches the class once, for every BatchNormalization layer, and calls
 * tfjs's own `call` whenever the active backend is not onednn, in inference mode, and in cases the kernel does not
 * take (the normalized axis not the last, an input that is not float32, rank other than 2 to 4). The layer's
 * class name, config and weights stay tfjs's, so saved models are unchanged.
 *
 * One difference: tfjs's layer cannot train with `center: false` or `scale: false` (its training path reads the
 * missing beta or gamma and throws a TypeError); this hook trains such layers (offset 0, scale 1). On other
 * backends the TypeError remains.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';

import { batchNormTrainingApplies, ONEDNN_BATCH_NORM_TRAINING } from './kernels/OnednnBatchNormTraining.js';

/** A tfjs-layers LayerVariable, as the layer uses it. */
interface LayerVariableLike {
  read(): Tensor;
  write(value: Tensor): unknown;
}

/** The BatchNormalization layer fields the training path reads (tfjs-layers 4.x names). */
interface BatchNormInternals {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma?: LayerVariableLike;
  beta?: LayerVariableLike;
  movingMean: LayerVariableLike;
  movingVariance: LayerVariableLike;
}

/** Layer.call's signature. */
type LayerCall = (inputs: Tensor | Tensor[], kwargs: Record<string, unknown>) => Tensor | Tensor[];

/** Marks our call, so installing twice never wraps it, and keeps tfjs's. */
const ORIGINAL = Symbol('tfjs BatchNormalization.call');

type MarkedCall = LayerCall & { [ORIGINAL]?: LayerCall };

/**
 * tfjs's BatchNormalization moving average, `current - (current - batch) * (1 - momentum)`, with a float32 rounding
 * after each operation, as tfjs's float32 Sub, Mul and Sub kernels round: the same bits as tfjs's own tensor ops
 * (which the layer would run as three kernels per variable: two variables per layer and training step, about 5 ms of
 * a ResNet-50 step on the machine of the README's benchmark). Returns a new array.
 */
function movingAverage(current: Float32Array, batch: Float32Array, momentum: number): Float32Array {
  // tfjs multiplies by a float32 scalar tensor holding 1 - momentum.
  const decay = Math.fround(1 - momentum);
  const updated = new Float32Array(current.length);
  for (let i = 0; i < current.length; i++) {
    // Float32Array stores round; the difference is rounded explicitly before it is scaled.
    updated[i] = current[i] - Math.fround(Math.fround(current[i] - batch[i]) * decay);
  }
  return updated;
}

/**
 * Moves a BatchNormalization layer's moving statistic `variable` towards the batch's values, as tfjs's layer does
 * ({@link movingAverage}: the same bits).
 */
export function moveTowards(variable: LayerVariableLike, batch: Float32Array, momentum: number): void {
  const origValue = variable.read();
  const updated = movingAverage(origValue.dataSync() as Float32Array, batch, momentum);
  tf.tidy(() => {
    variable.write(tf.tensor(updated, origValue.shape, 'float32'));
  });
}

/** The one input tensor, if `inputs` is one tensor or a list of one. */
function singleTensor(inputs: Tensor | Tensor[]): Tensor | null {
  if (!Array.isArray(inputs)) return inputs;
  return inputs.length === 1 ? inputs[0] : null;
}

/** BatchNormalization.call with one OnednnBatchNormTraining kernel in training mode on the onednn backend. */
function callNative(this: BatchNormInternals, inputs: Tensor | Tensor[], kwargs: Record<string, unknown>): Tensor | Tensor[] {
  const original = (callNative as MarkedCall)[ORIGINAL] as LayerCall;
  const training = kwargs?.training ?? false;
  const input = singleTensor(inputs);
  if (!training || input === null || tf.getKernel(ONEDNN_BATCH_NORM_TRAINING, tf.getBackend()) === undefined) {
    return original.call(this, inputs, kwargs);
  }
  const rank = input.rank;
  const axis = this.axis >= 0 ? this.axis : this.axis + rank;
  if (rank < 2 || rank > 4 || axis !== rank - 1 || !batchNormTrainingApplies({ x: input })) {
    return original.call(this, inputs, kwargs);
  }
  return tf.tidy(() => {
    const channels = input.shape[rank - 1];
    // The kernel's gradient saves the scale, so a layer without gamma passes ones.
    const scale = this.scale && this.gamma != null ? this.gamma.read() : tf.ones([channels]);
    const offset = this.center && this.beta != null ? this.beta.read() : undefined;
    const kernelInputs = { x: input, scale, ...(offset === undefined ? {} : { offset }) };
    if (!batchNormTrainingApplies(kernelInputs)) return original.call(this, inputs, kwargs);
    const [y, mean, variance] = tf
      .engine()
      .runKernel(ONEDNN_BATCH_NORM_TRAINING, kernelInputs, { varianceEpsilon: this.epsilon }) as Tensor[];
    moveTowards(this.movingMean, mean.dataSync() as Float32Array, this.momentum);
    moveTowards(this.movingVariance, variance.dataSync() as Float32Array, this.momentum);
    return y;
  });
}

/**
 * Installs the hook on tfjs-layers' BatchNormalization class (idempotent). Called when the onednn backend is
 * registered; on other backends every BatchNormalization layer keeps running tfjs's own code.
 */
export function registerNativeBatchNormLayer(): void {
  // The class is not exported by @tensorflow/tfjs; a layer made here (never built: it owns no weights) has it.
  const proto = Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: MarkedCall };
  if (proto.call === (callNative as unknown as MarkedCall)) return;
  (callNative as unknown as MarkedCall)[ORIGINAL] = proto.call;
  proto.call = callNative as unknown as MarkedCall;
}
