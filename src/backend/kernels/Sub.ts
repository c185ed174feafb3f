/** Sub: a - b element-wise with broadcasting, natively for float32 (eltwise.cc). */
import { Sub } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { BINARY_OPS, binaryKernelFunc } from '../eltwise_utils.js';

/** Sub kernel of the onednn backend. */
export const subConfig: KernelConfig = {
  kernelName: Sub,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: binaryKernelFunc(Sub, BINARY_OPS.sub),
};
