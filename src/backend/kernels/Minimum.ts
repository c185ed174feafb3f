/** Minimum: min(a, b) (NaN if either is NaN) element-wise with broadcasting, natively for float32 (eltwise.cc). */
import { Minimum } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { BINARY_OPS, binaryKernelFunc } from '../eltwise_utils.js';

/** Minimum kernel of the onednn backend. */
export const minimumConfig: KernelConfig = {
  kernelName: Minimum,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: binaryKernelFunc(Minimum, BINARY_OPS.minimum),
};
