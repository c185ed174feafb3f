/** Conv2DBackpropInput (the gradient of Conv2D with respect to its input) on oneDNN. */
import { Conv2DBackpropInput } from '@tensorflow/tfjs';
import type { Conv2DBackpropInputAttrs, Conv2DBackpropInputInputs, KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { planConv2D } from '../conv_util.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';

function conv2DBackpropInput({
  inputs,
  backend,
  attrs,
}: KernelArgs<Conv2DBackpropInputInputs, Conv2DBackpropInputAttrs>): NativeResult {
  const { dy, filter } = inputs;
  const dyData = float32Data(backend, dy);
  const filterData = float32Data(backend, filter);
  if (dyData === null || filterData === null) return 'dy or filter is not float32';
  const plan = planConv2D(attrs.inputShape, filter.shape, attrs.strides, attrs.pad, attrs.dataFormat, 1,
    attrs.dimRoundingMode);
  if (typeof plan === 'string') return plan;
  const { convInfo, geometry } = plan;
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== convInfo.outShape[i])) {
    return 'dy shape differs from the convolution output shape';
  }
  const dx = outputArray(sizeOf(convInfo.inShape));
  backend.native.conv2dBackwardData(dyData, filterData, dx, geometry, backend.dataToken(filter.dataId));
  return backend.makeTensorInfo(convInfo.inShape, 'float32', dx);
}

/** Conv2DBackpropInput kernel of the onednn backend. */
export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(Conv2DBackpropInput, conv2DBackpropInput),
};
