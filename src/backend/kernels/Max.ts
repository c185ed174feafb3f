/** Max: the largest value over axes (NaN if any is NaN), natively for float32 when the reduced axes are adjacent (reduce.cc). */
import { Max } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { REDUCE_OPS, reduceKernelFunc } from '../reduce_utils.js';

/** Max kernel of the onednn backend. */
export const maxConfig: KernelConfig = {
  kernelName: Max,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: reduceKernelFunc(Max, REDUCE_OPS.max),
};
