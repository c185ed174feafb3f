/**
 * Element-wise kernels on the native side (eltwise.cc): op codes, the broadcasting plan of binary ops, and the
 * kernel-function factories that the one-kernel-per-file configs under `kernels/` use.
 */
import { backend_util } from '@tensorflow/tfjs';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';

import type { BackendOnednn } from './backend_onednn.js';
import { float32Data, outputArray, sizeOf, withCpuFallback } from './kernel_utils.js';
import type { KernelArgs, NativeResult } from './kernel_utils.js';

/** Binary op codes of `binary()` in eltwise.cc (same numbering as `BinaryOp` there). */
export const BINARY_OPS = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
  squaredDifference: 4,
  maximum: 5,
  minimum: 6,
  /** dy * step(x), Relu's gradient: a = dy, b = x. */
  reluGrad: 7,
  /** dy * (x * 2), Square's gradient: a = dy, b = x. */
  squareGrad: 8,
} as const;

/** Unary op codes of `unary()` in eltwise.cc (same numbering as `UnaryOp` there). */
export const UNARY_OPS = {
  relu: 0,
  step: 1,
  sqrt: 2,
  rsqrt: 3,
  square: 4,
  neg: 5,
} as const;

/** The most axes `binary()` takes after merging. */
const MAX_NATIVE_RANK = 6;

/** How the native `binary()` walks a broadcast: merged output dims and each operand's strides along them. */
export interface BinaryPlan {
  /** The broadcast output shape, as tfjs computes it. */
  outShape: number[];
  /** The output shape with adjacent axes of the same broadcast pattern merged (at least one axis). */
  dims: number[];
  /** a's stride along each of `dims` (0 where a is broadcast). */
  aStrides: number[];
  /** b's stride along each of `dims` (0 where b is broadcast). */
  bStrides: number[];
}

/**
 * Plans `a op b` with numpy-style broadcasting: axes where the output has size 1 are dropped, and adjacent axes
 * are merged while each operand is either present along both or broadcast along both. Same shapes become one axis;
 * a scalar, a per-channel `[C]` vector, or a `[N,H,W,1]` tensor against `[N,H,W,C]` become two. Throws tfjs's own
 * error for shapes that do not broadcast. Returns a reason string if the merged rank exceeds what the native code
 * takes.
 */
export function planBinary(aShape: readonly number[], bShape: readonly number[]): BinaryPlan | string {
  const outShape = backend_util.assertAndGetBroadcastShape(aShape as number[], bShape as number[]);
  const rank = outShape.length;
  const dimOf = (shape: readonly number[], axis: number): number => {
    const i = axis - (rank - shape.length);
    return i < 0 ? 1 : shape[i];
  };
  // Per kept axis: its size and whether a / b are present along it (not broadcast).
  const axes: { size: number; a: boolean; b: boolean }[] = [];
  for (let axis = 0; axis < rank; axis++) {
    const size = outShape[axis];
    if (size === 1) continue;
    const a = dimOf(aShape, axis) === size;
    const b = dimOf(bShape, axis) === size;
    const last = axes[axes.length - 1];
    if (last !== undefined && last.a === a && last.b === b) last.size *= size;
    else axes.push({ size, a, b });
  }
  if (axes.length === 0) axes.push({ size: 1, a: true, b: true });
  if (axes.length > MAX_NATIVE_RANK) return `broadcast pattern of ${axes.length} axes`;
  const dims = axes.map((x) => x.size);
  const strides = (present: (x: (typeof axes)[number]) => boolean): number[] => {
    const out = new Array<number>(axes.length);
    let stride = 1;
    for (let i = axes.length - 1; i >= 0; i--) {
      if (present(axes[i])) {
        out[i] = stride;
        stride *= axes[i].size;
      } else {
        out[i] = 0;
      }
    }
    return out;
  };
  return { outShape, dims, aStrides: strides((x) => x.a), bStrides: strides((x) => x.b) };
}

/**
 * Why `t`'s data cannot be passed to the native code as it is: its dtype is not float32, or (after tfjs's CPU Cast
 * from bool or int32, which keeps the original typed array) its float32 values are held in another typed array.
 */
export function notFloat32(backend: BackendOnednn, t: TensorInfo): string {
  if (t.dtype !== 'float32') return `dtype ${t.dtype}, not float32`;
  const values = backend.data.get(t.dataId).values as { constructor?: { name?: string } } | undefined;
  return `float32 values held in a ${values?.constructor?.name ?? 'missing array'}`;
}

/**
 * The values of a float32 tensor as a Float32Array: zero-copy when stored as one, else converted into a new one
 * (see notFloat32). Null if the dtype is not float32. For kernels of this backend only, which have no CPU fallback.
 */
export function float32Values(backend: BackendOnednn, t: TensorInfo): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const data = float32Data(backend, t);
  if (data !== null) return data;
  const values = backend.data.get(t.dataId).values;
  return values instanceof Uint8Array || values instanceof Int32Array ? Float32Array.from(values) : null;
}

/**
 * `a op b` natively for float32 a and b (any broadcast), or the reason it cannot be. With `convert`, float32 values
 * held in another typed array are converted (see float32Values) instead of declined.
 */
export function binaryNative(
  backend: BackendOnednn,
  op: number,
  a: TensorInfo,
  b: TensorInfo,
  convert = false,
): NativeResult {
  const read = convert ? float32Values : float32Data;
  const aData = read(backend, a);
  const bData = read(backend, b);
  if (aData === null) return `a: ${notFloat32(backend, a)}`;
  if (bData === null) return `b: ${notFloat32(backend, b)}`;
  const plan = planBinary(a.shape, b.shape);
  if (typeof plan === 'string') return plan;
  const size = sizeOf(plan.outShape);
  if (size === 0) return 'empty tensor';
  const out = outputArray(size);
  backend.native.binary(op, aData, bData, out, plan.dims, plan.aStrides, plan.bStrides);
  return backend.makeTensorInfo(plan.outShape, 'float32', out);
}

/** A binary kernel function (inputs `a`, `b`) running `op` natively, with the CPU kernel `kernelName` as fallback. */
export function binaryKernelFunc(kernelName: string, op: number): KernelFunc {
  return withCpuFallback(kernelName, ({ inputs, backend }: KernelArgs<{ a: TensorInfo; b: TensorInfo }, object>) =>
    binaryNative(backend, op, inputs.a, inputs.b),
  );
}

/** `op(x)` natively for a float32 x (`alpha`: Step's value for x <= 0), or the reason it cannot be. */
export function unaryNative(
  backend: BackendOnednn,
  op: number,
  x: TensorInfo,
  alpha = 0,
): NativeResult {
  const xData = float32Data(backend, x);
  if (xData === null) return notFloat32(backend, x);
  const out = outputArray(xData.length);
  backend.native.unary(op, xData, out, alpha);
  return backend.makeTensorInfo(x.shape, 'float32', out);
}

/** A unary kernel function (input `x`) running `op` natively, with the CPU kernel `kernelName` as fallback. */
export function unaryKernelFunc(kernelName: string, op: number): KernelFunc {
  return withCpuFallback(kernelName, ({ inputs, backend }: KernelArgs<{ x: TensorInfo }, object>) =>
    unaryNative(backend, op, inputs.x),
  );
}
