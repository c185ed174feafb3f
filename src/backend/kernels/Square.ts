/** Square: x * x element-wise, natively for float32 (eltwise.cc). */
import { Square } from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { UNARY_OPS, unaryKernelFunc } from '../eltwise_utils.js';

/** Square kernel of the onednn backend. */
export const squareConfig: KernelConfig = {
  kernelName: Square,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: unaryKernelFunc(Square, UNARY_OPS.square),
};
