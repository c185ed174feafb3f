/**
 * OnednnConv2DResidual: a kernel of this backend only, y = activation(conv2d(x, filter) + bias + residual), with the
 * residual added inside the convolution (a oneDNN binary post-op, conv.cc). It is TensorFlow's `_FusedConv2D` with
 * fused ops `BiasAdd, Add, Relu`: the end of a residual block, where a convolution's output is added to a shortcut
 * and passed through a ReLU, in one pass over the output instead of three (conv, Add, Relu). No tfjs op calls it;
 * `conv2dResidualOnBackend` (native_ops.ts) runs it for callers that fuse such graphs.
 *
 * Inputs: x (NHWC), filter (HWIO), bias (optional, one value per output channel), residual (the output's shape),
 * all float32. Attributes: those of FusedConv2D (strides, pad, dataFormat, dilations, dimRoundingMode, activation,
 * leakyreluAlpha). It has no gradient: it serves inference graphs.
 */
import type { FusedConv2DAttrs, KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import type { KernelArgs } from '../kernel_utils.js';
import { planConvForward } from '../conv_util.js';
import { convForward } from './Conv2D.js';

/** The kernel's registered name. */
export const ONEDNN_CONV2D_RESIDUAL = 'OnednnConv2DResidual';

/** Inputs of OnednnConv2DResidual. */
export interface OnednnConv2DResidualInputs {
  x: TensorInfo;
  filter: TensorInfo;
  bias?: TensorInfo;
  residual: TensorInfo;
}

/** Attributes of OnednnConv2DResidual: FusedConv2D's. */
export type OnednnConv2DResidualAttrs = Pick<
  FusedConv2DAttrs,
  'strides' | 'pad' | 'dataFormat' | 'dilations' | 'dimRoundingMode' | 'activation' | 'leakyreluAlpha'
>;

/**
 * Whether OnednnConv2DResidual takes these tensors: all float32, an NHWC convolution the native code can run, a bias
 * of one value per output channel, a residual of the output's shape and a supported activation (not prelu).
 */
export function conv2DResidualApplies(inputs: OnednnConv2DResidualInputs, attrs: OnednnConv2DResidualAttrs): boolean {
  const { x, filter, bias, residual } = inputs;
  if (bias !== undefined && bias.shape.length !== 1) return false;
  return typeof planConvForward(x, filter, bias, attrs.activation, attrs.leakyreluAlpha, attrs, residual) !== 'string';
}

function onednnConv2DResidual({
  inputs,
  backend,
  attrs,
}: KernelArgs<OnednnConv2DResidualInputs, OnednnConv2DResidualAttrs>): TensorInfo {
  const { x, filter, bias, residual } = inputs;
  const result = convForward(backend, x, filter, bias, attrs.activation, attrs.leakyreluAlpha, attrs, residual);
  if (typeof result === 'string') throw new Error(`${ONEDNN_CONV2D_RESIDUAL}: unsupported inputs: ${result}`);
  return result;
}

/** OnednnConv2DResidual kernel of the onednn backend. */
export const onednnConv2DResidualConfig: KernelConfig = {
  kernelName: ONEDNN_CONV2D_RESIDUAL,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: onednnConv2DResidual as unknown as KernelConfig['kernelFunc'],
};
