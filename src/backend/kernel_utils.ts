/**
 * Helpers shared by the native kernels: reading float32 data, allocating outputs, activation codes, and falling
 * back to the CPU kernel when a case is not handled natively.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';

import type { BackendOnednn } from './backend_onednn.js';
import { bufferPool, rawValues } from './buffer_pool.js';

/** Codes of the fused activations the native side implements (same numbering as `Activation` in common.h). */
export const ACTIVATION_CODES: Readonly<Record<string, number>> = {
  linear: 0,
  relu: 1,
  relu6: 2,
  leakyrelu: 3,
  elu: 4,
  sigmoid: 5,
};

/**
 * The native code of a tfjs fused activation (undefined = none = linear), or null if not done natively: prelu,
 * and leakyrelu without a slope (the CPU kernels then compute NaN for negative values; the fallback keeps that).
 */
export function activationCode(activation: string | undefined, leakyreluAlpha: number | undefined): number | null {
  if (activation === 'leakyrelu' && leakyreluAlpha === undefined) return null;
  return ACTIVATION_CODES[activation ?? 'linear'] ?? null;
}

/** The values of a float32 tensor as a Float32Array (zero-copy), or null if it is not one. */
export function float32Data(backend: BackendOnednn, t: TensorInfo): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const values = rawValues(backend.data.get(t.dataId));
  return values instanceof Float32Array ? values : null;
}

/**
 * A Float32Array of `size` elements for a native kernel's output, NOT zero-filled: only for outputs that the native
 * code overwrites entirely (every oneDNN primitive writes all of its destination). It is recycled from disposed
 * outputs where that is safe (see buffer_pool.ts); skipping the zero-fill saves a full pass over memory per op.
 * `aligned`: starting on a 64-byte boundary, for kernels that write whole cache lines with streaming stores.
 */
export function outputArray(size: number, aligned = false): Float32Array {
  if (size === 0) return new Float32Array(0);
  return bufferPool.take(size, aligned);
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Whether fallbacks are logged: env RESNET_DEBUG set (not "0"), or tfjs's DEBUG flag on. */
export function debugEnabled(): boolean {
  const flag = process.env.RESNET_DEBUG;
  if (flag !== undefined && flag !== '' && flag !== '0') return true;
  try {
    return tf.env().getBool('DEBUG');
  } catch {
    return false;
  }
}

const loggedFallbacks = new Set<string>();

/** Logs (once per kernel and reason, under the debug flag) that a kernel ran on the CPU fallback. */
export function logFallback(kernelName: string, reason: string): void {
  if (!debugEnabled()) return;
  const key = `${kernelName}: ${reason}`;
  if (loggedFallbacks.has(key)) return;
  loggedFallbacks.add(key);
  process.stderr.write(`onednn: ${kernelName} runs on the CPU kernel (${reason})\n`);
}

/**
 * A kernel's inputs with the required ones non-undefined (tfjs types every input as possibly undefined; the
 * engine always passes the required ones).
 */
export type DefinedInputs<I> = { [P in keyof I]: Exclude<I[P], undefined> };

/** Arguments a kernel function receives, typed for this backend. */
export interface KernelArgs<I, A> {
  inputs: DefinedInputs<I>;
  backend: BackendOnednn;
  attrs: A;
}

/**
 * What a native implementation returns: the result, or a string saying why this case is not handled natively
 * (the CPU kernel then computes it).
 */
export type NativeResult = TensorInfo | string;

/**
 * Makes a kernel function from a native implementation: cases it declines (returns a reason string) run on the
 * CPU backend's kernel of the same name, so results are always those of tfjs.
 */
export function withCpuFallback<I, A>(
  kernelName: string,
  nativeImpl: (args: KernelArgs<I, A>) => NativeResult,
): KernelFunc {
  let cpuKernel: KernelFunc | undefined;
  const kernelFunc = (args: KernelArgs<I, A>): TensorInfo | TensorInfo[] => {
    const result = nativeImpl(args);
    if (typeof result !== 'string') return result;
    logFallback(kernelName, result);
    if (cpuKernel === undefined) {
      const config = tf.getKernel(kernelName, 'cpu');
      if (config === undefined) throw new Error(`onednn: no CPU kernel ${kernelName} to fall back to`);
      cpuKernel = config.kernelFunc;
    }
    return cpuKernel(args as unknown as Parameters<KernelFunc>[0]);
  };
  return kernelFunc as unknown as KernelFunc;
}
