/**
 * Gradient overrides that run native kernels of the onednn backend.
 *
 * tfjs registers gradients globally (for every backend), so each override here first checks that the active
 * backend has its kernel and that the tensors suit it; otherwise it calls the gradient tfjs registered before, so
 * results on any other backend (and in cases the kernel does not take) stay exactly tfjs's. Higher-order gradients
 * (a gradient computed while an outer tf.grad records) also use tfjs's gradients, whose ops are differentiable.
 *
 * - FusedBatchNorm: tfjs's gradient expands into about ten tensor-wide ops (sub, mul, rsqrt, tile, sum...). With
 *   parameters of shape [C] (as BatchNormalization layers use) the override computes all five gradients (x, mean,
 *   variance, scale, offset) with one OnednnBatchNormGrad kernel: one pass over dy and x.
 * - Relu: dy * step(x) with one OnednnReluGrad kernel instead of Step then Multiply.
 * - Square: dy * (x * 2) with one OnednnSquareGrad kernel instead of two Multiply ops.
 * - Mean and Sum: dy broadcast back over the reduced axes (divided by their size for Mean) with one
 *   OnednnReduceGrad kernel, instead of filling a tensor of ones, multiplying and dividing. tf.moments, which
 *   BatchNormalization layers use in training, runs Mean twice and Square once per layer.
 * - OnednnBatchNormTraining (a kernel of this backend, which BatchNormalization layers in training mode run instead
 *   of tf.moments and tf.batchNorm: batchnorm_layer.ts) has no tfjs gradient: this module registers it. It computes
 *   the gradients of x, scale and offset, including what reaches x through the batch statistics and through the
 *   mean and variance outputs, with one OnednnBatchNormTrainingGrad kernel (two passes over dy and x), or with
 *   differentiable tfjs ops on other backends and for higher-order gradients.
 */
import * as tf from '@tensorflow/tfjs';
import { FusedBatchNorm, Mean, Relu, Square, Sum, util } from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs';

import { batchNormGradApplies, ONEDNN_BATCH_NORM_GRAD } from './kernels/OnednnBatchNormGrad.js';
import { ONEDNN_BATCH_NORM_TRAINING } from './kernels/OnednnBatchNormTraining.js';
import { batchNormTrainingGradApplies, ONEDNN_BATCH_NORM_TRAINING_GRAD } from './kernels/OnednnBatchNormTrainingGrad.js';
import { ONEDNN_REDUCE_GRAD, reduceGradApplies } from './kernels/OnednnReduceGrad.js';
import { ONEDNN_RELU_GRAD, reluGradApplies } from './kernels/OnednnReluGrad.js';
import { ONEDNN_SQUARE_GRAD, squareGradApplies } from './kernels/OnednnSquareGrad.js';

/** Marks the gradient configs made here, so registering twice never wraps one of ours. */
const OVERRIDE = Symbol('onednn gradient override');

type MarkedGradConfig = GradConfig & { [OVERRIDE]?: GradConfig };

/**
 * Whether a gradient may run the native kernel `kernelName`: the active backend has it, and no tape is recording
 * the backward pass (a gradient of a gradient needs tfjs's differentiable ops; these kernels have no gradients).
 */
function activeBackendHas(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined && !tf.engine().isTapeOn();
}

/** tfjs's gradient of `kernelName` as registered before any override of ours. */
function originalGradient(kernelName: string): GradConfig {
  const current = tf.getGradient(kernelName) as MarkedGradConfig | undefined;
  if (current === undefined) throw new Error(`onednn: tfjs has no gradient for ${kernelName} to override`);
  return current[OVERRIDE] ?? current;
}

function batchNormGradient(original: GradConfig): MarkedGradConfig {
  return {
    kernelName: FusedBatchNorm,
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      const [x, mean, variance, scale] = saved;
      const inputs = { dy: dy as Tensor, x, mean, variance, ...(scale == null ? {} : { scale }) };
      if (!activeBackendHas(ONEDNN_BATCH_NORM_GRAD) || !batchNormGradApplies(inputs)) {
        return original.gradFunc(dy, saved, attrs);
      }
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
      // All five at once: the engine asks for each input's gradient separately, and tensors made here belong to
      // the backward pass's scope, which disposes those not used.
      const [dx, dMean, dVariance, dScale, dOffset] = tf
        .engine()
        .runKernel(ONEDNN_BATCH_NORM_GRAD, inputs as unknown as tf.NamedTensorMap, { varianceEpsilon }) as Tensor[];
      return {
        x: () => dx,
        mean: () => dMean,
        variance: () => dVariance,
        scale: () => dScale,
        offset: () => dOffset,
      };
    },
    [OVERRIDE]: original,
  };
}

/**
 * OnednnBatchNormTraining's gradients with tfjs ops (differentiable, any backend): the formula of
 * OnednnBatchNormTrainingGrad, with N the number of values per channel. The statistics are computed again from x
 * rather than taken from the saved outputs: a gradient of this gradient must reach x through them, and the engine
 * links a saved output to its kernel's output only ahead of that kernel on the tape, where backpropagation has
 * already passed.
 */
