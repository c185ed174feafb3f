/** BatchMatMul on oneDNN. Also the core of _FusedMatMul. */
import { BatchMatMul, broadcast_util } from '@tensorflow/tfjs';
import type { BatchMatMulAttrs, BatchMatMulInputs, KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import type { BackendOnednn } from '../backend_onednn.js';
import { activationCode, float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';

/**
 * activation(matMul(a, b) + bias) natively, for a and b of rank >= 2 whose batch dimensions are equal or one side
 * has none (broadcast); bias with one value per output column. Otherwise the reason it cannot be.
 */
export function matMulNative(
  backend: BackendOnednn,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  bias: TensorInfo | undefined,
  activation: string | undefined,
  leakyreluAlpha: number | undefined,
): NativeResult {
  const aData = float32Data(backend, a);
  const bData = float32Data(backend, b);
  if (aData === null || bData === null) return 'a or b is not float32';
  const act = activationCode(activation, leakyreluAlpha);
  if (act === null) return `activation '${activation}'${leakyreluAlpha === undefined ? ' without alpha' : ''}`;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  if (aRank < 2 || bRank < 2) return 'rank below 2';
  const m = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
  const k = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
  const kB = transposeB ? b.shape[bRank - 1] : b.shape[bRank - 2];
  const n = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
  if (k !== kB) return 'inner dimensions differ';
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = sizeOf(outerA);
  const batchB = sizeOf(outerB);
  let outerOut: number[];
  try {
    outerOut = broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return 'batch dimensions do not broadcast';
  }
  const batch = sizeOf(outerOut);
  const sameBatch = batchA === batchB && batch === batchA;
  const broadcastOne = (batchA === 1 || batchB === 1) && batch === Math.max(batchA, batchB);
  if (!sameBatch && !broadcastOne) return 'batch broadcast other than equal or one-sided';
  if (m * n * k * batch === 0) return 'empty matrices';
  let biasData: Float32Array | null = null;
  if (bias !== undefined) {
    biasData = float32Data(backend, bias);
    if (biasData === null) return 'bias is not float32';
    const lastDim = bias.shape.length === 0 ? 1 : bias.shape[bias.shape.length - 1];
    if (biasData.length !== n || lastDim !== n) return 'bias is not one value per output column';
  }
  const c = outputArray(batch * m * n);
  const dims = Int32Array.from([batchA, batchB, m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0]);
  backend.native.matmul(aData, bData, c, dims, biasData, act, leakyreluAlpha ?? 0);
  return backend.makeTensorInfo([...outerOut, m, n], 'float32', c);
}

function batchMatMul({ inputs, backend, attrs }: KernelArgs<BatchMatMulInputs, BatchMatMulAttrs>): NativeResult {
  return matMulNative(backend, inputs.a, inputs.b, attrs.transposeA, attrs.transposeB, undefined, 'linear', undefined);
}

/** BatchMatMul kernel of the onednn backend. */
export const batchMatMulConfig: KernelConfig = {
  kernelName: BatchMatMul,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(BatchMatMul, batchMatMul),
};
