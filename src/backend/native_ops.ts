/**
 * Native ops over raw Float32Arrays: a narrow, typed facade over the onednn backend's addon, for code that runs its
 * own loop of native calls (an inference executor) instead of going through tfjs's engine.
 *
 * Each op is planned once from tfjs-level parameters (shapes, strides, pads, dilations, activation names) with the
 * same planners the backend's kernels use, and the plan's `run` then makes exactly the native call those kernels make
 * for the same parameters, so the numbers are the same. `run` allocates nothing: it writes into the `out` array the
 * caller gives, which must hold `outShape`'s size (the addon checks every array's length). Data are NHWC activations
 * and HWIO filters, float32.
 *
 * ```ts
 * const ops = activeNativeOps();                        // null unless the active backend is onednn
 * const conv = ops?.conv2d({ xShape: [8, 32, 32, 3], filterShape: [3, 3, 3, 16], filter, strides: 1, pad: 'same',
 *   activation: 'relu' });
 * if (conv !== undefined && typeof conv !== 'string') conv.run(x, out);   // out: sizeFromShape(conv.outShape) values
 * ```
 *
 * Also {@link conv2dResidualOnBackend}: the backend's `OnednnConv2DResidual` kernel at the tensor level.
 */
import * as tf from '@tensorflow/tfjs';
import type { backend_util, Tensor, Tensor4D } from '@tensorflow/tfjs';

import { BackendOnednn, ONEDNN_BACKEND_NAME } from './backend_onednn.js';
import type { OnednnAddon } from './native.js';
import { planConv2D } from './conv_util.js';
import { BINARY_OPS, planBinary, UNARY_OPS } from './eltwise_utils.js';
import { ACTIVATION_CODES, activationCode, float32Data, sizeOf } from './kernel_utils.js';
import { REDUCE_OPS } from './reduce_utils.js';
import { conv2DResidualApplies, ONEDNN_CONV2D_RESIDUAL } from './kernels/OnednnConv2DResidual.js';
import type { OnednnConv2DResidualAttrs } from './kernels/OnednnConv2DResidual.js';
import { padPlan, planPool2D, POOL_OPS } from './pool_utils.js';

export { debugEnabled } from './kernel_utils.js';

/** Activations the native convolution and matrix product apply to their output (tfjs's names). */
export type FusedActivation = 'linear' | 'relu' | 'relu6' | 'elu' | 'sigmoid';

/** Whether the native convolution and matrix product fuse the activation `name` (a tfjs or tfjs-layers name). */
export function isFusedActivation(name: string): name is FusedActivation {
  return name !== 'leakyrelu' && Object.hasOwn(ACTIVATION_CODES, name);
}

/** A size per spatial axis (height, width), or one for both. */
export type SpatialSize = number | [number, number];

/** Convolution and pooling padding: tfjs's 'same' or 'valid', or explicit NHWC pads `[[0,0],[t,b],[l,r],[0,0]]`. */
export type NativePadding = 'same' | 'valid' | backend_util.ExplicitPadding;

/** A planned native op: the shape it writes. */
export interface NativeOp {
  /** The output's shape; `out` of `run` holds this many values. */
  readonly outShape: number[];
}

/** Parameters of {@link NativeOps.conv2d}. */
export interface Conv2dParams {
  /** Input shape, NHWC. */
  xShape: readonly number[];
  /** Filter shape, HWIO (its input channels are the input's). */
  filterShape: readonly number[];
  /** The filter's values (HWIO), read at each run. */
  filter: Float32Array;
  /**
   * Identifies the filter's content (see {@link NativeOps.contentToken}): the native side keeps the filter reordered
   * for oneDNN under this token. Equal tokens promise equal values. 0 (the default) means unknown: reordered each run.
   */
  filterToken?: number;
  /** One value per output channel, added before the activation. */
  bias?: Float32Array | null;
  strides: SpatialSize;
  pad: NativePadding;
  /** Default 1. */
  dilations?: SpatialSize;
  /** Applied last (after bias and residual). Default 'linear'. */
  activation?: FusedActivation;
}

/** A planned convolution: `out = activation(conv2d(x, filter) + bias + residual)`. */
export interface Conv2dOp extends NativeOp {
  /** Runs it; `residual` (optional) has the output's shape and is added before the activation. */
  run(x: Float32Array, out: Float32Array, residual?: Float32Array | null): void;
}

