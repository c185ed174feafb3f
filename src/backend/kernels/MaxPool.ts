/** MaxPool of NHWC float32 input: the largest value of each window (NaN ignored, as tfjs does), natively (pooling.cc). */
import { MaxPool } from '@tensorflow/tfjs';
import type { MaxPoolAttrs, MaxPoolInputs, KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { notFloat32 } from '../eltwise_utils.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';
import { planPool2D } from '../pool_utils.js';

function maxPool({ inputs, backend, attrs }: KernelArgs<MaxPoolInputs, MaxPoolAttrs>): NativeResult {
  const xData = float32Data(backend, inputs.x);
  if (xData === null) return notFloat32(backend, inputs.x);
  const plan = planPool2D(inputs.x.shape, attrs);
  if (typeof plan === 'string') return plan;
  const out = outputArray(sizeOf(plan.convInfo.outShape));
  backend.native.pool(0, xData, out, plan.geometry);
  return backend.makeTensorInfo(plan.convInfo.outShape, 'float32', out);
}

/** MaxPool kernel of the onednn backend. */
export const maxPoolConfig: KernelConfig = {
  kernelName: MaxPool,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(MaxPool, maxPool),
};
