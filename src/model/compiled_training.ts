/**
 * Compiled training: one training step of a functional model (forward pass in training mode, categorical
 * cross-entropy, backpropagation, the optimizer's update) as a planned list of native calls on the `onednn` backend,
 * over buffers assigned once per batch size.
 *
 * Why: `model.trainOnBatch` runs every op of the forward pass through tfjs's engine, which records each on a tape and
 * keeps copies of what the gradients need; backpropagation then walks that tape op by op, and tfjs-layers adds its
 * own work per layer. On ResNet-50 at 64x64, batch 32, that is about 25 ms of serial JavaScript per step on the
 * README's machine, besides the native kernels. Here the layer graph is read once: each layer's forward call and its
 * gradient are native calls of the backend ({@link activeNativeOps}) with their geometry planned ahead, every
 * activation and gradient has its buffer, and a gradient used once is computed in place where the op allows it (a
 * ReLU's gradient overwrites the gradient it is given; an addition passes its gradient on without a copy). The native
 * calls are the ones the backend's kernels make for the same ops, so the numbers are those of `trainOnBatch` on
 * onednn, up to the order of float32 roundings in the loss. Knowing the graph, it also fuses what tfjs's eager ops
 * cannot: a ReLU that alone reads a BatchNormalization's output is applied by the batch norm's kernel, and its
 * gradient by the batch norm's gradient kernel (as TensorFlow's FusedBatchNormEx does).
 *
 * What `trainOnBatch` does besides is kept: BatchNormalization layers normalize with the batch's statistics and move
 * their moving mean and variance as tfjs does ({@link moveTowards}: the same bits), and the gradients go to the
 * model's own optimizer (`applyGradients`, in the order `trainOnBatch` gives them), so any tfjs optimizer, its state
 * and its checkpoints work unchanged.
 *
 * It covers the graphs of this library's networks: InputLayer; ZeroPadding2D read only by a 'valid' convolution
 * (which then pads as it reads); Conv2D (channels last, no activation, no groups, any strides and dilations);
 * BatchNormalization over the last axis with center and scale; Activation 'relu' or 'linear'; Add; MaxPooling2D,
 * AveragePooling2D, GlobalAveragePooling2D; Flatten; and as the output layer a Dense with softmax, trained with
 * categorical cross-entropy and the accuracy metric alone. Every weight trainable, every layer called once, without
 * regularizers or constraints; a float32 input. {@link compileTrainingStep} says why it cannot compile anything else,
 * and callers fall back to `trainOnBatch`.
 */
import * as tf from '@tensorflow/tfjs';
import type { backend_util } from '@tensorflow/tfjs';

import {
  activeNativeOps,
  debugEnabled,
  heldArray,
  moveTowards,
  PlanArena,
  type NativeOps,
  type NativePadding,
  type SpatialSize,
} from '../backend/index.js';
import { executorOps, layerNode, planPoolingLayer, recentlyUsed, softmaxRows } from './compiled.js';

const sizeOf = tf.util.sizeFromShape;

/** The loss and accuracy of one training step, over the batch it trained on (before the update). */
export interface TrainingStepResult {
  loss: number;
  acc: number;
}

/** A training step compiled for one batch size: see the module comment. */
export interface CompiledTrainingStep {
  /** Images per step. */
  readonly batch: number;
  /** Native calls of a step, forward and backward (the optimizer's update not counted). */
  readonly calls: number;
  /**
   * Whether the model is still compiled as it was when this step was planned (the same loss, metrics and trainable
   * weights); {@link CompiledTrainer} plans again when not.
   */
  current(): boolean;
  /**
   * Trains the model on one batch: `x` holds batch x the model's input shape (float32, NHWC), `y` the one-hot labels
   * (batch x classes). Updates the model's weights through its optimizer and BatchNorm's moving statistics, and
   * returns the batch's loss and accuracy as `trainOnBatch` reports them.
   */
  run(x: Float32Array, y: Float32Array): TrainingStepResult;
}

/** tfjs-layers' epsilon for float32, with which categorical cross-entropy clips probabilities. */
const EPSILON = 1e-7;

/** A trainable model weight as the step reads it: the layer variable and, once per run, its current values. */
interface Weight {
  variable: tf.LayerVariable;
  /** Filled at the start of each run. */
  values: Float32Array;
  /** Whether it is a convolution's filter, which the native side keeps reordered by {@link token}. */
  filter: boolean;
  /** The native content token of `values` (filters; 0, unknown, for the others), filled at each run. */
  token: number;
  /** Its gradient. */
  gradient: Float32Array;
}

/** A layer of the forward pass, with what its gradient needs. */
interface Step {
  inputs: number[];
  output: number;
  forward(): void;
  /** Plans its backward pass (see {@link Planner.addStep}). */
  plan: BackwardPlan;
  /** How many native calls its backward pass makes. */
  calls: number;
}