/** Parameters of {@link NativeOps.pool2d}. */
export interface Pool2dParams {
  /** Input shape, NHWC. */
  xShape: readonly number[];
  /** Max or average (over the window's cells inside the input, as tfjs's avgPool). */
  kind: 'max' | 'avg';
  filterSize: SpatialSize;
  strides: SpatialSize;
  pad: NativePadding;
}

/** A planned pooling, or any op of one input: `out = op(x)`. */
export interface UnaryOp extends NativeOp {
  run(x: Float32Array, out: Float32Array): void;
}

/** Parameters of {@link NativeOps.matMul}: `out[m, n] = activation(a[m, k] b[k, n] + bias[n])`. */
export interface MatMulParams {
  /** a's shape, [m, k]. */
  aShape: readonly [number, number];
  /** b's shape, [k, n]. */
  bShape: readonly [number, number];
  /** b's values (row-major), read at each run. */
  b: Float32Array;
  /** n values, added to every row before the activation. */
  bias?: Float32Array | null;
  /** Default 'linear'. */
  activation?: FusedActivation;
}

/** Element-wise binary ops of {@link NativeOps.binary}: `a + b`, and ReLU's gradient `a * step(b)` (a = dy, b = x). */
export type NativeBinaryOp = 'add' | 'reluGrad';

/** Element-wise unary ops of {@link NativeOps.unary}. */
export type NativeUnaryOp = 'relu';

/** A planned binary op: `out = a op b`. `out` may be `a` or `b` (the op runs element by element). */
export interface BinaryOp extends NativeOp {
  run(a: Float32Array, b: Float32Array, out: Float32Array): void;
}

/**
 * Parameters of {@link NativeOps.conv2dTraining}: a convolution whose filter (and bias) change from call to call, as
 * in training, so they are given to each call rather than to the plan. No fused activation.
 */
export type Conv2dTrainingParams = Pick<Conv2dParams, 'xShape' | 'filterShape' | 'strides' | 'pad' | 'dilations'>;

/** A planned convolution with its two gradients, for training (see {@link Conv2dTrainingParams}). */
export interface Conv2dTrainingOp extends NativeOp {
  /**
   * out = conv2d(x, filter) + bias. `filterToken` identifies the filter's content ({@link NativeOps.contentToken};
   * 0: unknown), so that its reordered copy is made once and shared with {@link backwardData}.
   */
  forward(x: Float32Array, filter: Float32Array, filterToken: number, bias: Float32Array | null, out: Float32Array): void;
  /** dx, the gradient with respect to x (x's shape), given dy (the output's shape). */
  backwardData(dy: Float32Array, filter: Float32Array, filterToken: number, dx: Float32Array): void;
  /** dFilter (HWIO) and, when given, dBias (dy summed over every axis but the last), given x and dy. */
  backwardWeights(x: Float32Array, dy: Float32Array, dFilter: Float32Array, dBias: Float32Array | null): void;
}

/**
 * A planned batch normalization over the last axis with the batch's statistics, and its gradient (training mode),
 * optionally with a ReLU on its output in the same pass (TensorFlow's FusedBatchNormEx does the same).
 */
export interface BatchNormTrainingOp extends NativeOp {
  /**
   * y = offset + (x - mean) * scale / sqrt(variance + epsilon), or its ReLU when planned so, with mean and (biased)
   * variance of x per channel over every other axis, which it also writes.
   */
  forward(x: Float32Array, scale: Float32Array, offset: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array): void;
  /**
   * dx, dScale and dOffset given dy, the statistics being functions of x (what reaches x through them included). With
   * a fused ReLU, dy is the gradient of the ReLU's output and `y` the forward pass's output (its mask); else `y` is
   * not read. `dxSums`, when given, receives dx summed per channel, in the same pass.
   */
  backward(
    dy: Float32Array, x: Float32Array, y: Float32Array, scale: Float32Array, mean: Float32Array, variance: Float32Array,
    dx: Float32Array, dScale: Float32Array, dOffset: Float32Array, dxSums?: Float32Array | null,
  ): void;
}

/** A planned pooling with its gradient. */
export interface Pool2dOp extends UnaryOp {
  /** dx (x's shape) given dy (the output's shape) and the pooling's input x. */
  backward(dy: Float32Array, x: Float32Array, dx: Float32Array): void;
}

