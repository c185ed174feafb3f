/**
 * FusedBatchNorm (tf.batchNorm) over the last axis of a float32 tensor, natively (batchnorm.cc):
 * offset + (x - mean) * scale / sqrt(variance + varianceEpsilon), each parameter holding one value per channel or a
 * single value. Other parameter shapes (e.g. as large as x) run on the CPU kernel.
 */
import { FusedBatchNorm } from '@tensorflow/tfjs';
import type { FusedBatchNormAttrs, FusedBatchNormInputs, KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { notFloat32 } from '../eltwise_utils.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';

/** tfjs's default epsilon of batchNorm, used when the attribute is missing (as the CPU kernel does). */
const DEFAULT_VARIANCE_EPSILON = 0.001;

function fusedBatchNorm({
  inputs,
  backend,
  attrs,
}: KernelArgs<FusedBatchNormInputs, FusedBatchNormAttrs>): NativeResult {
  const { x, mean, variance, offset, scale } = inputs as FusedBatchNormInputs & { x: TensorInfo };
  const xData = float32Data(backend, x);
  if (xData === null) return `x: ${notFloat32(backend, x)}`;
  if (x.shape.length === 0) return 'x is a scalar';
  const channels = x.shape[x.shape.length - 1];
  if (channels === 0 || sizeOf(x.shape) === 0) return 'empty tensor';
  const params: (Float32Array | null)[] = [];
  for (const p of [mean, variance, offset, scale]) {
    if (p == null) {
      params.push(null);
      continue;
    }
    const data = float32Data(backend, p);
    if (data === null) return `a parameter: ${notFloat32(backend, p)}`;
    if (data.length !== channels && data.length !== 1) return `a parameter of shape [${p.shape.join(',')}]`;
    params.push(data);
  }
  const [meanData, varianceData, offsetData, scaleData] = params;
  if (meanData === null || varianceData === null) return 'missing mean or variance';
  const out = outputArray(xData.length);
  backend.native.batchNorm(xData, meanData, varianceData, offsetData, scaleData, out, channels,
    attrs.varianceEpsilon ?? DEFAULT_VARIANCE_EPSILON);
  return backend.makeTensorInfo(x.shape, 'float32', out);
}

/** FusedBatchNorm kernel of the onednn backend. */
export const fusedBatchNormConfig: KernelConfig = {
  kernelName: FusedBatchNorm,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(FusedBatchNorm, fusedBatchNorm),
};
