/**
 * Conv2DBackpropFilter (the gradient of Conv2D with respect to its filter) on oneDNN, HWIO output. oneDNN's
 * convolution primitive also sums dy per output channel (the bias gradient of a convolution with bias) at little cost;
 * the backend then remembers that sum so that the Sum tfjs's fused conv2d gradient runs next over dy takes it
 * (kernels/Sum.ts). Convolutions the addon runs as matmuls give no such sum.
 */
import { Conv2DBackpropFilter } from '@tensorflow/tfjs';
import type { Conv2DBackpropFilterAttrs, Conv2DBackpropFilterInputs, KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { planConv2D } from '../conv_util.js';
import { bufferPool } from '../buffer_pool.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';

function conv2DBackpropFilter({
  inputs,
  backend,
  attrs,
}: KernelArgs<Conv2DBackpropFilterInputs, Conv2DBackpropFilterAttrs>): NativeResult {
  const { x, dy } = inputs;
  const xData = float32Data(backend, x);
  const dyData = float32Data(backend, dy);
  if (xData === null || dyData === null) return 'x or dy is not float32';
  const plan = planConv2D(x.shape, attrs.filterShape, attrs.strides, attrs.pad, attrs.dataFormat, 1,
    attrs.dimRoundingMode);
  if (typeof plan === 'string') return plan;
  const { convInfo, geometry } = plan;
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== convInfo.outShape[i])) {
    return 'dy shape differs from the convolution output shape';
  }
  const dFilter = outputArray(sizeOf(attrs.filterShape));
  const dBias = outputArray(convInfo.outChannels);
  if (backend.native.conv2dBackwardWeights(xData, dyData, dFilter, dBias, geometry)) {
    backend.rememberChannelSums(dy.dataId, dBias);
  } else {
    bufferPool.give(dBias);
  }
  return backend.makeTensorInfo(attrs.filterShape, 'float32', dFilter);
}

/** Conv2DBackpropFilter kernel of the onednn backend. */
export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(Conv2DBackpropFilter, conv2DBackpropFilter),
};