/**
 * Compiles one training step of `model` for batches of `batch` images on the onednn backend, or returns why it
 * cannot: not on onednn, a layer, configuration, loss or optimizer it does not cover (see the module comment).
 */
export function compileTrainingStep(model: tf.LayersModel, batch: number): CompiledTrainingStep | string {
  return compileStep(model, batch, heldArray);
}

/** {@link compileTrainingStep} with the step's arrays from `alloc` (see {@link PlanArena}). */
function compileStep(model: tf.LayersModel, batch: number, alloc: (size: number) => Float32Array): CompiledTrainingStep | string {
  const ops = executorOps(model, batch);
  if (typeof ops === 'string') return ops;
  const compiled = compiledWith(model);
  if (typeof compiled === 'string') return compiled;
  const input = model.inputs[0];
  if (input.dtype !== 'float32') return `the input is ${input.dtype}, not float32`;
  if (input.shape[0] != null && input.shape[0] !== batch) return `the input takes batches of ${input.shape[0]}, not ${batch}`;
  const inputShape = input.shape.slice(1);
  if (inputShape.some((d) => d == null)) return 'the input shape is not fully known';

  const plan = new Planner(ops, model, batch, inputShape as number[], alloc);
  const error = plan.build();
  if (error !== undefined) return error;
  return plan.finish(compiled);
}

/** What a model was compiled with, as the step depends on it. */
interface CompiledWith {
  loss: unknown;
  metrics: string;
  trainable: tf.LayerVariable[];
}

/**
 * The loss, metrics and trainable variables `model` is compiled with, or why a compiled step cannot train it: not
 * compiled, a loss other than categorical cross-entropy, metrics other than accuracy alone (the step computes loss and
 * accuracy only).
 */
function compiledWith(model: tf.LayersModel): CompiledWith | string {
  const internals = model as unknown as { optimizer_?: tf.Optimizer; loss?: unknown; collectedTrainableWeights?: tf.LayerVariable[] };
  if (internals.optimizer_ == null) return 'the model is not compiled';
  const loss = Array.isArray(internals.loss) && internals.loss.length === 1 ? internals.loss[0] : internals.loss;
  if (loss !== 'categoricalCrossentropy') return `loss ${JSON.stringify(internals.loss)}, not categoricalCrossentropy`;
  const metrics = model.metricsNames.slice(1).join(',');
  if (metrics !== 'acc') return `metrics [${metrics}], not accuracy alone`;
  return { loss: internals.loss, metrics, trainable: [...(internals.collectedTrainableWeights ?? model.trainableWeights)] };
}

/** Builds a {@link CompiledTrainingStep}: forward steps in layer order, then their gradients in reverse. */
class Planner {
  /** Values are numbered: 0 is the input; each layer's output takes the next number. */
  private readonly shapes: number[][];
  private readonly valueOf = new Map<number, number>();
  /** The forward buffer of each value (an alias shares its source's; the input's is given to each run). */
  private readonly vals: Float32Array[] = [];
  /** The value that owns each value's forward buffer: itself, or the source of the view it is (0: the input). */
  private readonly bufferOwner: number[] = [0];
  /** Layers reading each value. */
  private readonly readersOf: number[] = [];
  /** The layers reading each tfjs tensor, by tensor id. */
  private readonly readerLayers = new Map<number, tf.layers.Layer[]>();
  /** BatchNormalization outputs that have their ReLU applied by the batch norm itself (the ReLU layer is then a view). */
  private readonly fusedRelu = new Set<number>();
  /** The bias gradient of each biased convolution, by its output value. */
  private readonly biasGradientOf = new Map<number, Float32Array>();
  /** Convolution outputs whose bias gradient the batch norm that alone reads them writes (dx's sums). */
  private readonly biasFromBatchNorm = new Set<number>();
  /** Whether a value depends on a trainable weight, so that its gradient is needed. */
  private readonly needsGrad: boolean[] = [];
  /** The value whose gradient buffer receives each value's gradient (a Flatten passes its gradient to its input). */
  private readonly gradOf: number[] = [];
  private readonly steps: Step[] = [];
  private readonly weights: Weight[] = [];
  /** ZeroPadding2D outputs that only a 'valid' convolution reads: their input and paddings. */
  private readonly zeroPadding = new Map<number, { source: number; paddings: [number, number][] }>();
  /** Batch statistics of each BatchNormalization step, and the layer's moving averages to move after the forward pass. */
  private readonly movingAverages: { layer: BatchNormLayer; mean: Float32Array; variance: Float32Array }[] = [];
  /** Gradient buffers by value, assigned while the backward pass is planned (at a value's first gradient part). */
  private readonly grads: Float32Array[] = [];
  private calls = 0;
  private output = -1;

