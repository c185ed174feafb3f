/**
 * OnednnBatchNormGrad: a kernel of this backend only (no tfjs op calls it), run by the FusedBatchNorm gradient of
 * `gradients.ts`. Computes in one native pass the five gradients tfjs's FusedBatchNorm gradient gives for
 * parameters of shape [C] over the last axis of x (batchnorm.cc).
 *
 * Inputs: dy, x (same shape, last axis C), mean, variance and optionally scale (each [C]); attribute
 * varianceEpsilon. Outputs, in order: dx (x's shape), dMean, dVariance, dScale, dOffset (each mean's shape).
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { areChannelVectors, channelKernel, isGradientOf } from '../batchnorm_utils.js';

/** The kernel's registered name. */
export const ONEDNN_BATCH_NORM_GRAD = 'OnednnBatchNormGrad';

/** Inputs of OnednnBatchNormGrad. */
export interface OnednnBatchNormGradInputs {
  dy: TensorInfo;
  x: TensorInfo;
  mean: TensorInfo;
  variance: TensorInfo;
  scale?: TensorInfo;
}

/** Attributes of OnednnBatchNormGrad. */
export interface OnednnBatchNormGradAttrs {
  varianceEpsilon: number;
}

/**
 * Whether OnednnBatchNormGrad takes these tensors: float32 throughout, dy shaped like x, and mean, variance (and
 * scale) of shape [C] with C the last axis of x, none empty.
 */
export function batchNormGradApplies(inputs: OnednnBatchNormGradInputs): boolean {
  const { dy, x, mean, variance, scale } = inputs;
  return isGradientOf(dy, x) && areChannelVectors(x, [mean, variance], [scale]);
}

/** Outputs dx, then dMean, dVariance, dScale and dOffset of shape [C]: mean's shape, as batchNormGradApplies checks. */
const onednnBatchNormGrad = channelKernel<OnednnBatchNormGradInputs, OnednnBatchNormGradAttrs>(
  ONEDNN_BATCH_NORM_GRAD, batchNormGradApplies, 4,
  (
    { inputs, backend, attrs },
    { read, readOptional, rows: dx, vectors: [dMean, dVariance, dScale, dOffset], channels },
  ) => {
    const { dy, x, mean, variance, scale } = inputs;
    backend.native.batchNormGrad(read(dy), read(x), read(mean), read(variance), readOptional(scale), dx, dMean,
      dVariance, dScale, dOffset, channels, attrs.varianceEpsilon);
  },
);

/** OnednnBatchNormGrad kernel of the onednn backend. */
export const onednnBatchNormGradConfig: KernelConfig = {
  kernelName: ONEDNN_BATCH_NORM_GRAD,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: onednnBatchNormGrad as unknown as KernelConfig['kernelFunc'],
};
