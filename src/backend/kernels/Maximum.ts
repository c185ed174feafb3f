/** Maximum: max(a, b) (NaN if either is NaN) element-wise with broadcasting, natively for float32 (eltwise.cc). */
import { Maximum } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { BINARY_OPS, binaryKernelFunc } from '../eltwise_utils.js';

/** Maximum kernel of the onednn backend. */
export const maximumConfig: KernelConfig = {
  kernelName: Maximum,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: binaryKernelFunc(Maximum, BINARY_OPS.maximum),
};
