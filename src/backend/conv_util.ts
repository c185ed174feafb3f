/**
 * Turning tfjs's convolution attributes into the native addon's conv geometry. tfjs's own
 * `backend_util.computeConv2DInfo` computes the output shape and pads, so results match tfjs exactly.
 */
import { backend_util } from '@tensorflow/tfjs';
import type { Conv2DAttrs, TensorInfo } from '@tensorflow/tfjs';

import { activationCode, sizeOf } from './kernel_utils.js';

/** tfjs's padding attribute. */
export type PadAttr = 'valid' | 'same' | number | backend_util.ExplicitPadding;

/** A convolution the native code can run: tfjs's conv info plus the 17-integer geometry the addon takes. */
export interface NativeConvPlan {
  convInfo: backend_util.Conv2DInfo;
  /** See `OnednnAddon` in native.ts for the layout. */
  geometry: Int32Array;
}

/**
 * Plans a 2-D convolution of an NHWC input `xShape` with an HWIO filter `filterShape`, or returns why the native
 * code cannot run it (NCHW data, a filter whose input channels differ from the input's, empty tensors).
 */
export function planConv2D(
  xShape: readonly number[],
  filterShape: readonly number[],
  strides: number | [number, number],
  pad: PadAttr,
  dataFormat: 'NHWC' | 'NCHW' | undefined,
  dilations: number | [number, number] | undefined,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
): NativeConvPlan | string {
  if (dataFormat === 'NCHW') return 'NCHW data format';
  if (xShape.length !== 4 || filterShape.length !== 4) return 'input or filter is not 4-D';
  if (xShape[3] !== filterShape[2]) return 'filter input channels differ from the input channels';
  const convInfo = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations ?? 1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const c = convInfo;
  if (c.batchSize <= 0 || c.inChannels <= 0 || c.outChannels <= 0 || c.outHeight <= 0 || c.outWidth <= 0) {
    return 'empty input or output';
  }
  if (c.inHeight <= 0 || c.inWidth <= 0) return 'empty input';
  const top = c.padInfo.top;
  const left = c.padInfo.left;
  const bottom = onednnEndPad(c.inHeight, c.outHeight, c.effectiveFilterHeight, c.strideHeight, top, c.padInfo.bottom);
  const right = onednnEndPad(c.inWidth, c.outWidth, c.effectiveFilterWidth, c.strideWidth, left, c.padInfo.right);
  if (bottom === null || right === null || top < 0 || left < 0) return 'padding not expressible in oneDNN';
  const geometry = Int32Array.from([
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.outHeight,
    c.outWidth,
    c.outChannels,
    c.filterHeight,
    c.filterWidth,
    c.strideHeight,
    c.strideWidth,
    c.dilationHeight,
    c.dilationWidth,
    top,
    bottom,
    left,
    right,
  ]);
  return { convInfo, geometry };
}

/**
 * The end pad oneDNN needs so that (in + begin + end - filter) / stride + 1 == out (integer division). tfjs's own
 * end pad satisfies this except with some dimRoundingModes; then the smallest non-negative pad that does is
 * used: extra zero padding past the last window changes no output value. Null if no non-negative pad works.
 */
function onednnEndPad(
  inSize: number,
  outSize: number,
  effectiveFilter: number,
  stride: number,
  begin: number,
  tfjsEnd: number,
): number | null {
  const fits = (end: number): boolean =>
    end >= 0 && inSize + begin + end >= effectiveFilter &&
    Math.floor((inSize + begin + end - effectiveFilter) / stride) + 1 === outSize;
  if (fits(tfjsEnd)) return tfjsEnd;
  const needed = Math.max(0, (outSize - 1) * stride + effectiveFilter - inSize - begin);
  return fits(needed) ? needed : null;
}

/** Convolution attributes shared by Conv2D and FusedConv2D. */
export type ConvForwardAttrs = Pick<Conv2DAttrs, 'strides' | 'pad' | 'dataFormat' | 'dilations' | 'dimRoundingMode'>;

/** A forward convolution the native code can run: its conv plan and activation code. */
export interface ConvForwardPlan extends NativeConvPlan {
  activation: number;
}

/**
 * Plans y = activation(conv2d(x, filter) + bias + residual) from the tensors' dtypes and shapes alone, or returns
 * why the native code cannot run it (dtype, layout, bias or residual shape, or activation not supported).
 * `residual`, when given, has the output's shape.
 */
export function planConvForward(
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | undefined,
  activation: string | undefined,
  leakyreluAlpha: number | undefined,
  attrs: ConvForwardAttrs,
  residual?: TensorInfo,
): ConvForwardPlan | string {
  if (x.dtype !== 'float32' || filter.dtype !== 'float32') return 'input or filter is not float32';
  const act = activationCode(activation, leakyreluAlpha);
  if (act === null) return `activation '${activation}'${leakyreluAlpha === undefined ? ' without alpha' : ''}`;
  const plan = planConv2D(x.shape, filter.shape, attrs.strides, attrs.pad, attrs.dataFormat, attrs.dilations,
    attrs.dimRoundingMode);
  if (typeof plan === 'string') return plan;
  const out = plan.convInfo.outShape;
  if (bias !== undefined) {
    if (bias.dtype !== 'float32') return 'bias is not float32';
    const lastDim = bias.shape.length === 0 ? 1 : bias.shape[bias.shape.length - 1];
    if (sizeOf(bias.shape) !== out[3] || lastDim !== out[3]) return 'bias is not one value per output channel';
  }
  if (residual !== undefined) {
    if (residual.dtype !== 'float32') return 'residual is not float32';
    if (residual.shape.length !== 4 || residual.shape.some((d, i) => d !== out[i])) {
      return `residual of shape [${residual.shape.join(',')}], output [${out.join(',')}]`;
    }
  }
  return { ...plan, activation: act };
}
