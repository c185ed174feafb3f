/** Conv2D on oneDNN: NHWC input, HWIO filter. Also the core of FusedConv2D. */
import { Conv2D } from '@tensorflow/tfjs';
import type { Conv2DAttrs, Conv2DInputs, KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import type { BackendOnednn } from '../backend_onednn.js';
import { planConv2D } from '../conv_util.js';
import { activationCode, float32Data, outputArray, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';

/** Convolution attributes shared by Conv2D and FusedConv2D. */
export type ConvForwardAttrs = Pick<Conv2DAttrs, 'strides' | 'pad' | 'dataFormat' | 'dilations' | 'dimRoundingMode'>;

/**
 * y = activation(conv2d(x, filter) + bias + residual) natively, or the reason it cannot be (dtype, layout, bias or
 * residual shape, or activation not supported). `residual`, when given, has the output's shape.
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
  const xData = float32Data(backend, x);
  const filterData = float32Data(backend, filter);
  if (xData === null || filterData === null) return 'input or filter is not float32';
  const act = activationCode(activation, leakyreluAlpha);
  if (act === null) return `activation '${activation}'${leakyreluAlpha === undefined ? ' without alpha' : ''}`;
  const plan = planConv2D(x.shape, filter.shape, attrs.strides, attrs.pad, attrs.dataFormat, attrs.dilations,
    attrs.dimRoundingMode);
  if (typeof plan === 'string') return plan;
  const { convInfo, geometry } = plan;
  let biasData: Float32Array | null = null;
  if (bias !== undefined) {
    biasData = float32Data(backend, bias);
    if (biasData === null) return 'bias is not float32';
    const lastDim = bias.shape.length === 0 ? 1 : bias.shape[bias.shape.length - 1];
    if (biasData.length !== convInfo.outChannels || lastDim !== convInfo.outChannels) {
      return 'bias is not one value per output channel';
    }
  }
  let residualData: Float32Array | null = null;
  if (residual !== undefined) {
    residualData = float32Data(backend, residual);
    if (residualData === null) return 'residual is not float32';
    const out = convInfo.outShape;
    if (residual.shape.length !== 4 || residual.shape.some((d, i) => d !== out[i])) {
      return `residual of shape [${residual.shape.join(',')}], output [${out.join(',')}]`;
    }
  }
  const [n, oh, ow, oc] = convInfo.outShape;
  const y = outputArray(n * oh * ow * oc);
  backend.native.conv2dForward(xData, filterData, biasData, y, geometry, act,
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
