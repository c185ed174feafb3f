/** Rsqrt: 1 / sqrt(x) element-wise, natively for float32 (eltwise.cc). */
import { Rsqrt } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { UNARY_OPS, unaryKernelFunc } from '../eltwise_utils.js';

/** Rsqrt kernel of the onednn backend. */
export const rsqrtConfig: KernelConfig = {
  kernelName: Rsqrt,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: unaryKernelFunc(Rsqrt, UNARY_OPS.rsqrt),
};
