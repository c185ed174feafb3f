/** Sqrt: sqrt(x) element-wise, natively for float32 (eltwise.cc). */
import { Sqrt } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { UNARY_OPS, unaryKernelFunc } from '../eltwise_utils.js';

/** Sqrt kernel of the onednn backend. */
export const sqrtConfig: KernelConfig = {
  kernelName: Sqrt,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: unaryKernelFunc(Sqrt, UNARY_OPS.sqrt),
};
