/**
 * OnednnBatchNormTraining: a kernel of this backend only (no tfjs op calls it), run by the BatchNormalization layer
 * hook of `batchnorm_layer.ts` in training mode. It replaces tf.moments followed by tf.batchNorm (Mean, Sub,
 * Square, Mean, Reshape, FusedBatchNorm, and all their gradients) with one native call (batchnorm.cc): the
 * per-channel batch mean and biased variance over every axis but the last, and the normalized output.
 *
 * Inputs: x (float32, rank 1 or more, last axis C, not empty) and optionally scale and offset (each float32 [C]);
 * attribute varianceEpsilon. Outputs, in order: y = offset + (x - mean) * scale / sqrt(variance + varianceEpsilon)
 * (x's shape), mean and variance (each [C]).
 *
 * Its gradient (gradients.ts) saves x and scale: when gradients are recorded, pass a scale (ones for none), as
 * tfjs's own FusedBatchNorm gradient also requires.
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { areChannelVectors, channelKernel, isChannelRows } from '../batchnorm_utils.js';

/** The kernel's registered name. */
export const ONEDNN_BATCH_NORM_TRAINING = 'OnednnBatchNormTraining';

/** Inputs of OnednnBatchNormTraining. */
export interface OnednnBatchNormTrainingInputs {
  x: TensorInfo;
  scale?: TensorInfo;
  offset?: TensorInfo;
}

/** Attributes of OnednnBatchNormTraining. */
export interface OnednnBatchNormTrainingAttrs {
  varianceEpsilon: number;
}

/**
 * Whether OnednnBatchNormTraining takes these tensors: x float32 of rank 1 or more with no empty axis, and scale
 * and offset (when given) float32 of shape [C], C being x's last axis.
 */
export function batchNormTrainingApplies(inputs: OnednnBatchNormTrainingInputs): boolean {
  const { x, scale, offset } = inputs;
  return isChannelRows(x) && areChannelVectors(x, [], [scale, offset]);
}

/** Outputs y, mean and variance. */
const onednnBatchNormTraining = channelKernel<OnednnBatchNormTrainingInputs, OnednnBatchNormTrainingAttrs>(
  ONEDNN_BATCH_NORM_TRAINING, batchNormTrainingApplies, 2,
  ({ inputs, backend, attrs }, { read, readOptional, rows: y, vectors: [mean, variance], channels }) => {
    const { x, scale, offset } = inputs;
    backend.native.batchNormTraining(read(x), readOptional(scale), readOptional(offset), y, mean, variance, channels,
      attrs.varianceEpsilon);
  },
);

/** OnednnBatchNormTraining kernel of the onednn backend. */
export const onednnBatchNormTrainingConfig: KernelConfig = {
  kernelName: ONEDNN_BATCH_NORM_TRAINING,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: onednnBatchNormTraining as unknown as KernelConfig['kernelFunc'],
};
