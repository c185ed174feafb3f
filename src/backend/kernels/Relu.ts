/** Relu: max(0, x) element-wise, natively for float32 (eltwise.cc). */
import { Relu } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { UNARY_OPS, unaryKernelFunc } from '../eltwise_utils.js';

/** Relu kernel of the onednn backend. */
export const reluConfig: KernelConfig = {
  kernelName: Relu,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: unaryKernelFunc(Relu, UNARY_OPS.relu),
};
