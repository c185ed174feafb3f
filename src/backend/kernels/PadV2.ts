/**
 * PadV2 (constant padding) of a float32 tensor of any rank, natively (pooling.cc). Adjacent axes are merged where
 * the inner one is not padded, so NHWC padded in H and W is copied as rows of W*C values.
 */
import { PadV2 } from '@tensorflow/tfjs';
import type { KernelConfig, PadV2Attrs, PadV2Inputs } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { notFloat32 } from '../eltwise_utils.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from '../kernel_utils.js';
import type { KernelArgs, NativeResult } from '../kernel_utils.js';

/** The most axes the native pad takes after merging. */
const MAX_PAD_RANK = 6;

function padV2({ inputs, backend, attrs }: KernelArgs<PadV2Inputs, PadV2Attrs>): NativeResult {
  const { x } = inputs;
  const xData = float32Data(backend, x);
  if (xData === null) return notFloat32(backend, x);
  const { paddings, constantValue } = attrs;
  if (paddings.length !== x.shape.length) return 'paddings do not match the rank';
  if (paddings.some(([b, a]) => b < 0 || a < 0)) return 'negative padding';
  const outShape = x.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
  if (sizeOf(x.shape) === 0) return 'empty tensor';
  // Merge each axis into the one before it while it is not padded.
  const shape: number[] = [];
  const before: number[] = [];
  const after: number[] = [];
  for (let i = 0; i < x.shape.length; i++) {
    const [b, a] = paddings[i];
    const last = shape.length - 1;
    if (last >= 0 && b === 0 && a === 0) {
      shape[last] *= x.shape[i];
      before[last] *= x.shape[i];
      after[last] *= x.shape[i];
    } else {
      shape.push(x.shape[i]);
      before.push(b);
      after.push(a);
    }
  }
  if (shape.length === 0) return 'scalar';
  if (shape.length > MAX_PAD_RANK) return `${shape.length} padded axes`;
  const out = outputArray(sizeOf(outShape));
  backend.native.pad(xData, out, shape, before, after, constantValue);
  return backend.makeTensorInfo(outShape, 'float32', out);
}

/** PadV2 kernel of the onednn backend. */
export const padV2Config: KernelConfig = {
  kernelName: PadV2,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: withCpuFallback(PadV2, padV2),
};
