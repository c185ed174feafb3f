/** Min: the smallest value over axes (NaN if any is NaN), natively for float32 when the reduced axes are adjacent (reduce.cc). */
import { Min } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { REDUCE_OPS, reduceKernelFunc } from '../reduce_utils.js';

/** Min kernel of the onednn backend. */
export const minConfig: KernelConfig = {
  kernelName: Min,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: reduceKernelFunc(Min, REDUCE_OPS.min),
};
