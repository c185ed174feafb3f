/**
 * FusedConv2D on oneDNN: convolution, bias and activation in one primitive (linear, relu, relu6, leakyrelu, elu,
 * sigmoid). prelu runs on the CPU kernel.
 */
import { FusedConv2D } from '@tensorflow/tfjs';
import type { FusedConv2DAttrs, FusedConv2DInputs, KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';
import { convForward } from './Conv2D.js';

function fusedConv2D({ inputs, backend, attrs }: KernelArgs<FusedConv2DInputs, FusedConv2DAttrs>): NativeResult {
  if (inputs.preluActivationWeights !== undefined && attrs.activation === 'prelu') return 'prelu activation';
  return convForward(backend, inputs.x, inputs.filter, inputs.bias, attrs.activation, attrs.leakyreluAlpha, attrs);
}

/** FusedConv2D kernel of the onednn backend. */
export const fusedConv2DConfig: KernelConfig = {
  kernelName: FusedConv2D,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(FusedConv2D, fusedConv2D),
};
