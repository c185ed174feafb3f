/** Add: a + b element-wise with broadcasting, natively for float32 (eltwise.cc). */
import { Add } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { BINARY_OPS, binaryKernelFunc } from '../eltwise_utils.js';

/** Add kernel of the onednn backend. */
export const addConfig: KernelConfig = {
  kernelName: Add,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: binaryKernelFunc(Add, BINARY_OPS.add),
};
