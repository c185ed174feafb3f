/** MaxPool of NHWC float32 input: the largest value of each window (NaN ignored, as tfjs does), natively (pooling.cc). */
import { MaxPool } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { POOL_OPS, poolKernelFunc } from '../pool_utils.js';

/** MaxPool kernel of the onednn backend. */
export const maxPoolConfig: KernelConfig = {
  kernelName: MaxPool,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: poolKernelFunc(MaxPool, POOL_OPS.max),
};