/** A planned matrix product `out[m, n] = a[m, k] b[k, n] + bias[n]` and its gradients, for training. */
export interface MatMulTrainingOp extends NativeOp {
  forward(a: Float32Array, b: Float32Array, bias: Float32Array | null, out: Float32Array): void;
  /** dA = dOut b^T ([m, k]). */
  backwardA(dOut: Float32Array, b: Float32Array, dA: Float32Array): void;
  /** dB = a^T dOut ([k, n]). */
  backwardB(a: Float32Array, dOut: Float32Array, dB: Float32Array): void;
}

/**
 * Native ops on the onednn backend `backend`: see the module comment. Get the active backend's with
 * {@link activeNativeOps}.
 */
export class NativeOps {
  private readonly native: OnednnAddon;

  constructor(private readonly backend: BackendOnednn) {
    this.native = backend.native;
  }

  /**
   * The values of a float32 tensor held by this backend, zero-copy (the array the tensor owns: do not write to it),
   * or null: another dtype, data held by another backend, or float32 values kept in another kind of array.
   */
  values(t: Tensor): Float32Array | null {
    if (!this.backend.data.has(t.dataId)) return null;
    return float32Data(this.backend, t);
  }

  /**
   * A number that identifies the content of `t`'s data while it lives (tfjs never rewrites a tensor's data), for
   * {@link Conv2dParams.filterToken}.
   */
  contentToken(t: Tensor): number {
    return this.backend.dataToken(t.dataId);
  }

  /**
   * Plans a 2-D convolution, output shape as tfjs's conv2d computes it, or returns why the native code cannot run it
   * (shapes that do not fit, pads oneDNN cannot express, empty tensors, a bias not of one value per output channel).
   */
  conv2d(p: Conv2dParams): Conv2dOp | string {
    const act = activationCode(p.activation ?? 'linear', undefined);
    if (act === null) return `activation '${p.activation}' is not fused natively`;
    const plan = planConv2D(p.xShape, p.filterShape, p.strides, p.pad, 'NHWC', p.dilations, undefined);
    if (typeof plan === 'string') return plan;
    if (p.filter.length !== sizeOf(p.filterShape)) return `filter of ${p.filter.length} values, shape [${p.filterShape.join(',')}]`;
    const bias = p.bias ?? null;
    const outShape = plan.convInfo.outShape;
    if (bias !== null && bias.length !== outShape[3]) return `bias of ${bias.length} values for ${outShape[3]} channels`;
    const { native } = this;
    const { filter } = p;
    const { geometry } = plan;
    const token = p.filterToken ?? 0;
    return {
      outShape,
      run(x: Float32Array, out: Float32Array, residual: Float32Array | null = null): void {
        native.conv2dForward(x, filter, bias, out, geometry, act, 0, token, residual);
      },
    };
  }

  /**
   * Plans a 2-D max or average pooling, output shape as tfjs's computes it, with its gradient (as tfjs's MaxPoolGrad
   * and AvgPoolGrad compute it), or returns why it cannot be run.
   */
  pool2d(p: Pool2dParams): Pool2dOp | string {
    const plan = planPool2D(p.xShape, { filterSize: p.filterSize, strides: p.strides, pad: p.pad });
    if (typeof plan === 'string') return plan;
    const { native } = this;
    const { geometry } = plan;
    const kind = POOL_OPS[p.kind];
    return {
      outShape: plan.convInfo.outShape,
      run(x: Float32Array, out: Float32Array): void {
        native.pool(kind, x, out, geometry);
      },
      backward(dy: Float32Array, x: Float32Array, dx: Float32Array): void {
        if (p.kind === 'max') native.maxPoolGrad(dy, x, dx, geometry);
        else native.avgPoolGrad(dy, dx, geometry);
      },
    };
  }

  /** Plans a matrix product with bias and activation (see {@link MatMulParams}), or returns why it cannot be run. */
  matMul(p: MatMulParams): UnaryOp | string {
    const act = activationCode(p.activation ?? 'linear', undefined);
    if (act === null) return `activation '${p.activation}' is not fused natively`;
    const [m, k] = p.aShape;
    const [k2, n] = p.bShape;
    if (k !== k2) return `a [${m},${k}] and b [${k2},${n}] do not multiply`;
    if (!(m > 0 && k > 0 && n > 0)) return 'empty matrices';
    if (p.b.length !== k * n) return `b of ${p.b.length} values, shape [${k},${n}]`;
    const bias = p.bias ?? null;
    if (bias !== null && bias.length !== n) return `bias of ${bias.length} values for ${n} columns`;
    const { native } = this;
    const { b } = p;
    const dims = Int32Array.from([1, 1, m, k, n, 0, 0]);
    return {
      outShape: [m, n],
      run(a: Float32Array, out: Float32Array): void {
        native.matmul(a, b, out, dims, bias, act, 0);
      },
    };
  }

