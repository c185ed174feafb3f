/**
 * Input checks shared by the native batch-norm kernels (OnednnBatchNormGrad, OnednnBatchNormTraining and its
 * gradient): x is rows of channels along its last axis, per-channel tensors are vectors of that length.
 */
import type { TensorInfo } from '@tensorflow/tfjs';

/** Whether `x` is float32 of rank 1 or more with no empty axis: rows of channels along its last axis. */
export function isChannelRows(x: TensorInfo): boolean {
  return x.dtype === 'float32' && x.shape.length > 0 && x.shape.every((d) => d > 0);
}

/** Whether `dy` is a float32 gradient shaped like `x`, and `x` is {@link isChannelRows}. */
export function isGradientOf(dy: TensorInfo, x: TensorInfo): boolean {
  return isChannelRows(x) && dy.dtype === 'float32' && dy.shape.length === x.shape.length &&
    dy.shape.every((d, i) => d === x.shape[i]);
}

/** The channels of `x`: its last axis. */
export function channelsOf(x: TensorInfo): number {
  return x.shape[x.shape.length - 1];
}

/** Whether `t` is a float32 tensor of shape [channels]. */
export function isChannelVector(t: TensorInfo, channels: number): boolean {
  return t.dtype === 'float32' && t.shape.length === 1 && t.shape[0] === channels;
}
