/** AvgPool of NHWC float32 input: the mean of each window's cells inside the input, natively (pooling.cc). */
import { AvgPool } from '@tensorflow/tfjs';
import type { AvgPoolAttrs, AvgPoolInputs, KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { notFloat32 } from '../eltwise_utils.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';
import { planPool2D } from '../pool_utils.js';

function avgPool({ inputs, backend, attrs }: KernelArgs<AvgPoolInputs, AvgPoolAttrs>): NativeResult {
  const xData = float32Data(backend, inputs.x);
  if (xData === null) return notFloat32(backend, inputs.x);
  const plan = planPool2D(inputs.x.shape, attrs);
  if (typeof plan === 'string') return plan;
  const out = outputArray(sizeOf(plan.convInfo.outShape));
  backend.native.pool(1, xData, out, plan.geometry);
  return backend.makeTensorInfo(plan.convInfo.outShape, 'float32', out);
}

/** AvgPool kernel of the onednn backend. */
export const avgPoolConfig: KernelConfig = {
  kernelName: AvgPool,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(AvgPool, avgPool),
};