  /**
   * Plans `a op b` with tfjs's broadcasting, or returns why the native code cannot run it. Throws tfjs's error for
   * shapes that do not broadcast.
   */
  binary(op: NativeBinaryOp, aShape: readonly number[], bShape: readonly number[]): BinaryOp | string {
    const plan = planBinary(aShape, bShape);
    if (typeof plan === 'string') return plan;
    const { native } = this;
    const code = BINARY_OPS[op];
    const { dims, aStrides, bStrides } = plan;
    return {
      outShape: plan.outShape,
      run(a: Float32Array, b: Float32Array, out: Float32Array): void {
        native.binary(code, a, b, out, dims, aStrides, bStrides);
      },
    };
  }

  /** Plans `op(x)` element by element over a tensor of shape `xShape` (`out` may be `x`). */
  unary(op: NativeUnaryOp, xShape: readonly number[]): UnaryOp {
    const { native } = this;
    const code = UNARY_OPS[op];
    return {
      outShape: [...xShape],
      run(x: Float32Array, out: Float32Array): void {
        native.unary(code, x, out, 0);
      },
    };
  }

  /**
   * Plans a convolution for training: its forward pass and both gradients, with the filter and bias given to each call
   * (see {@link Conv2dTrainingOp}), or returns why the native code cannot run it.
   */
  conv2dTraining(p: Conv2dTrainingParams): Conv2dTrainingOp | string {
    const plan = planConv2D(p.xShape, p.filterShape, p.strides, p.pad, 'NHWC', p.dilations, undefined);
    if (typeof plan === 'string') return plan;
    const { native } = this;
    const { geometry, convInfo } = plan;
    const outShape = convInfo.outShape;
    const linear = ACTIVATION_CODES.linear;
    // dy summed over its rows: the bias gradient where the native pass does not give it.
    const biasSums = this.columnSums(outShape[0] * outShape[1] * outShape[2], outShape[3]);
    return {
      outShape,
      forward(x, filter, filterToken, bias, out): void {
        native.conv2dForward(x, filter, bias, out, geometry, linear, 0, filterToken, null);
      },
      backwardData(dy, filter, filterToken, dx): void {
        native.conv2dBackwardData(dy, filter, dx, geometry, filterToken);
      },
      backwardWeights(x, dy, dFilter, dBias): void {
        // The native pass writes dBias only where it comes nearly free; otherwise it is a sum over dy's rows.
        if (!native.conv2dBackwardWeights(x, dy, dFilter, dBias, geometry) && dBias !== null) biasSums.run(dy, dBias);
      },
    };
  }

  /**
   * Plans batch normalization in training mode over the last axis of `xShape`, with a ReLU on its output when `relu`
   * (see {@link BatchNormTrainingOp}).
   */
  batchNormTraining(xShape: readonly number[], epsilon: number, relu = false): BatchNormTrainingOp | string {
    if (xShape.length < 2 || xShape.some((d) => !(d > 0))) return `shape [${xShape.join(',')}] is not rows of channels`;
    const { native } = this;
    const channels = xShape[xShape.length - 1];
    return {
      outShape: [...xShape],
      forward(x, scale, offset, y, mean, variance): void {
        native.batchNormTraining(x, scale, offset, y, mean, variance, channels, epsilon, relu);
      },
      backward(dy, x, y, scale, mean, variance, dx, dScale, dOffset, dxSums = null): void {
        native.batchNormTrainingGrad(dy, x, scale, mean, variance, null, null, dx, dScale, dOffset, channels, epsilon,
          relu ? y : null, dxSums);
      },
    };
  }

  /** Plans `dx = dy * step(x)`, ReLU's gradient, over tensors of shape `shape`. */
  reluGrad(shape: readonly number[]): BinaryOp {
    const op = this.binary('reluGrad', shape, shape);
    if (typeof op === 'string') throw new Error(`reluGrad: ${op}`); // equal shapes always plan
    return op;
  }

