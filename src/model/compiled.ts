/**
 * Compiled inference: a functional model's layer graph turned, once per batch size, into a list of native calls on
 * the `onednn` backend, with every geometry planned and every output buffer assigned ahead of time.
 *
 * Why: `model.predict` runs each layer through tfjs-layers (executor, input checks, name scopes) and each op through
 * tfjs's engine (kernel lookup, tensor bookkeeping, scopes). On ResNet-50 at 64x64, batch 32, that is about 6 ms of
 * JavaScript per batch between the native kernels, a tenth of the whole and serial, so it does not shrink with more
 * cores; ONNX Runtime's C++ executor spends almost nothing there. Here a batch is one loop over prepared closures,
 * each one native op planned by the backend ({@link activeNativeOps}), over Float32Arrays reused from batch to
 * batch. Those ops make exactly the native calls the backend's kernels make for the same layers, so the results are
 * the same numbers.
 *
 * It covers the layers of inference graphs this library makes ({@link foldBatchNorm}'s output): InputLayer,
 * ZeroPadding2D, Conv2D and Conv2DResidual (channels last, with a fused activation the native convolution has),
 * MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Dense (its activation fused,
 * or softmax), Activation (linear, relu, softmax) and Add of equal shapes; each layer called once, one input and
 * one output. {@link compileForInference} says why it cannot compile anything else, and callers fall back to
 * `model.predict`.
 */
import * as tf from '@tensorflow/tfjs';
import type { backend_util } from '@tensorflow/tfjs';

import { activeNativeOps, debugEnabled, heldArray, isFusedActivation, ONEDNN_BACKEND_NAME, PlanArena, type NativeOps, type NativePadding,
  type Pool2dOp, type SpatialSize } from '../backend/index.js';

const sizeOf = tf.util.sizeFromShape;

/** A model compiled for one batch size. */
export interface CompiledModel {
  /** Images per call. */
  readonly batch: number;
  /** The output's shape, batch first. */
  readonly outputShape: number[];
  /** How many native calls (and softmaxes) a batch takes: one per layer, less those that are only views or folded. */
  readonly calls: number;
  /**
   * Runs the model on `input` (batch x the model's input shape, float32, NHWC) and returns its output as a view of an
   * internal buffer that the next call overwrites: copy what you keep.
   */
  run(input: Float32Array): Float32Array;
  /** Whether every weight still holds the data it had when compiled (false after `setWeights` or disposal). */
  current(): boolean;
}

/** One step of a compiled model: its inputs and output by value index, and the native call. */
interface Step {
  inputs: number[];
  output: number;
  /** null: the output is the (only) input, seen with another shape (Flatten). */
  run: ((inputs: Float32Array[], output: Float32Array) => void) | null;
}

/** Softmax over the last axis of `rows` rows of `n` values, in place (as tfjs: exp(x - max) / sum). */
export function softmaxRows(values: Float32Array, rows: number, n: number): void {
  for (let r = 0; r < rows; r++) {
    const row = values.subarray(r * n, (r + 1) * n);
    let max = -Infinity;
    for (let j = 0; j < n; j++) if (row[j] > max) max = row[j];
    let sum = 0;
    for (let j = 0; j < n; j++) {
      row[j] = Math.exp(row[j] - max);
      sum += row[j];
    }
    for (let j = 0; j < n; j++) row[j] /= sum;
  }
}

/**
 * The native pooling of a tfjs-layers pooling layer (`cls`: MaxPooling2D, AveragePooling2D, GlobalMaxPooling2D or
 * GlobalAveragePooling2D, channels last) over an input of shape `x`, and the layer's output shape (a global pooling's
 * is [batch, channels]), or why it cannot be run.
 */
export function planPoolingLayer(ops: NativeOps, cls: string, config: tf.serialization.ConfigDict, x: number[]): { pool: Pool2dOp; outShape: number[] } | string {
  const global = cls.startsWith('Global');
  const kind = cls.includes('Max') ? 'max' : 'avg';
  const pool = ops.pool2d(global
    ? { xShape: x, kind, filterSize: [x[1], x[2]], strides: [x[1], x[2]], pad: 'valid' }
    : { xShape: x, kind, filterSize: config.poolSize as SpatialSize, strides: (config.strides ?? config.poolSize) as SpatialSize, pad: config.padding as 'same' | 'valid' });
  if (typeof pool === 'string') return pool;
  return { pool, outShape: global ? [x[0], x[3]] : pool.outShape };
}

