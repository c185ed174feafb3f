/**
 * OnednnReduceGrad: a kernel of this backend only, run by the Sum and Mean gradients of `gradients.ts`. Broadcasts
 * dy back over the reduced axes of x and divides it by `divisor` (1 for Sum, the number of reduced values for Mean)
 * in one native pass (eltwise.cc). tfjs instead fills a tensor of ones of x's shape, multiplies dy by it, and (for
 * Mean) divides the result: the same float32 values, since multiplying by 1 is exact.
 *
 * Inputs: dy (x's shape with the reduced axes removed or kept as 1) and x (only its shape is used), both float32.
 * Attributes: `axes` (the reduced axes, non-negative) and `divisor`. Output: x's shape.
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { BINARY_OPS, float32Values, planBinary } from '../eltwise_utils.js';
import { outputArray, sizeOf } from '../kernel_utils.js';
import type { KernelArgs } from '../kernel_utils.js';

/** The kernel's registered name. */
export const ONEDNN_REDUCE_GRAD = 'OnednnReduceGrad';

/** Attributes of OnednnReduceGrad. */
export interface OnednnReduceGradAttrs {
  axes: number[];
  divisor: number;
}

/** x's shape with the reduced axes as 1: the shape dy is broadcast from. */
function expandedShape(xShape: readonly number[], axes: readonly number[]): number[] {
  return xShape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Whether OnednnReduceGrad takes these tensors: float32, not empty, dy of the reduced size, a native broadcast. */
export function reduceGradApplies(dy: TensorInfo, x: TensorInfo, axes: readonly number[]): boolean {
  if (dy.dtype !== 'float32' || x.dtype !== 'float32' || sizeOf(x.shape) === 0) return false;
  const expanded = expandedShape(x.shape, axes);
  return sizeOf(dy.shape) === sizeOf(expanded) && typeof planBinary(expanded, x.shape) !== 'string';
}

function onednnReduceGrad({ inputs, backend, attrs }: KernelArgs<{ dy: TensorInfo; x: TensorInfo }, OnednnReduceGradAttrs>): TensorInfo {
  const { dy, x } = inputs;
  if (!reduceGradApplies(dy, x, attrs.axes)) throw new Error(`${ONEDNN_REDUCE_GRAD}: unsupported inputs`);
  const plan = planBinary(expandedShape(x.shape, attrs.axes), x.shape);
  if (typeof plan === 'string') throw new Error(`${ONEDNN_REDUCE_GRAD}: ${plan}`);
  const out = outputArray(sizeOf(x.shape));
  const divisor = Float32Array.of(attrs.divisor);
  backend.native.binary(BINARY_OPS.div, float32Values(backend, dy) as Float32Array, divisor, out, plan.dims,
    plan.aStrides, plan.dims.map(() => 0));
  return backend.makeTensorInfo(x.shape, 'float32', out);
}

/** OnednnReduceGrad kernel of the onednn backend. */
export const onednnReduceGradConfig: KernelConfig = {
  kernelName: ONEDNN_REDUCE_GRAD,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: onednnReduceGrad as unknown as KernelConfig['kernelFunc'],
};
