/**
 * Sum: the sum over axes, accumulated in double, natively for float32 when the reduced axes are adjacent (reduce.cc).
 * A sum of a tensor over every axis but the last, when Conv2DBackpropFilter has just computed it as a by-product
 * (the bias gradient of a fused conv2d), is taken from there instead (BackendOnednn.rememberChannelSums).
 */
import { Sum, util } from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, SumAttrs, SumInputs, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import type { KernelArgs } from '../kernel_utils.js';
import { REDUCE_OPS, reduceKernelFunc } from '../reduce_utils.js';

const reduceSum = reduceKernelFunc(Sum, REDUCE_OPS.sum);

function sum(args: KernelArgs<SumInputs, SumAttrs>): TensorInfo | TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  const rank = x.shape.length;
  if (x.dtype === 'float32' && rank >= 2) {
    const axes = util.parseAxisParam(attrs.axis, x.shape).sort((a, b) => a - b);
    if (axes.length === rank - 1 && axes.every((a, i) => a === i)) {
      // A reshape shares the data id: the sums hold only when the last axis is still dy's channel axis.
      const channels = x.shape[rank - 1];
      const sums = backend.takeChannelSums(x.dataId, channels);
      if (sums !== null) {
        const shape = attrs.keepDims ? [...axes.map(() => 1), channels] : [channels];
        return backend.makeTensorInfo(shape, 'float32', sums);
      }
    }
  }
  return reduceSum(args as unknown as Parameters<KernelFunc>[0]);
}

/** Sum kernel of the onednn backend. */
export const sumConfig: KernelConfig = {
  kernelName: Sum,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: sum as unknown as KernelFunc,
};
