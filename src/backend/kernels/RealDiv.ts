/** RealDiv: a / b element-wise with broadcasting, natively for float32 (eltwise.cc). */
import { RealDiv } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { BINARY_OPS, binaryKernelFunc } from '../eltwise_utils.js';

/** RealDiv kernel of the onednn backend. */
export const realDivConfig: KernelConfig = {
  kernelName: RealDiv,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: binaryKernelFunc(RealDiv, BINARY_OPS.div),
};
