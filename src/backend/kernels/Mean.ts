/**
 * Mean: the mean over axes, accumulated in double, natively for float32 when the reduced axes are adjacent
 * (reduce.cc). The CPU kernel's Mean calls its own sum and div directly, so Mean is replaced as a whole.
 */
import { Mean } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { REDUCE_OPS, reduceKernelFunc } from '../reduce_utils.js';

/** Mean kernel of the onednn backend. */
export const meanConfig: KernelConfig = {
  kernelName: Mean,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: reduceKernelFunc(Mean, REDUCE_OPS.mean),
};
