/**
 * PadV2 (constant padding) of a float32 tensor of any rank, natively (pooling.cc). Adjacent axes are merged where
 * the inner one is not padded, so NHWC padded in H and W is copied as rows of W*C values.
 */
import { PadV2 } from '@tensorflow/tfjs';
import type { KernelConfig, PadV2Attrs, PadV2Inputs } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { notFloat32 } from '../eltwise_utils.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';

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

function padV2({ inputs, backend, attrs }: KernelArgs<PadV2Inputs, PadV2Attrs>): NativeResult {
  const { x } = inputs;
  const xData = float32Data(backend, x);
  if (xData === null) return notFloat32(backend, x);
  const plan = padPlan(x.shape, attrs.paddings);
  if (typeof plan === 'string') return plan;
  const out = outputArray(sizeOf(plan.outShape));
  backend.native.pad(xData, out, plan.shape, plan.before, plan.after, attrs.constantValue);
  return backend.makeTensorInfo(plan.outShape, 'float32', out);
}

/** PadV2 kernel of the onednn backend. */
export const padV2Config: KernelConfig = {
  kernelName: PadV2,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(PadV2, padV2),
};
