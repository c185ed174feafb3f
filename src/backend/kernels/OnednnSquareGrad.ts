/**
 * OnednnSquareGrad: a kernel of this backend only, run by the Square gradient of `gradients.ts`. dx = dy * (x * 2)
 * in one native pass (eltwise.cc) instead of tfjs's two Multiply ops; the same float32 values.
 *
 * Inputs: dy and x of the same shape, both float32, not empty. Output: dx.
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { BINARY_OPS, binaryNative } from '../eltwise_utils.js';
import type { KernelArgs } from '../kernel_utils.js';
import { reluGradApplies } from './OnednnReluGrad.js';

/** The kernel's registered name. */
export const ONEDNN_SQUARE_GRAD = 'OnednnSquareGrad';

/** Whether OnednnSquareGrad takes these tensors: float32 dy and x of one shape, not empty. */
export const squareGradApplies = reluGradApplies;

function onednnSquareGrad({ inputs, backend }: KernelArgs<{ dy: TensorInfo; x: TensorInfo }, object>): TensorInfo {
  const { dy, x } = inputs;
  if (!squareGradApplies(dy, x)) throw new Error(`${ONEDNN_SQUARE_GRAD}: unsupported inputs`);
  const result = binaryNative(backend, BINARY_OPS.squareGrad, dy, x, true);
  if (typeof result === 'string') throw new Error(`${ONEDNN_SQUARE_GRAD}: ${result}`);
  return result;
}

/** OnednnSquareGrad kernel of the onednn backend. */
export const onednnSquareGradConfig: KernelConfig = {
  kernelName: ONEDNN_SQUARE_GRAD,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: onednnSquareGrad as unknown as KernelConfig['kernelFunc'],
};