/**
 * The active backend's native ops for an executor of `model` over batches of `batch`, or why there can be none: the
 * backend is not onednn, the model has other than one input and one output, the batch is no positive whole number.
 */
export function executorOps(model: tf.LayersModel, batch: number): NativeOps | string {
  const ops = activeNativeOps();
  if (ops === null) return `backend ${tf.getBackend()} is not ${ONEDNN_BACKEND_NAME}`;
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return 'not one input and one output';
  if (!Number.isInteger(batch) || batch < 1) return `batch ${batch} is not a positive whole number`;
  return ops;
}

/** A layer's one call in a graph: its node, its inputs as value numbers, and its config. */
export interface LayerNode {
  node: tf.layers.Layer['inboundNodes'][number];
  inputs: number[];
  config: tf.serialization.ConfigDict;
}

/**
 * The one call of `layer` in the graph being compiled, with its inputs as the value numbers `valueOf` gives their
 * tensors (by tfjs tensor id), or why an executor cannot run it: called several times, several outputs, an input not
 * computed before it, data not channels-last.
 */
export function layerNode(layer: tf.layers.Layer, valueOf: ReadonlyMap<number, number>): LayerNode | string {
  if (layer.inboundNodes.length !== 1) return `${layer.name} is called ${layer.inboundNodes.length} times`;
  const node = layer.inboundNodes[0];
  if (node.outputTensors.length !== 1) return `${layer.name} has several outputs`;
  const inputs: number[] = [];
  for (const t of node.inputTensors) {
    const v = valueOf.get(t.id);
    if (v === undefined) return `${layer.name} reads a tensor computed later or elsewhere`;
    inputs.push(v);
  }
  const config = layer.getConfig();
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') return `${layer.name} is not channels-last`;
  return { node, inputs, config };
}

/**
 * Compiles `model` for batches of `batch` images on the onednn backend: its layer graph becomes, once, a list of
 * native calls with every geometry planned and every output buffer assigned ahead of time, which runs a batch with
 * the same numbers as `model.predict` without tfjs's per-layer and per-op overhead. Returns why it cannot instead (a
 * one-line reason): not on onednn, non-float32 weights, or a layer or configuration it does not cover. It covers the
 * layers of inference graphs that {@link foldBatchNorm} makes: InputLayer, ZeroPadding2D, Conv2D and Conv2DResidual
 * (channels last, with a fused activation the native convolution has), MaxPooling2D, AveragePooling2D,
 * GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Dense (its activation fused, or softmax), Activation (linear,
 * relu, softmax) and Add of equal shapes; each layer called once, one input and one output. The model's weights are
 * read when it runs: after `setWeights` or disposal, `current()` says false and it must be compiled again
 * ({@link InferenceModel} does that itself).
 */
export function compileForInference(model: tf.LayersModel, batch: number): CompiledModel | string {
  return compileInference(model, batch, heldArray);
}

