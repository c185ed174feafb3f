/**
 * Pooling on the native side (pooling.cc): the 12-integer geometry the addon takes, from tfjs's pool info, and the
 * kernel-function factory of MaxPool and AvgPool; and the plan of constant padding, which pooling.cc also does.
 */
import { backend_util } from '@tensorflow/tfjs';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';

import { notFloat32 } from './eltwise_utils.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from './kernel_utils.js';
import type { KernelArgs } from './kernel_utils.js';

/** Pooling kinds of `pool()` in pooling.cc. */
export const POOL_OPS = { max: 0, avg: 1 } as const;

/** tfjs's pooling attributes (MaxPool, AvgPool and their gradients). */
export interface PoolAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** A pooling the native code can run: tfjs's pool info and the addon's geometry. */
export interface PoolPlan {
  convInfo: backend_util.Conv2DInfo;
  /** [batch, inH, inW, channels, outH, outW, filterH, filterW, strideH, strideW, padTop, padLeft]. */
  geometry: number[];
}

/**
 * Plans a 2-D pooling of an NHWC input of shape `xShape` with tfjs's own `computePool2DInfo` (so output sizes and
 * pads are tfjs's), or returns why the native code cannot run it.
 */
export function planPool2D(xShape: readonly number[], attrs: PoolAttrs): PoolPlan | string {
  if (xShape.length !== 4) return 'input is not 4-D';
  const convInfo = backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const c = convInfo;
  if (c.dilationHeight !== 1 || c.dilationWidth !== 1) return 'dilated pooling';
  if (c.batchSize * c.inHeight * c.inWidth * c.inChannels === 0 || c.outHeight <= 0 || c.outWidth <= 0) {
    return 'empty input or output';
  }
  const geometry = [
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.outHeight,
    c.outWidth,
    c.filterHeight,
    c.filterWidth,
    c.strideHeight,
    c.strideWidth,
    c.padInfo.top,
    c.padInfo.left,
  ];
  return { convInfo, geometry };
}

/**
 * A forward pooling kernel function (input `x`, NHWC float32) running `op` natively, with the CPU kernel
 * `kernelName` as fallback.
 */
export function poolKernelFunc(kernelName: string, op: number): KernelFunc {
  return withCpuFallback(kernelName, ({ inputs, backend, attrs }: KernelArgs<{ x: TensorInfo }, PoolAttrs>) => {
    const xData = float32Data(backend, inputs.x);
    if (xData === null) return notFloat32(backend, inputs.x);
    const plan = planPool2D(inputs.x.shape, attrs);
    if (typeof plan === 'string') return plan;
    const out = outputArray(sizeOf(plan.convInfo.outShape));
    backend.native.pool(op, xData, out, plan.geometry);
    return backend.makeTensorInfo(plan.convInfo.outShape, 'float32', out);
  });
}

/** The most axes the native pad takes after merging. */
const MAX_PAD_RANK = 6;

/** How the native `pad()` copies a padded tensor: the padded shape and the merged axes it walks. */
export interface PadPlan {
  outShape: number[];
  /** Axes with the unpadded ones merged into the axis before them (1 to MAX_PAD_RANK axes). */
  shape: number[];
  before: number[];
  after: number[];
}

/**
 * Plans constant padding of a tensor of shape `xShape` by `paddings` ([before, after] per axis), or returns why the
 * native code cannot do it. Each axis that is not padded is merged into the one before it, so NHWC padded in H and
 * W is copied as rows of W*C values.
 */
export function padPlan(xShape: readonly number[], paddings: readonly (readonly [number, number])[]): PadPlan | string {
  if (paddings.length !== xShape.length) return 'paddings do not match the rank';
  if (paddings.some(([b, a]) => b < 0 || a < 0)) return 'negative padding';
  if (sizeOf(xShape) === 0) return 'empty tensor';
  const outShape = xShape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
  const shape: number[] = [];
  const before: number[] = [];
  const after: number[] = [];
  for (let i = 0; i < xShape.length; i++) {
    const [b, a] = paddings[i];
    const last = shape.length - 1;
    if (last >= 0 && b === 0 && a === 0) {
      shape[last] *= xShape[i];
      before[last] *= xShape[i];
      after[last] *= xShape[i];
    } else {
      shape.push(xShape[i]);
      before.push(b);
      after.push(a);
    }
  }
  if (shape.length === 0) return 'scalar';
  if (shape.length > MAX_PAD_RANK) return `${shape.length} padded axes`;
  return { outShape, shape, before, after };
}
