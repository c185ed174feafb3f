/**
 * What the native batch-norm kernels (OnednnBatchNormGrad, OnednnBatchNormTraining and its gradient) share: their
 * input checks (x is rows of channels along its last axis, per-channel tensors are vectors of that length) and the
 * frame of their kernel functions (read the inputs, allocate the outputs, one native call, return the outputs).
 */
import type { TensorInfo } from '@tensorflow/tfjs';

import { float32Values } from './eltwise_utils.js';
import { outputArray, sizeOf } from './kernel_utils.js';
import type { KernelArgs } from './kernel_utils.js';

/** Whether `x` is float32 of rank 1 or more with no empty axis: rows of channels along its last axis. */
export function isChannelRows(x: TensorInfo): boolean {
  return x.dtype === 'float32' && x.shape.length > 0 && x.shape.every((d) => d > 0);
}

/** Whether `dy` is a float32 gradient shaped like `x`, and `x` is {@link isChannelRows}. */
export function isGradientOf(dy: TensorInfo, x: TensorInfo): boolean {
  return isChannelRows(x) && dy.dtype === 'float32' && dy.shape.length === x.shape.length &&
    dy.shape.every((d, i) => d === x.shape[i]);
}

/** The channels of `x`: its last axis. */
function channelsOf(x: TensorInfo): number {
  return x.shape[x.shape.length - 1];
}

/** Whether `t` is a float32 tensor of shape [channels]. */
function isChannelVector(t: TensorInfo, channels: number): boolean {
  return t.dtype === 'float32' && t.shape.length === 1 && t.shape[0] === channels;
}

/**
 * Whether every tensor of `required`, and every tensor of `optional` that is given, is a float32 vector of x's
 * channels ({@link isChannelVector}). Check x itself first ({@link isChannelRows} or {@link isGradientOf}).
 */
export function areChannelVectors(
  x: TensorInfo,
  required: readonly TensorInfo[],
  optional: readonly (TensorInfo | undefined)[] = [],
): boolean {
  const channels = channelsOf(x);
  return required.every((t) => isChannelVector(t, channels)) &&
    optional.every((t) => t == null || isChannelVector(t, channels));
}

/** What the native call of a {@link channelKernel} gets besides the kernel's arguments: inputs' values, outputs. */
interface ChannelKernelCall {
  /** A float32 input's values. */
  read: (t: TensorInfo) => Float32Array;
  /** An optional input's values, or null when it is not given (as the native functions take it). */
  readOptional: (t: TensorInfo | undefined) => Float32Array | null;
  /** The output shaped like x. */
  rows: Float32Array;
  /** The per-channel outputs, [C] each. */
  vectors: Float32Array[];
  /** C: x's last axis. */
  channels: number;
}

/**
 * A batch-norm kernel function: refuses inputs `applies` does not take (an error `<name>: unsupported inputs`; the
 * callers check first and run tfjs's code instead), allocates an output shaped like `inputs.x` and `vectorCount`
 * outputs of [C], lets `call` fill them (one native call), and returns them as tensors in that order.
 */
export function channelKernel<I extends { x: TensorInfo }, A>(
  name: string,
  applies: (inputs: I) => boolean,
  vectorCount: number,
  call: (args: KernelArgs<I, A>, io: ChannelKernelCall) => void,
): (args: KernelArgs<I, A>) => TensorInfo[] {
  return (args) => {
    if (!applies(args.inputs)) throw new Error(`${name}: unsupported inputs`);
    const { backend, inputs: { x } } = args;
    const read = (t: TensorInfo): Float32Array => float32Values(backend, t) as Float32Array;
    const readOptional = (t: TensorInfo | undefined): Float32Array | null => (t == null ? null : read(t));
    const channels = channelsOf(x);
    const rows = outputArray(sizeOf(x.shape));
    const vectors = Array.from({ length: vectorCount }, () => outputArray(channels));
    call(args, { read, readOptional, rows, vectors, channels });
    return [
      backend.makeTensorInfo(x.shape, 'float32', rows),
      ...vectors.map((v) => backend.makeTensorInfo([channels], 'float32', v)),
    ];
  };
}