/** {@link compileForInference} with the plan's buffers from `alloc` (see {@link PlanArena}). */
function compileInference(model: tf.LayersModel, batch: number, alloc: (size: number) => Float32Array): CompiledModel | string {
  const ops = executorOps(model, batch);
  if (typeof ops === 'string') return ops;

  const inputShape = model.inputs[0].shape.slice(1);
  if (inputShape.some((d) => d == null)) return 'the input shape is not fully known';
  // Values are numbered: 0 is the input; each step's output takes the next number.
  const valueOf = new Map<number, number>([[model.inputs[0].id, 0]]);
  const shapes: number[][] = [[batch, ...(inputShape as number[])]];
  const aliasOf: number[] = [0]; // the value whose buffer each value uses
  const steps: Step[] = [];
  const weightIds: { variable: tf.LayerVariable; dataId: object }[] = [];
  // How many layer inputs read each tensor (a model output counts as one more), and each ZeroPadding2D's input and
  // paddings by output value: a 'valid' convolution that alone reads a zero padding takes the padding itself (the
  // native convolution pads as it reads, as ONNX Runtime's does), and the padded copy is never made.
  const readers = new Map<number, number>([[model.outputs[0].id, 1]]);
  for (const layer of model.layers) {
    for (const node of layer.inboundNodes) for (const t of node.inputTensors) readers.set(t.id, (readers.get(t.id) ?? 0) + 1);
  }
  const zeroPadding = new Map<number, { source: number; paddings: [number, number][] }>();

  const weightData = (layer: tf.layers.Layer, index: number): Float32Array | string => {
    const variable = layer.weights[index];
    if (variable === undefined) return `${layer.name} has no weight ${index}`;
    const tensor = variable.read();
    weightIds.push({ variable, dataId: tensor.dataId });
    const data = ops.values(tensor);
    return data ?? `${layer.name}'s ${variable.name} is not float32`;
  };

  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer') continue;
    const planned = layerNode(layer, valueOf);
    if (typeof planned === 'string') return planned;
    const { node, inputs, config } = planned;
    const x = shapes[inputs[0]];
    let outShape: number[];
    let run: Step['run'];

    switch (cls) {
      case 'ZeroPadding2D': {
        const [[top, bottom], [left, right]] = config.padding as [[number, number], [number, number]];
        const paddings: [number, number][] = [[0, 0], [top, bottom], [left, right], [0, 0]];
        const pad = ops.pad(x, paddings);
        if (typeof pad === 'string') return `${layer.name}: ${pad}`;
        outShape = pad.outShape;
        run = ([a], out) => pad.run(a, out);
        if (readers.get(node.outputTensors[0].id) === 1) zeroPadding.set(shapes.length, { source: inputs[0], paddings });
        break;
      }
      case 'Conv2D':
      case 'Conv2DResidual': {
        if (cls === 'Conv2D' && Number(config.groups ?? 1) !== 1) return `${layer.name} is a grouped convolution`;
        const activation = String(config.activation ?? 'linear');
        if (!isFusedActivation(activation)) return `${layer.name}'s activation ${activation}`;
        const kernel = weightData(layer, 0);
        if (typeof kernel === 'string') return kernel;
        const useBias = config.useBias !== false;
        const bias = useBias ? weightData(layer, 1) : null;
        if (typeof bias === 'string') return bias;
        let pad: NativePadding = config.padding as 'same' | 'valid';
        let convInput = x;
        const padded = pad === 'valid' ? zeroPadding.get(inputs[0]) : undefined;
        if (padded !== undefined) {
          // Read the padding's input instead, padding as the convolution reads; drop the padding's own step.
          pad = padded.paddings as backend_util.ExplicitPadding;
          convInput = shapes[padded.source];
          steps.splice(steps.findIndex((st) => st.output === inputs[0]), 1);
          inputs[0] = padded.source;
        }
        const conv = ops.conv2d({
          xShape: convInput,
          filterShape: layer.weights[0].shape as number[],
          filter: kernel,
          filterToken: ops.contentToken(layer.weights[0].read()),
          bias,
          strides: config.strides as SpatialSize,
          pad,
          dilations: config.dilationRate as SpatialSize,
          activation,
        });
        if (typeof conv === 'string') return `${layer.name}: ${conv}`;
        outShape = conv.outShape;
        if (cls === 'Conv2D') {
          run = ([a], out) => conv.run(a, out);
        } else {
          if (inputs.length !== 2 || !tf.util.arraysEqual(shapes[inputs[1]], outShape)) return `${layer.name}'s residual shape`;
          run = ([a, residual], out) => conv.run(a, out, residual);
        }
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D':
      case 'GlobalMaxPooling2D':
      case 'GlobalAveragePooling2D': {
        const pooling = planPoolingLayer(ops, cls, config, x);
        if (typeof pooling === 'string') return `${layer.name}: ${pooling}`;
        const { pool } = pooling;
        outShape = pooling.outShape;
        run = ([a], out) => pool.run(a, out);
        break;
      }
      case 'Flatten':
        outShape = [x[0], sizeOf(x.slice(1))];
        run = null;
        break;
      case 'Dense': {
        if (x.length !== 2) return `${layer.name} on a rank-${x.length} input`;
        const activation = String(config.activation ?? 'linear');
        const fused = activation === 'softmax' ? 'linear' : activation;
        if (!isFusedActivation(fused)) return `${layer.name}'s activation ${activation}`;
        const kernel = weightData(layer, 0);
        if (typeof kernel === 'string') return kernel;
        const bias = config.useBias !== false ? weightData(layer, 1) : null;
        if (typeof bias === 'string') return bias;
        const [k, n] = layer.weights[0].shape as number[];
        if (k !== x[1]) return `${layer.name}'s kernel does not fit its input`;
        const matMul = ops.matMul({ aShape: [x[0], k], bShape: [k, n], b: kernel, bias, activation: fused });
        if (typeof matMul === 'string') return `${layer.name}: ${matMul}`;
        outShape = matMul.outShape;
        run = ([a], out) => {
          matMul.run(a, out);
          if (activation === 'softmax') softmaxRows(out, x[0], n);
        };
        break;
      }
      case 'Activation': {
        const activation = String(config.activation);
        outShape = x;
        if (activation === 'linear') run = ([a], out) => out.set(a);
        else if (activation === 'relu') {
          const relu = ops.unary('relu', x);
          run = ([a], out) => relu.run(a, out);
        }
        else if (activation === 'softmax') {
          const n = x[x.length - 1];
          run = ([a], out) => {
            out.set(a);
            softmaxRows(out, a.length / n, n);
          };
        } else return `${layer.name}'s activation ${activation}`;
        break;
      }
      case 'Add': {
        if (inputs.some((v) => !tf.util.arraysEqual(shapes[v], x))) return `${layer.name} adds different shapes`;
        outShape = x;
        const add = ops.binary('add', x, x);
        if (typeof add === 'string') return `${layer.name}: ${add}`;
        run = (ins, out) => {
          add.run(ins[0], ins[1], out);
          for (let i = 2; i < ins.length; i++) add.run(out, ins[i], out);
        };
        break;
      }
      default:
        return `layer ${layer.name} (${cls}) is not covered`;
    }
    const output = shapes.length;
    valueOf.set(node.outputTensors[0].id, output);
    shapes.push(outShape);
    aliasOf.push(run === null ? aliasOf[inputs[0]] : output);
    steps.push({ inputs, output, run });
  }
  const result = valueOf.get(model.outputs[0].id);
  if (result === undefined) return 'the output is not computed by the layers';

  // Buffers: each value's buffer is free after the last step that reads it (or an alias of it); a freed buffer is
  // reused by the next output of the same size, so a batch touches few, recently used arrays.
  const lastUse = new Array<number>(shapes.length).fill(-1);
  steps.forEach((s, i) => s.inputs.forEach((v) => (lastUse[aliasOf[v]] = Math.max(lastUse[aliasOf[v]], i))));
  lastUse[aliasOf[result]] = Infinity;
  const buffers: (Float32Array | null)[] = new Array<Float32Array | null>(shapes.length).fill(null);
  const free = new Map<number, Float32Array[]>();
  steps.forEach((s, i) => {
    if (s.run !== null) {
      const size = sizeOf(shapes[s.output]);
      buffers[s.output] = free.get(size)?.pop() ?? alloc(size);
    }
    for (const v of new Set(s.inputs.map((u) => aliasOf[u]))) {
      const buffer = buffers[v];
      if (lastUse[v] === i && v !== 0 && buffer !== null) free.set(buffer.length, [...(free.get(buffer.length) ?? []), buffer]);
    }
  });
  const inputSize = sizeOf(shapes[0]);
  const views: Float32Array[] = new Array<Float32Array>(shapes.length);

  return {
    batch,
    outputShape: shapes[result],
    calls: steps.filter((st) => st.run !== null).length,
    run(input: Float32Array): Float32Array {
      if (input.length !== inputSize) throw new Error(`compiled model: input has ${input.length} values, expected ${inputSize}`);
      views[0] = input;
      for (const s of steps) {
        const ins = s.inputs.map((v) => views[v]);
        if (s.run === null) {
          views[s.output] = ins[0];
          continue;
        }
        const out = buffers[s.output] as Float32Array;
        s.run(ins, out);
        views[s.output] = out;
      }
      return views[result];
    },
    current(): boolean {
      try {
        return weightIds.every(({ variable, dataId }) => variable.read().dataId === dataId);
      } catch {
        return false; // a disposed weight
      }
    },
  };
}

