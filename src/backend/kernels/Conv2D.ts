/** Conv2D on oneDNN: NHWC input, HWIO filter. Also the core of FusedConv2D. */
import { Conv2D } from '@tensorflow/tfjs';
import type { Conv2DAttrs, Conv2DInputs, KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import type { BackendOnednn } from '../backend_onednn.js';
import { planConvForward, type ConvForwardAttrs } from '../conv_util.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';

/**
 * y = activation(conv2d(x, filter) + bias + residual) natively (see {@link planConvForward}), or the reason it
 * cannot be.
 */
export function convForward(
  backend: BackendOnednn,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | undefined,
  activation: string | undefined,
  leakyreluAlpha: number | undefined,
  attrs: ConvForwardAttrs,
  residual?: TensorInfo,
): NativeResult {
  const plan = planConvForward(x, filter, bias, activation, leakyreluAlpha, attrs, residual);
  if (typeof plan === 'string') return plan;
  const xData = float32Data(backend, x);
  const filterData = float32Data(backend, filter);
  if (xData === null || filterData === null) return 'input or filter is not float32';
  const biasData = bias === undefined ? null : float32Data(backend, bias);
  if (bias !== undefined && biasData === null) return 'bias is not float32';
  const residualData = residual === undefined ? null : float32Data(backend, residual);
  if (residual !== undefined && residualData === null) return 'residual is not float32';
  const { convInfo, geometry } = plan;
  const y = outputArray(sizeOf(convInfo.outShape));
  backend.native.conv2dForward(xData, filterData, biasData, y, geometry, plan.activation,
    leakyreluAlpha ?? 0, backend.dataToken(filter.dataId), residualData);
  return backend.makeTensorInfo(convInfo.outShape, 'float32', y);
}

function conv2D({ inputs, backend, attrs }: KernelArgs<Conv2DInputs, Conv2DAttrs>): NativeResult {
  return convForward(backend, inputs.x, inputs.filter, undefined, 'linear', undefined, attrs);
}

/** Conv2D kernel of the onednn backend. */
export const conv2DConfig: KernelConfig = {
  kernelName: Conv2D,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(Conv2D, conv2D),
};
