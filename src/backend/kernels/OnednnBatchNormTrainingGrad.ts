/**
 * OnednnBatchNormTrainingGrad: a kernel of this backend only, run by the OnednnBatchNormTraining gradient of
 * `gradients.ts`. The gradients of OnednnBatchNormTraining's y with respect to x, scale and offset, the batch mean
 * and variance being functions of x, plus the parts of x's gradient that come through the mean and variance outputs
 * (batchnorm.cc). With N the number of rows, r = 1 / sqrt(variance + eps) and xhat = (x - mean) * r:
 *   dOffset = sum(dy), dScale = sum(dy * xhat),
 *   dx = scale * r * (dy - dOffset / N - xhat * dScale / N) + dMean / N + dVariance * 2 * (x - mean) / N.
 *
 * Inputs: dy and x (same shape, last axis C), mean and variance (OnednnBatchNormTraining's outputs), optionally
 * scale, and dMean and dVariance (the gradients of the mean and variance outputs), each float32 [C]; attribute
 * varianceEpsilon. Outputs, in order: dx (x's shape), dScale, dOffset (each [C]).
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { areChannelVectors, channelKernel, isGradientOf } from '../batchnorm_utils.js';

/** The kernel's registered name. */
export const ONEDNN_BATCH_NORM_TRAINING_GRAD = 'OnednnBatchNormTrainingGrad';

/** Inputs of OnednnBatchNormTrainingGrad. */
export interface OnednnBatchNormTrainingGradInputs {
  dy: TensorInfo;
  x: TensorInfo;
  mean: TensorInfo;
  variance: TensorInfo;
  scale?: TensorInfo;
  dMean?: TensorInfo;
  dVariance?: TensorInfo;
}

/** Attributes of OnednnBatchNormTrainingGrad. */
export interface OnednnBatchNormTrainingGradAttrs {
  varianceEpsilon: number;
}

/**
 * Whether OnednnBatchNormTrainingGrad takes these tensors: float32 dy and x of one shape with no empty axis, and
 * mean, variance and the optional inputs (when given) float32 of shape [C], C being x's last axis.
 */
export function batchNormTrainingGradApplies(inputs: OnednnBatchNormTrainingGradInputs): boolean {
  const { dy, x, mean, variance, scale, dMean, dVariance } = inputs;
  return isGradientOf(dy, x) && areChannelVectors(x, [mean, variance], [scale, dMean, dVariance]);
}

/** Outputs dx, dScale and dOffset. */
const onednnBatchNormTrainingGrad = channelKernel<OnednnBatchNormTrainingGradInputs, OnednnBatchNormTrainingGradAttrs>(
  ONEDNN_BATCH_NORM_TRAINING_GRAD, batchNormTrainingGradApplies, 2,
  ({ inputs, backend, attrs }, { read, readOptional, rows: dx, vectors: [dScale, dOffset], channels }) => {
    const { dy, x, mean, variance, scale, dMean, dVariance } = inputs;
    backend.native.batchNormTrainingGrad(read(dy), read(x), readOptional(scale), read(mean), read(variance),
      readOptional(dMean), readOptional(dVariance), dx, dScale, dOffset, channels, attrs.varianceEpsilon);
  },
);

/** OnednnBatchNormTrainingGrad kernel of the onednn backend. */
export const onednnBatchNormTrainingGradConfig: KernelConfig = {
  kernelName: ONEDNN_BATCH_NORM_TRAINING_GRAD,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: onednnBatchNormTrainingGrad as unknown as KernelConfig['kernelFunc'],
};
