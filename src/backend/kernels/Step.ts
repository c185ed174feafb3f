/** Step: 1 where x > 0, else `alpha` (NaN stays NaN), natively for float32 (eltwise.cc). Relu's gradient uses it. */
import { Step } from '@tensorflow/tfjs';
import type { KernelConfig, StepAttrs, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { UNARY_OPS, unaryNative } from '../eltwise_utils.js';
import { withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';

function step({ inputs, backend, attrs }: KernelArgs<{ x: TensorInfo }, StepAttrs>): NativeResult {
  return unaryNative(backend, UNARY_OPS.step, inputs.x, attrs.alpha ?? 0);
}

/** Step kernel of the onednn backend. */
export const stepConfig: KernelConfig = {
  kernelName: Step,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(Step, step),
};
