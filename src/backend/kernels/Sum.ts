/** Sum: the sum over axes, accumulated in double, natively for float32 when the reduced axes are adjacent (reduce.cc). */
import { Sum } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { REDUCE_OPS, reduceKernelFunc } from '../reduce_utils.js';

/** Sum kernel of the onednn backend. */
export const sumConfig: KernelConfig = {
  kernelName: Sum,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: reduceKernelFunc(Sum, REDUCE_OPS.sum),
};