/**
 * The entry of `map` for `key` as `get(existing)` gives it (it may return the existing entry, or make one), now the
 * most recently used; only the `keep` most recently used entries stay (a Map keeps its insertion order). For plans
 * compiled per batch size: a run of full batches and the last, smaller one.
 */
export function recentlyUsed<K, V>(map: Map<K, V>, key: K, keep: number, get: (existing: V | undefined) => V): V {
  const value = get(map.get(key));
  map.delete(key);
  map.set(key, value);
  for (const old of map.keys()) {
    if (map.size <= keep) break;
    map.delete(old);
  }
  return value;
}

/**
 * The model {@link foldBatchNorm} returns: a standard `tf.LayersModel` (it saves, loads and summarizes as one, with
 * class name `Model`) whose `predict` and `predictOnBatch` run {@link compileForInference}'s executor on the onednn
 * backend, compiling each batch size on first use and again whenever a weight has changed, and tfjs's own executor
 * anywhere else: another backend, several inputs, a graph the executor does not cover, an input whose shape does
 * not fit (tfjs then reports it). The environment variable `RESNET_DEBUG` (set, not `0`) logs why a model is not
 * compiled.
 */
export class InferenceModel extends tf.LayersModel {
  private readonly compiled = new Map<number, CompiledModel | string>();
  /** The buffers of the compiled batch sizes, shared (they never run at once, and each run's output is copied out). */
  private readonly arena = new PlanArena();

