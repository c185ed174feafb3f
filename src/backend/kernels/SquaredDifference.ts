/** SquaredDifference: (a - b)^2 element-wise with broadcasting, natively for float32 (eltwise.cc). */
import { SquaredDifference } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { BINARY_OPS, binaryKernelFunc } from '../eltwise_utils.js';

/** SquaredDifference kernel of the onednn backend. */
export const squaredDifferenceConfig: KernelConfig = {
  kernelName: SquaredDifference,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: binaryKernelFunc(SquaredDifference, BINARY_OPS.squaredDifference),
};
