/**
 * MaxPoolGrad of NHWC float32 tensors, natively (pooling.cc): each window's dy goes to the first largest of its
 * inputs (row-major order), as tfjs's CPU kernel picks it; the saved `output` is not needed.
 */
import { MaxPoolGrad } from '@tensorflow/tfjs';
import type { KernelConfig, MaxPoolGradAttrs, MaxPoolGradInputs } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { notFloat32 } from '../eltwise_utils.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';
import { planPool2D } from '../pool_utils.js';

function maxPoolGrad({ inputs, backend, attrs }: KernelArgs<MaxPoolGradInputs, MaxPoolGradAttrs>): NativeResult {
  const { dy, input } = inputs;
  const dyData = float32Data(backend, dy);
  const xData = float32Data(backend, input);
  if (dyData === null) return `dy: ${notFloat32(backend, dy)}`;
  if (xData === null) return `input: ${notFloat32(backend, input)}`;
  const plan = planPool2D(input.shape, attrs);
  if (typeof plan === 'string') return plan;
  if (sizeOf(dy.shape) !== sizeOf(plan.convInfo.outShape)) return 'dy does not match the pooling output';
  const dx = outputArray(sizeOf(input.shape));
  backend.native.maxPoolGrad(dyData, xData, dx, plan.geometry);
  return backend.makeTensorInfo(input.shape, 'float32', dx);
}

/** MaxPoolGrad kernel of the onednn backend. */
export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(MaxPoolGrad, maxPoolGrad),
};
