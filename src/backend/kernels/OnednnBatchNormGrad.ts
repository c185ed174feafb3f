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
import { channelsOf, isChannelVector, isGradientOf } from '../batchnorm_utils.js';
import { float32Values } from '../eltwise_utils.js';
import { outputArray } from '../kernel_utils.js';
import type { KernelArgs } from '../kernel_utils.js';

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
  if (!isGradientOf(dy, x)) return false;
  const channels = channelsOf(x);
  return isChannelVector(mean, channels) && isChannelVector(variance, channels) &&
    (scale == null || isChannelVector(scale, channels));
}

function onednnBatchNormGrad({
  inputs,
  backend,
  attrs,
}: KernelArgs<OnednnBatchNormGradInputs, OnednnBatchNormGradAttrs>): TensorInfo[] {
  if (!batchNormGradApplies(inputs)) throw new Error(`${ONEDNN_BATCH_NORM_GRAD}: unsupported inputs`);
  const { dy, x, mean, variance, scale } = inputs;
  const data = (t: TensorInfo): Float32Array => float32Values(backend, t) as Float32Array;
  const channels = channelsOf(x);
  const dx = outputArray(data(x).length);
  const grads = [0, 1, 2, 3].map(() => outputArray(channels));
  const [dMean, dVariance, dScale, dOffset] = grads;
  backend.native.batchNormGrad(data(dy), data(x), data(mean), data(variance), scale == null ? null : data(scale), dx,
    dMean, dVariance, dScale, dOffset, channels, attrs.varianceEpsilon);
  return [
    backend.makeTensorInfo(x.shape, 'float32', dx),
    ...grads.map((g) => backend.makeTensorInfo(mean.shape, 'float32', g)),
  ];
}

/** OnednnBatchNormGrad kernel of the onednn backend. */
export const onednnBatchNormGradConfig: KernelConfig = {
  kernelName: ONEDNN_BATCH_NORM_GRAD,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: onednnBatchNormGrad as unknown as KernelConfig['kernelFunc'],
};