  override predict(x: tf.Tensor | tf.Tensor[], args: Parameters<tf.LayersModel['predict']>[1] = {}): tf.Tensor | tf.Tensor[] {
    return this.predictCompiled(x, args?.batchSize ?? 32) ?? super.predict(x, args);
  }

  override predictOnBatch(x: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    return this.predictCompiled(x, Infinity) ?? super.predictOnBatch(x);
  }

  override dispose(): ReturnType<tf.LayersModel['dispose']> {
    this.compiled.clear();
    return super.dispose();
  }

  /** The output of the compiled executor over `x` in batches of `batchSize`, or undefined where it does not apply. */
  private predictCompiled(x: tf.Tensor | tf.Tensor[], batchSize: number): tf.Tensor | undefined {
    const ops = activeNativeOps();
    if (Array.isArray(x) || !(x instanceof tf.Tensor) || ops === null) return undefined;
    const expected = this.inputs[0].shape;
    if (x.rank !== expected.length || x.shape[0] === 0 || x.shape.some((d, i) => i > 0 && expected[i] !== d)) return undefined;
    const data = ops.values(x); // null for another dtype, or data made on another backend: tfjs converts or moves it
    if (data === null) return undefined;
    if (batchSize !== Infinity && !(Number.isInteger(batchSize) && batchSize > 0)) return undefined; // tfjs says why
    const n = x.shape[0];
    const per = Math.min(batchSize, n);
    const rowSize = data.length / n;
    let out: Float32Array | undefined;
    let outShape: number[] = [];
    for (let start = 0; start < n; start += per) {
      const rows = Math.min(per, n - start);
      const plan = this.compiledFor(rows);
      if (typeof plan === 'string') {
        if (debugEnabled()) console.warn(`[resnet-ts] ${this.name}: predicting through tfjs-layers, not compiled: ${plan}`);
        return undefined;
      }
      const y = plan.run(data.subarray(start * rowSize, (start + rows) * rowSize));
      if (out === undefined) {
        outShape = [n, ...plan.outputShape.slice(1)];
        out = new Float32Array(sizeOf(outShape));
      }
      out.set(y, start * (y.length / rows));
    }
    return tf.tensor(out as Float32Array, outShape, 'float32');
  }

  /**
   * The compiled model for `batch` images (compiled now if new or if a weight changed), or why there is none. Only
   * the last {@link InferenceModel.KEPT_BATCH_SIZES} batch sizes are kept (a run of full batches and the last, smaller
   * one), and they share one set of buffers.
   */
  private compiledFor(batch: number): CompiledModel | string {
    return recentlyUsed(this.compiled, batch, InferenceModel.KEPT_BATCH_SIZES, (plan) =>
      plan === undefined || (typeof plan !== 'string' && !plan.current()) ? compileInference(this, batch, this.arena.allocator()) : plan);
  }

  /** How many batch sizes keep their compiled model (and its buffers) between calls. */
  static readonly KEPT_BATCH_SIZES = 2;
}
