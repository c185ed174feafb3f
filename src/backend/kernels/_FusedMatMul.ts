/** _FusedMatMul on oneDNN: matrix product, bias and activation in one primitive (prelu runs on the CPU kernel). */
import { _FusedMatMul } from '@tensorflow/tfjs';
import type { _FusedMatMulAttrs, _FusedMatMulInputs, KernelConfig } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';
import { matMulNative } from './BatchMatMul.js';

function fusedMatMul({ inputs, backend, attrs }: KernelArgs<_FusedMatMulInputs, _FusedMatMulAttrs>): NativeResult {
  if (attrs.activation === 'prelu') return 'prelu activation';
  return matMulNative(backend, inputs.a, inputs.b, attrs.transposeA, attrs.transposeB, inputs.bias,
    attrs.activation, attrs.leakyreluAlpha);
}

/** _FusedMatMul kernel of the onednn backend. */
export const fusedMatMulConfig: KernelConfig = {
  kernelName: _FusedMatMul,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(_FusedMatMul, fusedMatMul),
};
