/** AvgPool of NHWC float32 input: the mean of each window's cells inside the input, natively (pooling.cc). */
import { AvgPool } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { POOL_OPS, poolKernelFunc } from '../pool_utils.js';

/** AvgPool kernel of the onednn backend. */
export const avgPoolConfig: KernelConfig = {
  kernelName: AvgPool,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: poolKernelFunc(AvgPool, POOL_OPS.avg),
};
