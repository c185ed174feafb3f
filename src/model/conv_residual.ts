/**
 * A convolution that adds a residual before its activation, for inference graphs: `Conv2DResidual` is the layer
 * that {@link foldBatchNorm} puts where a residual block ends in "convolution, Add(shortcut), ReLU".
 *
 * `y = activation(conv2d(x, kernel) + bias + residual)`. On the onednn backend it is one native kernel
 * (OnednnConv2DResidual: the residual is added inside the convolution, one pass over the output instead of three);
 * on any other backend it is tfjs's fused conv2d, then add, then the activation: the same function.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs';

import { conv2dResidualOnBackend, type Conv2dResidualGeometry } from '../backend/index.js';

/** Activations a {@link Conv2DResidual} may apply after the addition. */
export type ResidualActivation = 'linear' | 'relu';

/** Geometry of the convolution in {@link conv2dResidual}: strides, 'same' or 'valid' padding, dilations. */
export type ConvGeometry = Conv2dResidualGeometry;

/**
 * activation(conv2d(x, filter) + bias + residual) for NHWC `x`, HWIO `filter`, `residual` shaped like the output.
 * Not differentiable on the onednn backend (its kernel has no gradient): it serves inference.
 */
export function conv2dResidual(
  x: Tensor4D,
  filter: Tensor4D,
  bias: Tensor | undefined,
  residual: Tensor4D,
  geometry: ConvGeometry,
  activation: ResidualActivation,
): Tensor4D {
  const native = conv2dResidualOnBackend(x, filter, bias, residual, geometry, activation);
  if (native !== null) return native;
  return tf.tidy((): Tensor4D => {
    const { strides, padding: pad, dilations } = geometry;
    const conv = tf.fused.conv2d({ x, filter, bias, strides, pad, dilations });
    const sum: Tensor4D = tf.add(conv, residual);
    return activation === 'relu' ? tf.relu(sum) : sum;
  });
}

/** Constructor arguments of {@link Conv2DResidual}: those of a channels-last Conv2D layer that matter here. */
export interface Conv2DResidualArgs {
  name?: string;
  filters: number;
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  padding?: 'same' | 'valid';
  dilationRate?: number | [number, number];
  activation?: ResidualActivation;
  useBias?: boolean;
  trainable?: boolean;
}

/** A pair from a number or a pair. */
function pair(v: number | [number, number] | undefined, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/**
 * A channels-last Conv2D layer called on `[x, residual]` that returns `activation(conv2d(x) + bias + residual)`. Its
 * weights are a Conv2D's (`kernel` [kh, kw, in, filters], `bias` [filters]) under the same names. {@link foldBatchNorm}
 * puts it where a residual block ends in "convolution, Add(shortcut), ReLU": one native kernel on the onednn
 * backend instead of three passes over the output, elsewhere tfjs's fused conv2d, then add, then the activation (the
 * same function). It serves inference: on onednn it has no gradient. Importing this library registers the class, so
 * that models saved with it load again.
 */
export class Conv2DResidual extends tf.layers.Layer {
  /** The class name models are serialized with. */
  static className = 'Conv2DResidual';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: 'same' | 'valid';
  readonly dilationRate: [number, number];
  readonly activation: ResidualActivation;
  readonly useBias: boolean;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: Conv2DResidualArgs) {
    super({ name: args.name, trainable: args.trainable });
    this.filters = args.filters;
    this.kernelSize = pair(args.kernelSize, 1);
    this.strides = pair(args.strides, 1);
    this.padding = args.padding ?? 'valid';
    this.dilationRate = pair(args.dilationRate, 1);
    this.activation = args.activation ?? 'linear';
    this.useBias = args.useBias ?? true;
    if (this.activation !== 'linear' && this.activation !== 'relu') {
      const got = String(this.activation);
      throw new Error(`Conv2DResidual ${this.name}: activation must be 'linear' or 'relu', got '${got}'`);
    }
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shapes = inputShape as tf.Shape[];
    const inChannels = shapes[0][3];
    if (!Array.isArray(shapes[0]) || shapes.length !== 2 || inChannels == null) {
      throw new Error(`Conv2DResidual ${this.name} is called on [x, residual] with x's channels known`);
    }
    const [kh, kw] = this.kernelSize;
    this.kernel = this.addWeight('kernel', [kh, kw, inChannels, this.filters], 'float32', tf.initializers.zeros());
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (inputShape as tf.Shape[])[1]; // the residual has the output's shape
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    return tf.tidy(() => {
      const [x, residual] = inputs as Tensor[];
      if (this.kernel === null) throw new Error(`Conv2DResidual ${this.name} is not built`);
      return conv2dResidual(x as Tensor4D, this.kernel.read() as Tensor4D, this.bias?.read(), residual as Tensor4D,
        { strides: this.strides, padding: this.padding, dilations: this.dilationRate }, this.activation);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      dilationRate: this.dilationRate,
      activation: this.activation,
      useBias: this.useBias,
    };
  }
}
tf.serialization.registerClass(Conv2DResidual);
