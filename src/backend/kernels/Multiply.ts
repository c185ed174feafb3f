/** Multiply: a * b element-wise with broadcasting, natively for float32 (eltwise.cc). */
import { Multiply } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { BINARY_OPS, binaryKernelFunc } from '../eltwise_utils.js';

/** Multiply kernel of the onednn backend. */
export const multiplyConfig: KernelConfig = {
  kernelName: Multiply,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: binaryKernelFunc(Multiply, BINARY_OPS.mul),
};