function batchNormTrainingGradWithOps(
  dy: Tensor,
  x: Tensor,
  scale: Tensor | undefined,
  dMean: Tensor,
  dVariance: Tensor,
  varianceEpsilon: number,
): { dx: Tensor; dScale: Tensor; dOffset: Tensor } {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const n = x.size / x.shape[x.rank - 1];
  const { mean, variance } = tf.moments(x, axes);
  const centered = tf.sub(x, mean);
  const r = tf.rsqrt(tf.add(variance, varianceEpsilon));
  const xhat = tf.mul(centered, r);
  const dOffset = tf.sum(dy, axes);
  const dScale = tf.sum(tf.mul(dy, xhat), axes);
  const scaleR = scale == null ? r : tf.mul(scale, r);
  const fromY = tf.mul(scaleR, tf.sub(tf.sub(dy, tf.div(dOffset, n)), tf.mul(xhat, tf.div(dScale, n))));
  const fromStatistics = tf.add(tf.div(dMean, n), tf.mul(centered, tf.mul(dVariance, 2 / n)));
  return { dx: tf.add(fromY, fromStatistics), dScale, dOffset };
}

/** The gradient of OnednnBatchNormTraining (outputs y, mean, variance) with respect to x, scale and offset. */
function batchNormTrainingGradient(): MarkedGradConfig {
  return {
    kernelName: ONEDNN_BATCH_NORM_TRAINING,
    inputsToSave: ['x', 'scale'],
    outputsToSave: [false, true, true],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      // The engine passes zeros for outputs that received no gradient (the layer's mean and variance only feed
      // the moving averages).
      const [dY, dMean, dVariance] = dy as Tensor[];
      const [x, scale, mean, variance] = saved;
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
      const inputs = { dy: dY, x, mean, variance, ...(scale == null ? {} : { scale }), dMean, dVariance };
      let dx: Tensor, dScale: Tensor, dOffset: Tensor;
      if (activeBackendHas(ONEDNN_BATCH_NORM_TRAINING_GRAD) && batchNormTrainingGradApplies(inputs)) {
        [dx, dScale, dOffset] = tf
          .engine()
          .runKernel(ONEDNN_BATCH_NORM_TRAINING_GRAD, inputs as unknown as tf.NamedTensorMap, { varianceEpsilon }) as Tensor[];
      } else {
        ({ dx, dScale, dOffset } = batchNormTrainingGradWithOps(dY, x, scale, dMean, dVariance, varianceEpsilon));
      }
      return { x: () => dx, scale: () => dScale, offset: () => dOffset };
    },
  };
}

function reluGradient(original: GradConfig): MarkedGradConfig {
  return {
    kernelName: Relu,
    inputsToSave: ['x'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      const [x] = saved;
      const g = dy as Tensor;
      if (!activeBackendHas(ONEDNN_RELU_GRAD) || !reluGradApplies(g, x)) return original.gradFunc(dy, saved, attrs);
      return { x: () => tf.engine().runKernel(ONEDNN_RELU_GRAD, { dy: g, x }, {}) as Tensor };
    },
    [OVERRIDE]: original,
  };
}

function squareGradient(original: GradConfig): MarkedGradConfig {
  return {
    kernelName: Square,
    inputsToSave: ['x'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      const [x] = saved;
      const g = dy as Tensor;
      if (!activeBackendHas(ONEDNN_SQUARE_GRAD) || !squareGradApplies(g, x)) return original.gradFunc(dy, saved, attrs);
      return { x: () => tf.engine().runKernel(ONEDNN_SQUARE_GRAD, { dy: g, x }, {}) as Tensor };
    },
    [OVERRIDE]: original,
  };
}

/** The gradient of Sum (`mean` false) or Mean (`mean` true) over `attrs.axis` of x. */
function reduceGradient(kernelName: string, mean: boolean, original: GradConfig): MarkedGradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      const [x] = saved;
      const g = dy as Tensor;
      const axes = util.parseAxisParam(attrs.axis as number | number[], x.shape);
      if (!activeBackendHas(ONEDNN_REDUCE_GRAD) || !reduceGradApplies(g, x, axes)) {
        return original.gradFunc(dy, saved, attrs);
      }
      const divisor = mean ? util.sizeFromShape(axes.map((a) => x.shape[a])) : 1;
      return { x: () => tf.engine().runKernel(ONEDNN_REDUCE_GRAD, { dy: g, x }, { axes, divisor }) as Tensor };
    },
    [OVERRIDE]: original,
  };
}

/** Registers the gradient overrides (idempotent). Called when the onednn backend is registered. */
export function registerNativeGradients(): void {
  tf.registerGradient(batchNormGradient(originalGradient(FusedBatchNorm)));
  tf.registerGradient(reluGradient(originalGradient(Relu)));
  tf.registerGradient(squareGradient(originalGradient(Square)));
  tf.registerGradient(reduceGradient(Sum, false, originalGradient(Sum)));
  tf.registerGradient(reduceGradient(Mean, true, originalGradient(Mean)));
  tf.registerGradient(batchNormTrainingGradient());
}