  constructor(
    private readonly ops: NativeOps,
    private readonly model: tf.LayersModel,
    private readonly batch: number,
    inputShape: number[],
    /** Allocates the plan's arrays: each call a distinct array (their contents are not to be relied on). */
    private readonly alloc: (size: number) => Float32Array,
  ) {
    this.shapes = [[batch, ...inputShape]];
    this.valueOf.set(model.inputs[0].id, 0);
    this.vals.push(new Float32Array(0)); // replaced by each run's input
    this.needsGrad.push(false);
    this.gradOf.push(0);
    for (const layer of model.layers) {
      for (const node of layer.inboundNodes) {
        for (const t of node.inputTensors) this.readerLayers.set(t.id, [...(this.readerLayers.get(t.id) ?? []), layer]);
      }
    }
  }

  /** Plans the forward pass; returns why it cannot. */
  build(): string | undefined {
    const layers = this.model.layers;
    for (let i = 0; i < layers.length; i++) {
      const layer = layers[i];
      const cls = layer.getClassName();
      if (cls === 'InputLayer') continue;
      if (layer instanceof tf.LayersModel) return `${layer.name} is a nested model`;
      const planned = layerNode(layer, this.valueOf);
      if (typeof planned === 'string') return planned;
      const { node, inputs, config } = planned;
      if (!layer.trainable && layer.weights.length > 0) return `${layer.name} is not trainable (frozen layers are not covered)`;
      for (const key of ['kernelRegularizer', 'biasRegularizer', 'activityRegularizer', 'gammaRegularizer', 'betaRegularizer',
        'kernelConstraint', 'biasConstraint', 'gammaConstraint', 'betaConstraint']) {
        if (config[key] != null) return `${layer.name} has a ${key}`;
      }
      const isOutput = node.outputTensors[0].id === this.model.outputs[0].id;
      if (isOutput && i !== layers.length - 1) return `${layer.name}, the output, is not the last layer`;
      const readerLayers = this.readerLayers.get(node.outputTensors[0].id) ?? [];
      const error = this.layerStep(layer, cls, config, inputs, isOutput, readerLayers);
      if (typeof error === 'string') return `${layer.name}: ${error}`;
      this.valueOf.set(node.outputTensors[0].id, this.shapes.length - 1);
      this.readersOf[this.shapes.length - 1] = readerLayers.length;
      if (isOutput) this.output = this.shapes.length - 1;
    }
    if (this.output < 0) return 'the output is not computed by the layers';
    return undefined;
  }

  /** A new value of `shape`: its forward buffer (or `alias`'s), whether it needs a gradient. */
  private newValue(shape: number[], needsGrad: boolean, alias?: number): number {
    const v = this.shapes.length;
    this.shapes.push(shape);
    this.vals.push(alias === undefined ? this.alloc(sizeOf(shape)) : this.vals[alias]);
    this.bufferOwner.push(alias === undefined ? v : this.bufferOwner[alias]);
    this.needsGrad.push(needsGrad);
    this.gradOf.push(v);
    return v;
  }

  /** A trainable model weight, read at each run. */
  private weight(layer: tf.layers.Layer, index: number, filter = false): Weight | string {
    const variable = layer.weights[index];
    if (variable === undefined) return `no weight ${index}`;
    if (variable.dtype !== 'float32') return `${variable.name} is not float32`;
    if (!variable.trainable) return `${variable.name} is not trainable (frozen weights are not covered)`;
    const w: Weight = { variable, values: new Float32Array(0), filter, token: 0, gradient: this.alloc(sizeOf(variable.shape as number[])) };
    this.weights.push(w);
    return w;
  }

