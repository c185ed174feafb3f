/** Neg: -x element-wise, natively for float32 (eltwise.cc). */
import { Neg } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { UNARY_OPS, unaryKernelFunc } from '../eltwise_utils.js';

/** Neg kernel of the onednn backend. */
export const negConfig: KernelConfig = {
  kernelName: Neg,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: unaryKernelFunc(Neg, UNARY_OPS.neg),
};
