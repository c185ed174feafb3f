/**
 * PadV2 (constant padding) of a float32 tensor of any rank, natively (pooling.cc). Adjacent axes are merged where
 * the inner one is not padded, so NHWC padded in H and W is copied as rows of W*C values.
 */
import { PadV2 } from '@tensorflow/tfjs';
import type { KernelConfig, PadV2Attrs, PadV2Inputs } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { notFloat32 } from '../eltwise_utils.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import { padPlan } from '../pool_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';

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