  /**
   * Plans one layer (`cls`, its config) over the values `inputs`: its output value and, where it computes anything, its
   * forward step and backward plan. `readerLayers` are the layers that read its output. Returns why it cannot.
   */
  private layerStep(layer: tf.layers.Layer, cls: string, config: tf.serialization.ConfigDict, inputs: number[], isOutput: boolean,
    readerLayers: tf.layers.Layer[]): string | undefined {
    const { ops, shapes, vals } = this;
    const x = inputs[0];
    const xShape = shapes[x];
    const anyGrad = inputs.some((v) => this.needsGrad[v]);
    switch (cls) {
      case 'ZeroPadding2D': {
        // Only as the input of a 'valid' convolution, which pads as it reads (the padded copy is never made).
        const reader = readerLayers.length === 1 ? readerLayers[0] : undefined;
        if (reader?.getClassName() !== 'Conv2D' || reader.getConfig().padding !== 'valid' || anyGrad) {
          return "a zero padding is covered only when one 'valid' convolution alone reads it and it needs no gradient";
        }
        const [[top, bottom], [left, right]] = config.padding as [[number, number], [number, number]];
        const v = this.newValue([xShape[0], xShape[1] + top + bottom, xShape[2] + left + right, xShape[3]], false, x);
        this.zeroPadding.set(v, { source: x, paddings: [[0, 0], [top, bottom], [left, right], [0, 0]] });
        return undefined;
      }
      case 'Conv2D': {
        if (Number(config.groups ?? 1) !== 1) return 'a grouped convolution';
        if (String(config.activation ?? 'linear') !== 'linear') return `activation ${String(config.activation)}`;
        const kernel = this.weight(layer, 0, true);
        if (typeof kernel === 'string') return kernel;
        const bias = config.useBias !== false ? this.weight(layer, 1) : null;
        if (typeof bias === 'string') return bias;
        let source = x;
        let pad: NativePadding = config.padding as 'same' | 'valid';
        const padded = this.zeroPadding.get(x);
        if (padded !== undefined) {
          source = padded.source;
          pad = padded.paddings as backend_util.ExplicitPadding;
        }
        const op = ops.conv2dTraining({ xShape: shapes[source], filterShape: kernel.variable.shape as number[], strides: config.strides as SpatialSize, pad,
          dilations: config.dilationRate as SpatialSize });
        if (typeof op === 'string') return op;
        const o = this.newValue(op.outShape, true);
        if (bias !== null) this.biasGradientOf.set(o, bias.gradient);
        const xs = source;
        this.addStep([xs], o, 1, () => op.forward(vals[xs], kernel.values, kernel.token, bias?.values ?? null, vals[o]), (dy, deliver) => {
          deliver(0, (dx) => op.backwardData(dy, kernel.values, kernel.token, dx));
          // The bias's gradient (dy's sums) is the batch norm's to write where one alone reads the output.
          const dBias = bias === null || this.biasFromBatchNorm.has(o) ? null : bias.gradient;
          return () => op.backwardWeights(vals[xs], dy, kernel.gradient, dBias);
        }, this.needsGrad[xs] ? 2 : 1);
        return undefined;
      }
      case 'BatchNormalization': {
        const axis = Number(config.axis);
        if (axis !== -1 && axis !== xShape.length - 1) return `normalizes axis ${axis}, not the last`;
        if (config.center === false || config.scale === false) return 'center or scale is off';
        const bn = layer as unknown as BatchNormLayer;
        const gamma = this.weight(layer, 0);
        const beta = this.weight(layer, 1);
        if (typeof gamma === 'string' || typeof beta === 'string') return 'weights';
        // A ReLU that alone reads the output is applied by the batch norm, and its gradient by the batch norm's.
        const relu = !isOutput && readerLayers.length === 1 && readerLayers[0].getClassName() === 'Activation' &&
          readerLayers[0].getConfig().activation === 'relu';
        const op = ops.batchNormTraining(xShape, Number(config.epsilon), relu);
        if (typeof op === 'string') return op;
        const channels = xShape[xShape.length - 1];
        const mean = new Float32Array(channels);
        const variance = new Float32Array(channels);
        this.movingAverages.push({ layer: bn, mean, variance });
        const o = this.newValue(xShape, true);
        if (relu) this.fusedRelu.add(o);
        // Where the batch norm alone reads a biased convolution's output, its gradient pass also sums dx per channel
        // into that bias's gradient, which the convolution then need not compute with a pass of its own over dy.
        // (Through the batch statistics it is rounding noise about 0, as in tfjs.)
        const sums = this.readersOf[x] === 1 ? this.biasGradientOf.get(x) ?? null : null;
        if (sums !== null) this.biasFromBatchNorm.add(x);
        this.addStep([x], o, 1, () => op.forward(vals[x], gamma.values, beta.values, vals[o], mean, variance), (dy, deliver) => {
          // The kernel writes dx; without a gradient for x it is still computed, into a scratch buffer.
          deliver(0, (dx) => op.backward(dy, vals[x], vals[o], gamma.values, mean, variance, dx, gamma.gradient, beta.gradient, sums), true);
        }, 1);
        return undefined;
      }
      case 'Activation': {
        const activation = String(config.activation);
        if (activation === 'linear') {
          this.newValue(xShape, this.needsGrad[x], x);
          this.gradOf[this.shapes.length - 1] = this.gradOf[x];
          return undefined;
        }
        if (activation !== 'relu') return `activation ${activation}`;
        if (this.fusedRelu.has(x)) {
          // Applied by the batch norm before it: a view of its output, whose gradient is the batch norm's to take.
          const o = this.newValue(xShape, anyGrad, x);
          this.gradOf[o] = this.gradOf[x];
          return undefined;
        }
        const relu = ops.unary('relu', xShape);
        const grad = ops.reluGrad(xShape);
        // In place when the input owns its buffer (it is no view of another value) and nothing else reads it: a
        // BatchNorm's gradient needs its input, not its output. Never over the model's input.
        const inPlace = this.bufferOwner[x] === x && this.readersOf[x] === 1 && x !== 0;
        const o = this.newValue(xShape, anyGrad, inPlace ? x : undefined);
        this.addStep([x], o, 1, () => relu.run(vals[x], vals[o]), (dy, deliver) => {
          // The mask from the output: relu(x) > 0 exactly where x > 0.
          deliver(0, (dx) => grad.run(dy, vals[o], dx), false, true);
        }, 1);
        return undefined;
      }
      case 'Add': {
        if (inputs.some((v) => !tf.util.arraysEqual(shapes[v], xShape))) return 'adds different shapes';
        const add = ops.binary('add', xShape, xShape);
        if (typeof add === 'string') return add;
        const o = this.newValue(xShape, anyGrad);
        this.addStep(inputs, o, inputs.length - 1, () => {
          add.run(vals[inputs[0]], vals[inputs[1]], vals[o]);
          for (let k = 2; k < inputs.length; k++) add.run(vals[o], vals[inputs[k]], vals[o]);
        }, (dy, deliver) => {
          for (let k = 0; k < inputs.length; k++) deliver(k, null);
        }, 0);
        return undefined;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D':
      case 'GlobalAveragePooling2D': {
        const pooling = planPoolingLayer(ops, cls, config, xShape);
        if (typeof pooling === 'string') return pooling;
        const { pool } = pooling;
        const o = this.newValue(pooling.outShape, anyGrad);
        this.addStep([x], o, 1, () => pool.run(vals[x], vals[o]), (dy, deliver) => {
          deliver(0, (dx) => pool.backward(dy, vals[x], dx));
        }, 1);
        return undefined;
      }
      case 'Flatten': {
        const o = this.newValue([xShape[0], sizeOf(xShape.slice(1))], anyGrad, x);
        this.gradOf[o] = this.gradOf[x];
        return undefined;
      }
      case 'Dense': {
        if (!isOutput || String(config.activation) !== 'softmax') return 'a Dense layer is covered only as the softmax output';
        if (xShape.length !== 2) return `on a rank-${xShape.length} input`;
        const kernel = this.weight(layer, 0);
        if (typeof kernel === 'string') return kernel;
        const bias = config.useBias !== false ? this.weight(layer, 1) : null;
        if (typeof bias === 'string') return bias;
        const [k, n] = kernel.variable.shape as number[];
        if (k !== xShape[1]) return 'its kernel does not fit its input';
        if (n < 2) return 'categorical cross-entropy needs at least 2 classes';
        const mm = ops.matMulTraining(xShape[0], k, n);
        if (typeof mm === 'string') return mm;
        const sums = ops.columnSums(xShape[0], n);
        const o = this.newValue([xShape[0], n], true);
        // The output's gradient buffer holds the loss's gradient with respect to the logits (through the softmax).
        this.addStep([x], o, 1, () => {
          mm.forward(vals[x], kernel.values, bias?.values ?? null, vals[o]);
          softmaxRows(vals[o], xShape[0], n);
        }, (dLogits, deliver) => {
          deliver(0, (dx) => mm.backwardA(dLogits, kernel.values, dx));
          return () => {
            mm.backwardB(vals[x], dLogits, kernel.gradient);
            if (bias !== null) sums.run(dLogits, bias.gradient);
          };
        }, this.needsGrad[x] ? 3 : 2);
        return undefined;
      }
      default:
        return `${cls} is not covered`;
    }
  }

  /**
   * Records a forward step and how its backward pass is planned: `plan(dy, deliver)`, given the buffer of the output's
   * gradient, calls `deliver(k, compute)` per input k, with `compute(dx)` writing that input's gradient into `dx`
   * (null for an input whose gradient is dy itself, an addition's), and returns what else the backward pass runs
   * first (the weights' gradients), if anything. Planned in {@link finish}.
   */
  private addStep(
    inputs: number[],
    output: number,
    forwardCalls: number,
    forward: () => void,
    plan: BackwardPlan,
    backwardCalls: number,
  ): void {
    this.calls += forwardCalls;
    this.steps.push({ inputs, output, forward, plan, calls: backwardCalls });
  }

  /** Plans the backward pass and the buffers of gradients, and returns the compiled step. */
  finish(compiled: CompiledWith): CompiledTrainingStep | string {
    const { ops, shapes, vals, grads } = this;
    // Every trainable variable must be one this plan computes a gradient for, and the other way round.
    const byVariable = new Map(this.weights.map((w) => [w.variable, w]));
    const order: Weight[] = [];
    for (const v of compiled.trainable) {
      const w = byVariable.get(v);
      if (w === undefined) return `the trainable weight ${v.name} is not one the plan covers`;
      order.push(w);
    }
    if (order.length !== this.weights.length) return 'a weight the plan trains is not among the trainable weights the model was compiled with';
    // How many steps read each gradient target: a value, or a view of it (a Flatten, a linear Activation, a fused
    // ReLU), each adds a part to the target's gradient.
    const gradReaders: number[] = [];
    for (const st of this.steps) for (const v of st.inputs) gradReaders[this.gradOf[v]] = (gradReaders[this.gradOf[v]] ?? 0) + 1;
    // Gradient buffers, reused once consumed: a free list by size, and the values sharing each buffer.
    const free = new Map<number, Float32Array[]>();
    const users = new Map<Float32Array, number>();
    const take = (size: number): Float32Array => free.get(size)?.pop() ?? this.alloc(size);
    /** Back to the free list (a scratch buffer at once, as its step is the last to use it). */
    const give = (buffer: Float32Array): void => {
      free.set(buffer.length, [...(free.get(buffer.length) ?? []), buffer]);
    };
    const release = (buffer: Float32Array): void => {
      const left = (users.get(buffer) ?? 1) - 1;
      users.set(buffer, left);
      if (left === 0) give(buffer);
    };
    /** Values whose gradient buffer is, so far, another value's (an addition's output gradient), shared. */
    const borrowed = new Set<number>();
    const own = (v: number, buffer: Float32Array): void => {
      grads[v] = buffer;
      users.set(buffer, (users.get(buffer) ?? 0) + 1);
    };
    const outputSize = sizeOf(shapes[this.output]);
    own(this.output, take(outputSize));
    const dLogits = grads[this.output];

    const backward: (() => void)[] = [];
    let backwardCalls = 0;
    for (let s = this.steps.length - 1; s >= 0; s--) {
      const step = this.steps[s];
      const dy = grads[this.gradOf[step.output]];
      if (dy === undefined) continue; // nothing downstream needs this step's gradient
      const calls: (() => void)[] = [];
      const deliver: Deliver = (k, compute, always = false, inPlace = false) => {
        const target = this.gradOf[step.inputs[k]];
        const needed = this.needsGrad[step.inputs[k]];
        if (!needed) {
          // No gradient wanted; a kernel that computes it anyway gets a scratch buffer.
          if (always && compute !== null) {
            const scratch = take(sizeOf(shapes[step.inputs[k]]));
            calls.push(() => compute(scratch));
            give(scratch);
          }
          return;
        }
        const size = sizeOf(shapes[target]);
        // Whether this is the only part of the target's gradient (no other step reads it, or a view of it).
        const soleReader = gradReaders[target] === 1;
        if (grads[target] === undefined) {
          // The first part of the target's gradient (the steps run in reverse: its last reader comes first).
          if (compute === null) {
            // The gradient is dy itself: shared. Where another reader adds its part later, that part goes into a
            // buffer of the target's own, with dy added to it then (no copy of dy).
            own(target, dy);
            if (!soleReader) borrowed.add(target);
          } else {
            // In place only over a buffer that no other value's gradient shares (an addition's inputs may).
            const buffer = inPlace && soleReader && users.get(dy) === 1 ? dy : take(size);
            own(target, buffer);
            calls.push(() => compute(buffer));
          }
          return;
        }
        // A second reader: its part is added to what is there.
        const into = grads[target];
        const add = ops.binary('add', shapes[target], shapes[target]);
        if (typeof add === 'string') throw new Error(add); // equal shapes always plan
        if (borrowed.delete(target)) {
          // What is there is another value's gradient, shared: the sum goes into a buffer of the target's own.
          const buffer = take(size);
          own(target, buffer);
          release(into);
          if (compute === null) calls.push(() => add.run(into, dy, buffer));
          else {
            calls.push(() => {
              compute(buffer);
              add.run(buffer, into, buffer);
            });
          }
          backwardCalls++;
          return;
        }
        if (compute === null) {
          calls.push(() => add.run(into, dy, into));
        } else {
          const scratch = take(size);
          calls.push(() => {
            compute(scratch);
            add.run(into, scratch, into);
          });
          give(scratch);
        }
        backwardCalls++;
      };
      const weightsPart = step.plan(dy, deliver);
      if (weightsPart) calls.unshift(weightsPart);
      backwardCalls += step.calls;
      release(dy);
      if (calls.length === 1) backward.push(calls[0]);
      else backward.push(() => {
        for (const c of calls) c();
      });
    }

    const forward = this.steps.map((st) => st.forward);
    const { weights, movingAverages, batch, model } = this;
    // The input and the values that are views of it (a Flatten of the input) take each run's input.
    const inputViews = this.bufferOwner.flatMap((owner, v) => (owner === 0 ? [v] : []));
    const inputSize = sizeOf(shapes[0]);
    const probabilities = vals[this.output];
    const classes = shapes[this.output][1];
    const gradShapes = order.map((w) => w.variable.shape as number[]);
    const gradNames = order.map((w) => (w.variable.read() as tf.Variable).name);

    return {
      batch,
      calls: this.calls + backwardCalls,
      current(): boolean {
        const now = compiledWith(model);
        return typeof now !== 'string' && now.loss === compiled.loss && now.metrics === compiled.metrics &&
          now.trainable.length === compiled.trainable.length && now.trainable.every((v, i) => v === compiled.trainable[i]);
      },
      run(x: Float32Array, y: Float32Array): TrainingStepResult {
        if (x.length !== inputSize) throw new Error(`compiled training step: input has ${x.length} values, expected ${inputSize}`);
        if (y.length !== batch * classes) throw new Error(`compiled training step: labels have ${y.length} values, expected ${batch * classes}`);
        for (const w of weights) {
          const t = w.variable.read();
          const values = ops.values(t);
          if (values === null) throw new Error(`compiled training step: ${w.variable.name} is not float32 data of the onednn backend`);
          w.values = values;
          if (w.filter) w.token = ops.contentToken(t);
        }
        for (const v of inputViews) vals[v] = x;
        for (const f of forward) f();
        const result = crossEntropy(probabilities, y, batch, classes, dLogits);
        for (const f of backward) f();
        for (const { layer, mean, variance } of movingAverages) {
          moveTowards(layer.movingMean, mean, layer.momentum);
          moveTowards(layer.movingVariance, variance, layer.momentum);
        }
        const gradients: tf.NamedTensorMap = {};
        order.forEach((w, i) => {
          gradients[gradNames[i]] = tf.tensor(w.gradient, gradShapes[i], 'float32');
        });
        try {
          // The model's optimizer as it is now (model.compile may have replaced it since).
          (model as unknown as { optimizer_: tf.Optimizer }).optimizer_.applyGradients(gradients);
        } finally {
          tf.dispose(Object.values(gradients));
        }
        return result;
      },
    };
  }

}

/**
 * Gives input k's gradient: `compute(dx)` writes it (null: it is dy itself). `always`: the kernel runs even when the
 * input needs no gradient (it computes the weights' too); `inPlace`: `compute` may write over dy. See
 * {@link Planner.addStep}.
 */
type Deliver = (k: number, compute: ((dx: Float32Array) => void) | null, always?: boolean, inPlace?: boolean) => void;

/** Plans a step's backward pass: see {@link Planner.addStep}. */
type BackwardPlan = (dy: Float32Array, deliver: Deliver) => (() => void) | void;

/** The BatchNormalization layer fields the step reads (tfjs-layers 4.x names). */
interface BatchNormLayer {
  momentum: number;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

/**
 * Categorical cross-entropy of softmax `probabilities` against one-hot `labels` as tfjs-layers computes it (each row
 * divided by its sum, clipped to [1e-7, 1 - 1e-7], -sum(label * log), the batch's mean), the accuracy (argmax of the
 * labels against argmax of the probabilities, the first maximum counting), and into `dLogits` the loss's gradient
 * with respect to the softmax's input, through the same steps (the clip passes no gradient outside its range). Loss
 * and accuracy are rounded to float32, as tfjs's scalars are.
 */
export function crossEntropy(probabilities: Float32Array, labels: Float32Array, rows: number, classes: number, dLogits: Float32Array): TrainingStepResult {
  let loss = 0;
  let correct = 0;
  const dq = new Float64Array(classes);
  for (let r = 0; r < rows; r++) {
    const p = probabilities.subarray(r * classes, (r + 1) * classes);
    const t = labels.subarray(r * classes, (r + 1) * classes);
    let sum = 0;
    let argP = 0;
    let argT = 0;
    for (let j = 0; j < classes; j++) {
      sum += p[j];
      if (p[j] > p[argP]) argP = j;
      if (t[j] > t[argT]) argT = j;
    }
    if (argP === argT) correct++;
    // d loss / d q, q = clip(p / sum); then through the division by the sum; then through the softmax.
    let dot = 0;
    for (let j = 0; j < classes; j++) {
      const q = p[j] / sum;
      const clipped = Math.min(Math.max(q, EPSILON), 1 - EPSILON);
      loss -= t[j] * Math.log(clipped);
      dq[j] = q >= EPSILON && q <= 1 - EPSILON ? -t[j] / clipped / rows : 0;
      dot += dq[j] * p[j];
    }
    let softDot = 0;
    const out = dLogits.subarray(r * classes, (r + 1) * classes);
    for (let j = 0; j < classes; j++) {
      const dp = dq[j] / sum - dot / (sum * sum);
      out[j] = dp; // kept for the softmax step below
      softDot += dp * p[j];
    }
    for (let j = 0; j < classes; j++) out[j] = p[j] * (out[j] - softDot);
  }
  // As float32 scalars, which is what trainOnBatch reads back.
  return { loss: Math.fround(loss / rows), acc: Math.fround(correct / rows) };
}

/** Whether compiled training steps may run: unless the environment sets RESNET_COMPILED_TRAINING=0. */
function compiledTrainingEnabled(): boolean {
  return process.env.RESNET_COMPILED_TRAINING !== '0';
}

/**
 * Trains a model batch by batch with {@link compileTrainingStep} where it applies, and with `model.trainOnBatch`
 * elsewhere (another backend, a graph or configuration it does not cover, input not float32): a drop-in for a loop
 * of `trainOnBatch` calls on a model compiled with categorical cross-entropy and the accuracy metric. Steps are
 * compiled per batch size on first use; the last {@link CompiledTrainer.KEPT_BATCH_SIZES} are kept (a run of full
 * batches and the last, smaller one). `RESNET_DEBUG` logs why a model is not compiled; `RESNET_COMPILED_TRAINING=0`
 * in the environment makes every step go through `trainOnBatch` (to compare, or to rule it out). A step reads the weights and
 * the optimizer as they are at each call, but plans the layers once: after changing the model's layers (their
 * `trainable` flags, a recompile with another loss), make a new CompiledTrainer.
 */
export class CompiledTrainer {
  private readonly steps = new Map<number, CompiledTrainingStep | string>();
  /** The arrays of the compiled steps, shared: the steps of two batch sizes hold about the larger one's memory. */
  private arena = new PlanArena();
  private warned = false;

