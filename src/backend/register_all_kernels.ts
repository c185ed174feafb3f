/**
 * The one list of native kernels of the onednn backend.
 *
 * HOW TO ADD A KERNEL:
 *   1. Native side: add the primitive to its family file under src/native/ (see the notes at the top of
 *      src/native/common.h) and declare its JS signature in `OnednnAddon` (native.ts).
 *   2. Add `kernels/<KernelName>.ts` (named like the tfjs kernel, e.g. `kernels/MaxPool.ts`) exporting a
 *      `KernelConfig` whose kernelFunc is `withCpuFallback(KernelName, impl)`: `impl` returns the result, or a
 *      string saying why it cannot handle this case, and the CPU kernel then runs instead (kernel_utils.ts).
 *      Read the CPU kernel's attributes in tfjs-backend-cpu/src/kernels/<KernelName>.ts and match its output.
 *   3. Import the config here and add it to NATIVE_KERNELS.
 *   4. Test it against the CPU kernel in test/backend-<family>.test.ts.
 * Every kernel not in the list runs as the CPU backend's kernel (all of them are copied first).
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from './backend_onednn.js';
import { batchMatMulConfig } from './kernels/BatchMatMul.js';
import { conv2DConfig } from './kernels/Conv2D.js';
import { conv2DBackpropFilterConfig } from './kernels/Conv2DBackpropFilter.js';
import { conv2DBackpropInputConfig } from './kernels/Conv2DBackpropInput.js';
import { fusedConv2DConfig } from './kernels/FusedConv2D.js';
import { fusedMatMulConfig } from './kernels/_FusedMatMul.js';

/** The kernels that run natively, each replacing the CPU kernel of the same name. */
export const NATIVE_KERNELS: readonly KernelConfig[] = [
  // convolution (conv.cc)
  conv2DConfig,
  fusedConv2DConfig,
  conv2DBackpropInputConfig,
  conv2DBackpropFilterConfig,
  // matrix products (matmul.cc)
  batchMatMulConfig,
  fusedMatMulConfig,
];

/** Registers every CPU kernel for the onednn backend, then the native kernels over them. */
export function registerAllKernels(): void {
  tf.copyRegisteredKernels('cpu', ONEDNN_BACKEND_NAME);
  for (const config of NATIVE_KERNELS) {
    if (tf.getKernel(config.kernelName, ONEDNN_BACKEND_NAME) !== undefined) {
      tf.unregisterKernel(config.kernelName, ONEDNN_BACKEND_NAME);
    }
    tf.registerKernel(config);
  }
}
