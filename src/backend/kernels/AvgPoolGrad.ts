/**
 * AvgPoolGrad of NHWC float32 tensors, natively (pooling.cc). As tfjs's CPU kernel does, each input cell gets the
 * sum of the dy of the windows covering it divided by the full window size, even where 'same' padding made the
 * forward pass divide by fewer cells.
 */
import { AvgPoolGrad } from '@tensorflow/tfjs';
import type { AvgPoolGradAttrs, AvgPoolGradInputs, KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { notFloat32 } from '../eltwise_utils.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';
import { planPool2D } from '../pool_utils.js';

function avgPoolGrad({ inputs, backend, attrs }: KernelArgs<AvgPoolGradInputs, AvgPoolGradAttrs>): NativeResult {
  const { dy, input } = inputs;
  const dyData = float32Data(backend, dy);
  if (dyData === null) return `dy: ${notFloat32(backend, dy)}`;
  if (input.dtype !== 'float32') return `input: dtype ${input.dtype}, not float32`;
  const plan = planPool2D(input.shape, attrs);
  if (typeof plan === 'string') return plan;
  if (sizeOf(dy.shape) !== sizeOf(plan.convInfo.outShape)) return 'dy does not match the pooling output';
  const dx = outputArray(sizeOf(input.shape));
  backend.native.avgPoolGrad(dyData, dx, plan.geometry);
  return backend.makeTensorInfo(input.shape, 'float32', dx);
}

/** AvgPoolGrad kernel of the onednn backend. */
export const avgPoolGradConfig: KernelConfig = {
  kernelName: AvgPoolGrad,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(AvgPoolGrad, avgPoolGrad),
};
