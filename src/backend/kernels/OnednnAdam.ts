/**
 * OnednnAdam: a kernel of this backend only, run by the Adam override of `adam.ts`. One Adam step of one variable
 * in one native pass (eltwise.cc) instead of tfjs's thirteen tensor ops, with the same float32 results.
 *
 * Inputs: value, m, v (the moment slots) and gradient, all float32 of one shape. Attribute `scalars`: [beta1,
 * 1 - beta1, beta2, 1 - beta2, 1 - beta1^t, 1 - beta2^t, epsilon, -learningRate] as float32 values.
 * Outputs, in order: the new value, m and v.
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs';

import { ONEDNN_BACKEND_NAME } from '../backend_onednn.js';
import { float32Values } from '../eltwise_utils.js';
import { outputArray } from '../kernel_utils.js';
import type { KernelArgs } from '../kernel_utils.js';

/** The kernel's registered name. */
export const ONEDNN_ADAM = 'OnednnAdam';

/** Inputs of OnednnAdam. */
export interface OnednnAdamInputs {
  value: TensorInfo;
  m: TensorInfo;
  v: TensorInfo;
  gradient: TensorInfo;
}

/** Whether OnednnAdam takes these tensors: all float32, of one shape, not empty. */
export function adamApplies(inputs: OnednnAdamInputs): boolean {
  const { value } = inputs;
  if (value.shape.some((d) => d === 0)) return false;
  return Object.values(inputs).every(
    (t: TensorInfo) =>
      t.dtype === 'float32' && t.shape.length === value.shape.length && t.shape.every((d, i) => d === value.shape[i]),
  );
}

function onednnAdam({ inputs, backend, attrs }: KernelArgs<OnednnAdamInputs, { scalars: number[] }>): TensorInfo[] {
  if (!adamApplies(inputs)) throw new Error(`${ONEDNN_ADAM}: unsupported inputs`);
  const data = (t: TensorInfo): Float32Array => float32Values(backend, t) as Float32Array;
  const { value, m, v, gradient } = inputs;
  const size = data(value).length;
  // 64-byte aligned: the addon streams whole cache lines into large variables' new values and moments.
  const outs = [outputArray(size, true), outputArray(size, true), outputArray(size, true)];
  backend.native.adam(data(value), data(m), data(v), data(gradient), outs[0], outs[1], outs[2], attrs.scalars);
  return outs.map((o) => backend.makeTensorInfo(value.shape, 'float32', o));
}

/** OnednnAdam kernel of the onednn backend. */
export const onednnAdamConfig: KernelConfig = {
  kernelName: ONEDNN_ADAM,
  backendName: ONEDNN_BACKEND_NAME,
  kernelFunc: onednnAdam as unknown as KernelConfig['kernelFunc'],
};
