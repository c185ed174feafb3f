/**
 * Reductions on the native side (reduce.cc): op codes, the plan that turns tfjs's axes into the [outer, size, inner]
 * view the native code takes, and the kernel-function factory of Sum, Mean, Max and Min.
 */
import { backend_util, util } from '@tensorflow/tfjs';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';

import type { BackendOnednn } from './backend_onednn.js';
import { notFloat32 } from './eltwise_utils.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from './kernel_utils.js';
import type { KernelArgs, NativeResult } from './kernel_utils.js';

/** Reduction op codes of `reduce()` in reduce.cc (same numbering as `ReduceOp` there). */
export const REDUCE_OPS = { sum: 0, mean: 1, max: 2, min: 3 } as const;

/** A reduction as the native code sees it. */
export interface ReducePlan {
  /** The result's shape (with the reduced axes kept as 1 when keepDims). */
  outShape: number[];
  /** Product of the axes before the reduced block. */
  outer: number;
  /** Product of the reduced axes. */
  size: number;
  /** Product of the axes after the reduced block. */
  inner: number;
}

/**
 * Plans reducing `shape` over `axis` (tfjs's attribute: a number, a list, or null/undefined for all axes,
 * negative values counting from the end). Axes of size 1 are ignored, so the reduced axes must then be adjacent:
 * leading axes ([N,H,W,C] to [C]), trailing axes (to [N]) and a middle block (to [N,C]) all are. Returns a reason
 * string otherwise.
 */
export function planReduce(
  shape: readonly number[],
  axis: number | number[] | null | undefined,
  keepDims: boolean,
): ReducePlan | string {
  const axes = axis == null ? shape.map((_, i) => i) : util.parseAxisParam(axis, shape as number[]);
  const reduced = new Set(axes);
  // An axis named twice is left to tfjs's own kernel, which decides what that means (shapes otherwise differ).
  if (reduced.size !== axes.length) return `axis ${axes.join(',')} names an axis twice`;
  // The non-trivial axes in order, each marked reduced or not.
  const kept = shape.map((size, i) => ({ size, reduced: reduced.has(i) })).filter((x) => x.size !== 1);
  const first = kept.findIndex((x) => x.reduced);
  let outer = 1;
  let size = 1;
  let inner = 1;
  if (first < 0) {
    outer = sizeOf(shape);
  } else {
    let end = first;
    while (end < kept.length && kept[end].reduced) end++;
    if (kept.slice(end).some((x) => x.reduced)) return `axes [${axes.join(',')}] of shape [${shape.join(',')}] are not adjacent`;
    outer = sizeOf(kept.slice(0, first).map((x) => x.size));
    size = sizeOf(kept.slice(first, end).map((x) => x.size));
    inner = sizeOf(kept.slice(end).map((x) => x.size));
  }
  let [outShape] = backend_util.computeOutAndReduceShapes(shape as number[], axes);
  if (keepDims) outShape = backend_util.expandShapeToKeepDim(outShape, axes);
  return { outShape, outer, size, inner };
}

/** `op` over `axis` of a float32 x natively, or the reason it cannot be. */
export function reduceNative(
  backend: BackendOnednn,
  op: number,
  x: TensorInfo,
  axis: number | number[] | null | undefined,
  keepDims: boolean,
): NativeResult {
  const xData = float32Data(backend, x);
  if (xData === null) return notFloat32(backend, x);
  const plan = planReduce(x.shape, axis, keepDims);
  if (typeof plan === 'string') return plan;
  if (plan.size === 0 || plan.outer * plan.inner === 0) return 'empty tensor';
  const out = outputArray(plan.outer * plan.inner);
  backend.native.reduce(op, xData, out, plan.outer, plan.size, plan.inner);
  return backend.makeTensorInfo(plan.outShape, 'float32', out);
}

/** Attributes of Sum, Mean (`axis`) and Max, Min (`reductionIndices`). */
interface ReduceAttrs {
  axis?: number | number[];
  reductionIndices?: number | number[];
  keepDims: boolean;
}

/** A reduction kernel function (input `x`) running `op` natively, with the CPU kernel `kernelName` as fallback. */
export function reduceKernelFunc(kernelName: string, op: number): KernelFunc {
  return withCpuFallback(kernelName, ({ inputs, backend, attrs }: KernelArgs<{ x: TensorInfo }, ReduceAttrs>) =>
    reduceNative(backend, op, inputs.x, attrs.axis ?? attrs.reductionIndices, attrs.keepDims),
  );
}