  /** Plans a matrix product and its gradients for training (see {@link MatMulTrainingOp}). */
  matMulTraining(m: number, k: number, n: number): MatMulTrainingOp | string {
    if (!(m > 0 && k > 0 && n > 0)) return 'empty matrices';
    const { native } = this;
    const linear = ACTIVATION_CODES.linear;
    // [batchA, batchB, m, k, n, transposeA, transposeB] of each product.
    const forward = Int32Array.from([1, 1, m, k, n, 0, 0]);
    const gradA = Int32Array.from([1, 1, m, n, k, 0, 1]);
    const gradB = Int32Array.from([1, 1, k, m, n, 1, 0]);
    return {
      outShape: [m, n],
      forward(a, b, bias, out): void {
        native.matmul(a, b, out, forward, bias, linear, 0);
      },
      backwardA(dOut, b, dA): void {
        native.matmul(dOut, b, dA, gradA, null, linear, 0);
      },
      backwardB(a, dOut, dB): void {
        native.matmul(a, dOut, dB, gradB, null, linear, 0);
      },
    };
  }

  /** Plans `out = x summed over its rows`: x is `rows` x `columns`, out has `columns` values. */
  columnSums(rows: number, columns: number): UnaryOp {
    const { native } = this;
    return {
      outShape: [columns],
      run(x: Float32Array, out: Float32Array): void {
        native.reduce(REDUCE_OPS.sum, x, out, 1, rows, columns);
      },
    };
  }

  /**
   * Plans constant padding (tfjs's `pad`) of a tensor of shape `xShape` by `paddings` ([before, after] per axis), or
   * returns why the native code cannot run it.
   */
  pad(xShape: readonly number[], paddings: readonly (readonly [number, number])[], constantValue = 0): UnaryOp | string {
    const plan = padPlan(xShape, paddings);
    if (typeof plan === 'string') return plan;
    const { native } = this;
    const { shape, before, after } = plan;
    return {
      outShape: plan.outShape,
      run(x: Float32Array, out: Float32Array): void {
        native.pad(x, out, shape, before, after, constantValue);
      },
    };
  }
}

const opsOf = new WeakMap<BackendOnednn, NativeOps>();

/** The native ops of the active tfjs backend when it is onednn, else null. */
export function activeNativeOps(): NativeOps | null {
  if (tf.getBackend() !== ONEDNN_BACKEND_NAME) return null;
  const backend = tf.backend() as BackendOnednn;
  let ops = opsOf.get(backend);
  if (ops === undefined) {
    ops = new NativeOps(backend);
    opsOf.set(backend, ops);
  }
  return ops;
}

/** Geometry of {@link conv2dResidualOnBackend}'s convolution (NHWC input, HWIO filter). */
export interface Conv2dResidualGeometry {
  strides: [number, number];
  padding: 'same' | 'valid';
  dilations: [number, number];
}

/**
 * `activation(conv2d(x, filter) + bias + residual)` by the active backend's `OnednnConv2DResidual` kernel (the
 * residual added inside the convolution, one pass over the output), or null where the active backend has no such
 * kernel or the kernel does not take these tensors (dtype, shapes). Not differentiable: for inference.
 */
export function conv2dResidualOnBackend(
  x: Tensor4D,
  filter: Tensor4D,
  bias: Tensor | undefined,
  residual: Tensor4D,
  geometry: Conv2dResidualGeometry,
  activation: 'linear' | 'relu',
): Tensor4D | null {
  if (tf.getKernel(ONEDNN_CONV2D_RESIDUAL, tf.getBackend()) === undefined) return null;
  const attrs: OnednnConv2DResidualAttrs = {
    strides: geometry.strides,
    pad: geometry.padding,
    dataFormat: 'NHWC',
    dilations: geometry.dilations,
    dimRoundingMode: 'floor', // unused with 'same' and 'valid' padding
    activation,
    leakyreluAlpha: 0, // unused by 'linear' and 'relu'
  };
  const inputs = { x, filter, residual, ...(bias === undefined ? {} : { bias }) };
  if (!conv2DResidualApplies(inputs, attrs)) return null;
  const kernelInputs = inputs as unknown as tf.NamedTensorMap;
  return tf.engine().runKernel(ONEDNN_CONV2D_RESIDUAL, kernelInputs, attrs as unknown as tf.NamedAttrMap) as Tensor4D;
}
