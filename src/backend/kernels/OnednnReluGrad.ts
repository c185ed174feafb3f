/**
 * OnednnReluGrad: a kernel of this backend only, run by the Relu gradient of `gradients.ts`. dx = dy * step(x) in
 * one native pass (eltwise.cc) instead of tfjs's Step then Multiply; the same values, NaN included.
 *
 * Inputs: dy and x of the same shape, both float32. Output: dx.
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { BINARY_OPS, binaryNative } from '../eltwise_utils.js';
import type { KernelArgs } from '../kernel_utils.js';

/** The kernel's registered name. */
export const ONEDNN_RELU_GRAD = 'OnednnReluGrad';

/** Whether OnednnReluGrad takes these tensors: float32 dy and x of one shape, not empty. */
export function reluGradApplies(dy: TensorInfo, x: TensorInfo): boolean {
  return (
    dy.dtype === 'float32' &&
    x.shape.every((d) => d > 0) &&
    x.dtype === 'float32' &&
    dy.shape.length === x.shape.length &&
    dy.shape.every((d, i) => d === x.shape[i])
  );
}

function onednnReluGrad({ inputs, backend }: KernelArgs<{ dy: TensorInfo; x: TensorInfo }, object>): TensorInfo {
  const { dy, x } = inputs;
  if (!reluGradApplies(dy, x)) throw new Error(`${ONEDNN_RELU_GRAD}: unsupported inputs`);
  const result = binaryNative(backend, BINARY_OPS.reluGrad, dy, x, true);
  if (typeof result === 'string') throw new Error(`${ONEDNN_RELU_GRAD}: ${result}`);
  return result;
}

/** OnednnReluGrad kernel of the onednn backend. */
export const onednnReluGradConfig: KernelConfig = {
  kernelName: ONEDNN_RELU_GRAD,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: onednnReluGrad as unknown as KernelConfig['kernelFunc'],
};
