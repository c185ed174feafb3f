/** AddN: the sum of several tensors of one shape, natively for float32 (eltwise.cc), added in order as tfjs does. */
import { AddN } from '@tensorflow/tfjs';
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { notFloat32 } from '../eltwise_utils.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';

function addN({ inputs, backend }: KernelArgs<TensorInfo[], object>): NativeResult {
  const list = inputs as TensorInfo[];
  if (list.length === 0) return 'no inputs';
  const data: Float32Array[] = [];
  const size = sizeOf(list[0].shape);
  for (const t of list) {
    const d = float32Data(backend, t);
    if (d === null) return notFloat32(backend, t);
    if (d.length !== size) return 'inputs of different sizes';
    data.push(d);
  }
  const out = outputArray(size);
  backend.native.addN(data, out);
  return backend.makeTensorInfo(list[0].shape, 'float32', out);
}

/** AddN kernel of the onednn backend. */
export const addNConfig: KernelConfig = {
  kernelName: AddN,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(AddN, addN),
};