  /** @param model a model compiled with loss 'categoricalCrossentropy' and metrics ['accuracy']. */
  constructor(readonly model: tf.LayersModel) {}

  /**
   * One training step on `xs` (images) and `ys` (one-hot labels, e.g. from `tf.oneHot`: int32 labels are cast to
   * float32), as `model.trainOnBatch(xs, ys)`; returns the loss and the accuracy on that batch, before the update.
   * Does not dispose `xs` or `ys`. A model compiled with metrics other than `['accuracy']` is an error before any
   * step.
   */
  async trainOnBatch(xs: tf.Tensor, ys: tf.Tensor): Promise<[number, number]> {
    const metrics = this.model.metricsNames as string[] | undefined;
    if (metrics === undefined) throw new Error(`CompiledTrainer: ${this.model.name} is not compiled (model.compile first)`);
    if (metrics.length !== 2 || metrics[1] !== 'acc') {
      throw new Error(
        `CompiledTrainer: ${this.model.name} is compiled with metrics ${JSON.stringify(metrics.slice(1))}; ` +
          "it returns [loss, accuracy]: compile the model with metrics: ['accuracy']",
      );
    }
    // The one-hot labels of tf.oneHot are int32; the images could be too. Both are cast as trainOnBatch would.
    const floats = [xs, ys].map((t) => (t.dtype === 'float32' ? t : tf.cast(t, 'float32')));
    try {
      return await this.step(floats[0], floats[1]);
    } finally {
      for (const [k, t] of floats.entries()) if (t !== [xs, ys][k]) t.dispose();
    }
  }

