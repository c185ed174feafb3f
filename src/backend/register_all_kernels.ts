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
import { ONEDNN_CONV2D_RESIDUAL, onednnConv2DResidualConfig } from './kernels/OnednnConv2DResidual.js';
import { fusedMatMulConfig } from './kernels/_FusedMatMul.js';
import { addConfig } from './kernels/Add.js';
import { addNConfig } from './kernels/AddN.js';
import { avgPoolConfig } from './kernels/AvgPool.js';
import { avgPoolGradConfig } from './kernels/AvgPoolGrad.js';
import { fusedBatchNormConfig } from './kernels/FusedBatchNorm.js';
import { maxConfig } from './kernels/Max.js';
import { maximumConfig } from './kernels/Maximum.js';
import { maxPoolConfig } from './kernels/MaxPool.js';
import { maxPoolGradConfig } from './kernels/MaxPoolGrad.js';
import { meanConfig } from './kernels/Mean.js';
import { minConfig } from './kernels/Min.js';
import { minimumConfig } from './kernels/Minimum.js';
import { multiplyConfig } from './kernels/Multiply.js';
import { negConfig } from './kernels/Neg.js';
import { ONEDNN_BATCH_NORM_GRAD, onednnBatchNormGradConfig } from './kernels/OnednnBatchNormGrad.js';
import { ONEDNN_BATCH_NORM_TRAINING, onednnBatchNormTrainingConfig } from './kernels/OnednnBatchNormTraining.js';
import {
  ONEDNN_BATCH_NORM_TRAINING_GRAD,
  onednnBatchNormTrainingGradConfig,
} from './kernels/OnednnBatchNormTrainingGrad.js';
import { ONEDNN_REDUCE_GRAD, onednnReduceGradConfig } from './kernels/OnednnReduceGrad.js';
import { ONEDNN_RELU_GRAD, onednnReluGradConfig } from './kernels/OnednnReluGrad.js';
import { ONEDNN_SQUARE_GRAD, onednnSquareGradConfig } from './kernels/OnednnSquareGrad.js';
import { padV2Config } from './kernels/PadV2.js';
import { realDivConfig } from './kernels/RealDiv.js';
import { reluConfig } from './kernels/Relu.js';
import { rsqrtConfig } from './kernels/Rsqrt.js';
import { sqrtConfig } from './kernels/Sqrt.js';
import { squareConfig } from './kernels/Square.js';
import { squaredDifferenceConfig } from './kernels/SquaredDifference.js';
import { stepConfig } from './kernels/Step.js';
import { subConfig } from './kernels/Sub.js';
import { sumConfig } from './kernels/Sum.js';
import { registerNativeGradients } from './gradients.js';
import { registerNativeAdam } from './adam.js';
import { registerNativeBatchNormLayer } from './batchnorm_layer.js';
import { ONEDNN_ADAM, onednnAdamConfig } from './kernels/OnednnAdam.js';

/** The kernels that run natively, each replacing the CPU kernel of the same name. */
export const NATIVE_KERNELS: readonly KernelConfig[] = [
  // convolution (conv.cc)
  conv2DConfig,
  fusedConv2DConfig,
  onednnConv2DResidualConfig,
  conv2DBackpropInputConfig,
  conv2DBackpropFilterConfig,
  // matrix products (matmul.cc)
  batchMatMulConfig,
  fusedMatMulConfig,
  // batch normalization (batchnorm.cc); OnednnBatchNormGrad serves the FusedBatchNorm gradient of gradients.ts,
  // OnednnBatchNormTraining the BatchNormalization layers in training (batchnorm_layer.ts), and
  // OnednnBatchNormTrainingGrad its gradient (gradients.ts)
  fusedBatchNormConfig,
  onednnBatchNormGradConfig,
  onednnBatchNormTrainingConfig,
  onednnBatchNormTrainingGradConfig,
  // element-wise (eltwise.cc); the Onednn*Grad kernels serve the gradients of gradients.ts
  addConfig,
  subConfig,
  multiplyConfig,
  realDivConfig,
  squaredDifferenceConfig,
  maximumConfig,
  minimumConfig,
  reluConfig,
  stepConfig,
  sqrtConfig,
  rsqrtConfig,
  squareConfig,
  negConfig,
  addNConfig,
  onednnReluGradConfig,
  onednnSquareGradConfig,
  onednnReduceGradConfig,
  // Adam's update (eltwise.cc), run by the AdamOptimizer override of adam.ts
  onednnAdamConfig,
  // reductions (reduce.cc)
  sumConfig,
  meanConfig,
  maxConfig,
  minConfig,
  // pooling and padding (pooling.cc)
  maxPoolConfig,
  maxPoolGradConfig,
  avgPoolConfig,
  avgPoolGradConfig,
  padV2Config,
];

/**
 * Kernels in NATIVE_KERNELS that no tfjs op calls and the CPU backend does not have: the gradient overrides of
 * gradients.ts and the Adam override of adam.ts run them, and so does the `conv2dResidual` op of
 * src/model/conv_residual.ts (each runs tfjs's own ops on other backends).
 */
export const ONEDNN_ONLY_KERNELS: readonly string[] = [
  ONEDNN_CONV2D_RESIDUAL,
  ONEDNN_BATCH_NORM_GRAD,
  ONEDNN_BATCH_NORM_TRAINING,
  ONEDNN_BATCH_NORM_TRAINING_GRAD,
  ONEDNN_RELU_GRAD,
  ONEDNN_SQUARE_GRAD,
  ONEDNN_REDUCE_GRAD,
  ONEDNN_ADAM,
];

/**
 * Registers every CPU kernel for the onednn backend, then the native kernels over them, then the gradient overrides,
 * the Adam update and the BatchNormalization layer hook that use some of them (gradients.ts, adam.ts,
 * batchnorm_layer.ts).
 */
export function registerAllKernels(): void {
  tf.copyRegisteredKernels('cpu', ONEDNN_BACKEND_NAME);
  for (const config of NATIVE_KERNELS) {
    if (tf.getKernel(config.kernelName, ONEDNN_BACKEND_NAME) !== undefined) {
      tf.unregisterKernel(config.kernelName, ONEDNN_BACKEND_NAME);
    }
    tf.registerKernel(config);
  }
  registerNativeGradients();
  registerNativeAdam();
  registerNativeBatchNormLayer();
}