  /** {@link trainOnBatch} on float32 tensors. */
  private async step(xs: tf.Tensor, ys: tf.Tensor): Promise<[number, number]> {
    const ops = activeNativeOps();
    // Null for data another backend holds.
    const x = ops?.values(xs) ?? null;
    const y = ops?.values(ys) ?? null;
    const step = x === null || y === null ? 'the batch is not data of the onednn backend' : this.stepFor(xs.shape[0]);
    if (typeof step !== 'string') {
      const { loss, acc } = step.run(x as Float32Array, y as Float32Array);
      return [loss, acc];
    }
    if (!this.warned && debugEnabled()) {
      this.warned = true;
      console.warn(`[resnet-ts] ${this.model.name}: training through tfjs-layers' trainOnBatch, not compiled: ${step}`);
    }
    const result = (await this.model.trainOnBatch(xs, ys)) as number[];
    return [result[0], result[1]];
  }

  /** The compiled step for `batch` images (compiled now if new), or why there is none. */
  stepFor(batch: number): CompiledTrainingStep | string {
    if (!compiledTrainingEnabled()) return 'RESNET_COMPILED_TRAINING=0 in the environment';
    return recentlyUsed(this.steps, batch, CompiledTrainer.KEPT_BATCH_SIZES, (step) =>
      step === undefined || (typeof step !== 'string' && !step.current()) ? compileStep(this.model, batch, this.arena.allocator()) : step);
  }

  /**
   * Lets go of the compiled steps and their arrays (the model and its optimizer are untouched), so that their memory
   * can be collected; a later {@link trainOnBatch} compiles again.
   */
  dispose(): void {
    this.steps.clear();
    this.arena = new PlanArena();
  }

  /** How many batch sizes keep their compiled step (and its buffers) between calls. */
  static readonly KEPT_BATCH_SIZES = 2;
}
