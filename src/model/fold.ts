/**
 * Inference-time graph optimisation of a functional model, as TensorFlow's `optimize_for_inference` and ONNX
 * Runtime do it:
 *
 * 1. **BatchNorm folding.** In inference mode a BatchNormalization layer is an affine map per channel,
 *    `y = (x - mu) * gamma / sqrt(var + eps) + beta`. When it directly follows a Conv2D (and nothing else reads the
 *    convolution's output), the map is folded into the convolution: with `scale = gamma / sqrt(var + eps)`,
 *    `kernel'[..., o] = kernel[..., o] * scale[o]` and `bias' = (bias - mu) * scale + beta` (bias 0 when the
 *    convolution had none). The BatchNormalization layer disappears.
 * 2. **ReLU fusion.** A Conv2D with a linear activation whose output only feeds an `Activation('relu')` (or a `ReLU`
 *    layer without a maximum) takes `activation: 'relu'` itself, and the activation layer disappears. tfjs then runs
 *    one fused conv + bias + relu kernel (native on the `onednn` backend) instead of three passes over the activations.
 * 3. **Residual fusion.** Where a residual block ends in "linear Conv2D, Add(shortcut), ReLU", the three layers
 *    become one {@link Conv2DResidual} layer called on `[convInput, shortcut]`: relu(conv(x) + bias + shortcut), one
 *    native kernel on the `onednn` backend (TensorFlow's `_FusedConv2D` with `BiasAdd, Add, Relu`). It is this
 *    library's layer, so `{ residuals: false }` leaves it out for a model of standard tfjs layers only.
 *
 * The result is a new model for inference only: with its BatchNorms gone it must not be trained. It is an
 * {@link InferenceModel}: on the onednn backend its `predict` runs a compiled executor (`compiled.ts`) instead of
 * tfjs-layers' own, the same numbers without tfjs's per-layer overhead.
 */
import * as tf from '@tensorflow/tfjs';

import { InferenceModel } from './compiled.js';
import { Conv2DResidual } from './conv_residual.js';

/** One input of a node in a functional config: `[layerName, nodeIndex, tensorIndex, kwargs?]`. */
type NodeInput = [string, number, number, Record<string, unknown>?];

/** One layer of a functional config, as `LayersModel.getConfig()` writes it (TypeScript keys). */
interface LayerEntry {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** One entry per call of the layer inside the model; each lists the call's inputs. */
  inboundNodes: NodeInput[][];
}

/** A functional model's config, as `LayersModel.getConfig()` writes it. */
interface FunctionalConfig {
  name: string;
  layers: LayerEntry[];
  inputLayers: [string, number, number][];
  outputLayers: [string, number, number][];
}

/** What {@link foldBatchNorm} did to a model. */
export interface FoldSummary {
  /** Each folded BatchNormalization layer and the convolution it was folded into, in model order. */
  foldedBatchNorms: { batchNorm: string; conv: string }[];
  /** Each dropped ReLU activation layer and the convolution that now applies the ReLU itself, in model order. */
  fusedActivations: { activation: string; conv: string }[];
  /**
   * Each dropped Add layer (and the ReLU after it, if any) and the convolution, now a {@link Conv2DResidual}, that
   * adds the Add's other input itself, in model order.
   */
  fusedResiduals: { add: string; activation?: string; conv: string }[];
}

/** The summaries of the models made by {@link foldBatchNorm}; a weak map keeps no model alive. */
const summaries = new WeakMap<tf.LayersModel, FoldSummary>();

/**
 * What {@link foldBatchNorm} folded and fused to make `model`, or undefined if `model` was not made by it (in this
 * process: the summary is not saved with the model).
 */
export function foldSummary(model: tf.LayersModel): FoldSummary | undefined {
  return summaries.get(model);
}

/** Where a layer's output is read: the layers (with their node counts) reading it, and whether it is a model output. */
interface Readers {
  layers: string[];
  isOutput: boolean;
}

/** Who reads the output of each `(layer, node)` of the config, keyed `name#node`. */
function readersOf(config: FunctionalConfig): Map<string, Readers> {
  const readers = new Map<string, Readers>();
  const entry = (name: string, node: number): Readers => {
    const key = `${name}#${node}`;
    let r = readers.get(key);
    if (r === undefined) readers.set(key, (r = { layers: [], isOutput: false }));
    return r;
  };
  for (const layer of config.layers) {
    for (const node of layer.inboundNodes) for (const [name, index] of node) entry(name, index).layers.push(layer.name);
  }
  for (const [name, index] of config.outputLayers) entry(name, index).isOutput = true;
  return readers;
}

/**
 * The layer entry that alone reads the output of `producer` (a layer called once in the model), or undefined when the
 * output is read by several layers, several times, or is a model output.
 */
function soleReader(config: FunctionalConfig, readers: Map<string, Readers>, producer: LayerEntry): LayerEntry | undefined {
  if (producer.inboundNodes.length !== 1) return undefined;
  const r = readers.get(`${producer.name}#0`);
  if (r === undefined || r.isOutput || r.layers.length !== 1) return undefined;
  const reader = config.layers.find((l) => l.name === r.layers[0]);
  // The reader must be called once, on this one input (a layer such as Add reads several).
  if (reader === undefined || reader.inboundNodes.length !== 1 || reader.inboundNodes[0].length !== 1) return undefined;
  return reader;
}

/** A layer output: `[layerName, nodeIndex, tensorIndex]`. */
type OutputRef = [string, number, number];

/** Removes layer `removed` (called once) and makes everything that read its output read `by` instead. */
function replaceReaders(config: FunctionalConfig, removed: LayerEntry, by: OutputRef): void {
  config.layers = config.layers.filter((l) => l !== removed);
  for (const layer of config.layers) {
    for (const node of layer.inboundNodes) {
      node.forEach((input, i) => {
        if (input[0] === removed.name) node[i] = [...by, ...input.slice(3)] as NodeInput;
      });
    }
  }
  config.outputLayers = config.outputLayers.map((o) => (o[0] === removed.name ? [...by] : o));
}

/** Removes layer `removed` (called once, on one input) and makes everything that read its output read its input. */
function bypass(config: FunctionalConfig, removed: LayerEntry): void {
  const [source, sourceNode, sourceTensor] = removed.inboundNodes[0][0];
  replaceReaders(config, removed, [source, sourceNode, sourceTensor]);
}

/**
 * The input of the two-input Add `add` that a linear, once-called, channels-last Conv2D produces and that nothing but
 * `add` reads, as its index in the Add's inputs with the convolution's entry; undefined if there is none.
 */
function residualConv(
  config: FunctionalConfig,
  readers: Map<string, Readers>,
  add: LayerEntry,
): { index: number; conv: LayerEntry } | undefined {
  if (add.inboundNodes.length !== 1 || add.inboundNodes[0].length !== 2) return undefined;
  for (const [index, [name, node]] of add.inboundNodes[0].entries()) {
    const conv = config.layers.find((l) => l.name === name);
    if (conv === undefined || conv.className !== 'Conv2D' || !isLinear(conv) || convChannelAxis(conv) !== 3) continue;
    const r = readers.get(`${name}#${node}`);
    if (conv.inboundNodes.length !== 1 || r === undefined || r.isOutput || r.layers.length !== 1) continue;
    return { index, conv };
  }
  return undefined;
}

/** Whether a Conv2D config applies no activation. */
function isLinear(conv: LayerEntry): boolean {
  const a = conv.config.activation;
  return a === undefined || a === null || a === 'linear';
}

/** The channel axis (non-negative, of a rank-4 tensor) of a Conv2D config's output. */
function convChannelAxis(conv: LayerEntry): number {
  return conv.config.dataFormat === 'channelsFirst' ? 1 : 3;
}

/** Whether a layer entry is a plain ReLU: `Activation('relu')`, or a `ReLU` layer without a maximum. */
function isRelu(layer: LayerEntry): boolean {
  if (layer.className === 'Activation') return layer.config.activation === 'relu';
  if (layer.className === 'ReLU') return layer.config.maxValue === undefined || layer.config.maxValue === null;
  return false;
}

/** A layer's weights by their short names (`gamma`, `moving_mean`, `kernel`…), read as Float64Arrays. */
function weightsByName(layer: tf.layers.Layer): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const w of layer.weights) {
    const short = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
    out.set(short, Float64Array.from(w.read().dataSync()));
  }
  return out;
}

/**
 * The folded kernel and bias of `conv` followed by the BatchNormalization `bn`, computed in float64 and rounded to
 * float32 once. The kernel's last axis is the output channel (tfjs's `[kh, kw, in, out]`).
 */
function foldedWeights(conv: tf.layers.Layer, bn: tf.layers.Layer, epsilon: number): { kernel: Float32Array; bias: Float32Array } {
  const c = weightsByName(conv);
  const b = weightsByName(bn);
  const kernel = c.get('kernel');
  const mean = b.get('moving_mean');
  const variance = b.get('moving_variance');
  if (kernel === undefined || mean === undefined || variance === undefined) {
    throw new Error(`foldBatchNorm: cannot read the weights of ${conv.name} and ${bn.name}`);
  }
  const channels = mean.length;
  const gamma = b.get('gamma'); // absent with scale: false (gamma = 1)
  const beta = b.get('beta'); // absent with center: false (beta = 0)
  const bias = c.get('bias'); // absent with useBias: false (bias = 0)
  const scale = new Float64Array(channels);
  const newBias = new Float32Array(channels);
  for (let o = 0; o < channels; o++) {
    scale[o] = (gamma === undefined ? 1 : gamma[o]) / Math.sqrt(variance[o] + epsilon);
    newBias[o] = ((bias === undefined ? 0 : bias[o]) - mean[o]) * scale[o] + (beta === undefined ? 0 : beta[o]);
  }
  const newKernel = new Float32Array(kernel.length);
  for (let i = 0; i < kernel.length; i++) newKernel[i] = kernel[i] * scale[i % channels];
  return { kernel: newKernel, bias: newBias };
}

/** Options of {@link foldBatchNorm}. */
export interface FoldOptions {
  /**
   * Fuse residual additions (a linear Conv2D's output + a shortcut, then a ReLU) into {@link Conv2DResidual} layers
   * (default true). That layer is this library's: a model saved with it loads where this library is imported (it
   * registers the class). Pass false for a model made of standard tfjs layers only, to save and load anywhere.
   */
  residuals?: boolean;
}

/**
 * Returns a new inference-only functional model with the same inputs, outputs and predictions (in inference mode) as
 * `model`, with every BatchNormalization that directly follows a Conv2D folded into the convolution's kernel and bias,
 * every ReLU activation layer that alone follows a linear Conv2D fused into the convolution, and (unless
 * `options.residuals` is false) every residual Add of a convolution's output, with the ReLU after it, fused into a
 * {@link Conv2DResidual}.
 *
 * - A BatchNormalization is folded when its one input is a Conv2D with a linear activation, called once in the model,
 *   whose output nothing else reads, and when it normalizes the convolution's channel axis. The folded convolution
 *   always has a bias. Any other BatchNormalization (after a Dense layer, on the input, after an Add) is kept.
 * - Every other layer is kept with its config and weights. Layers keep their names (`res2a_branch2a`), so the model
 *   stays readable in summaries and plots; the model keeps its name and its user-defined metadata. Use
 *   {@link foldSummary} on the result to see what was folded.
 * - The new weights are computed in float64 from `model`'s and rounded to float32 once. `model` is left unchanged;
 *   the new model shares the data of the weights it copies unchanged (tfjs counts references) and owns the rest:
 *   dispose it on its own when done.
 *
 * The result must not be trained: its BatchNorm layers, and with them the batch statistics of training, are gone.
 *
 * The returned model is an {@link InferenceModel} (a `tf.LayersModel` whose `predict` is compiled on onednn).
 *
 * @param model a functional `tf.LayersModel` (a `tf.Sequential` is read as its functional graph)
 * @param options see {@link FoldOptions}
 */
export function foldBatchNorm(model: tf.LayersModel, options: FoldOptions = {}): InferenceModel {
  const source = model instanceof tf.Sequential ? tf.model({ inputs: model.inputs, outputs: model.outputs, name: model.name }) : model;
  const raw = source.getConfig() as unknown as FunctionalConfig;
  if (!Array.isArray(raw.layers) || !Array.isArray(raw.outputLayers)) {
    throw new Error(`foldBatchNorm: model ${model.name} has no functional config`);
  }
  // A deep copy: getConfig may hand out arrays the layers still use.
  const config = JSON.parse(JSON.stringify(raw)) as FunctionalConfig;
  const summary: FoldSummary = { foldedBatchNorms: [], fusedActivations: [], fusedResiduals: [] };
  /** The BatchNormalization folded into each convolution, by the convolution's name. */
  const foldedInto = new Map<string, tf.layers.Layer>();

  // 1. Fold each BatchNormalization that alone reads a linear, once-called Conv2D over its channel axis.
  let readers = readersOf(config);
  for (const conv of [...config.layers]) {
    if (conv.className !== 'Conv2D' || !isLinear(conv)) continue;
    const bn = soleReader(config, readers, conv);
    if (bn === undefined || bn.className !== 'BatchNormalization') continue;
    const axis = Number(bn.config.axis ?? -1);
    if ((axis < 0 ? axis + 4 : axis) !== convChannelAxis(conv)) continue;
    foldedInto.set(conv.name, source.getLayer(bn.name));
    conv.config.useBias = true;
    bypass(config, bn);
    summary.foldedBatchNorms.push({ batchNorm: bn.name, conv: conv.name });
  }

  // 2. Fuse each ReLU activation layer that alone reads a linear, once-called Conv2D (folded or not).
  readers = readersOf(config);
  for (const conv of [...config.layers]) {
    if (conv.className !== 'Conv2D' || !isLinear(conv)) continue;
    const act = soleReader(config, readers, conv);
    if (act === undefined || !isRelu(act)) continue;
    conv.config.activation = 'relu';
    bypass(config, act);
    summary.fusedActivations.push({ activation: act.name, conv: conv.name });
  }

  // 3. Fuse each residual Add of a convolution's output (and the ReLU that alone reads the sum) into the convolution.
  readers = readersOf(config);
  for (const add of options.residuals === false ? [] : [...config.layers]) {
    if (add.className !== 'Add') continue;
    const found = residualConv(config, readers, add);
    if (found === undefined) continue;
    const { index, conv } = found;
    const after = soleReader(config, readers, add);
    const relu = after !== undefined && isRelu(after) ? after : undefined;
    const c = conv.config;
    conv.className = Conv2DResidual.className;
    conv.config = {
      name: c.name,
      trainable: c.trainable,
      filters: c.filters,
      kernelSize: c.kernelSize,
      strides: c.strides,
      padding: c.padding,
      dilationRate: c.dilationRate,
      useBias: c.useBias,
      activation: relu === undefined ? 'linear' : 'relu',
    };
    conv.inboundNodes = [[conv.inboundNodes[0][0], add.inboundNodes[0][1 - index]]];
    replaceReaders(config, add, [conv.name, 0, 0]);
    if (relu !== undefined) replaceReaders(config, relu, [conv.name, 0, 0]);
    summary.fusedResiduals.push({ add: add.name, ...(relu === undefined ? {} : { activation: relu.name }), conv: conv.name });
    readers = readersOf(config);
  }

  // 4. Build the new graph (fast weight init: every weight is overwritten below), then set its weights.
  const folded = tf.LayersModel.fromConfig(
    InferenceModel as unknown as tf.serialization.SerializableConstructor<tf.LayersModel>,
    config as unknown as tf.serialization.ConfigDict,
    {},
    true,
  ) as InferenceModel;
  try {
    for (const layer of folded.layers) {
      if (layer.weights.length === 0) continue;
      const original = source.getLayer(layer.name);
      const bn = foldedInto.get(layer.name);
      if (bn === undefined) {
        layer.setWeights(original.getWeights()); // shares the tensors' data; the original keeps its own
        continue;
      }
      const epsilon = Number((bn.getConfig().epsilon as number | undefined) ?? 1e-3);
      const { kernel, bias } = foldedWeights(original, bn, epsilon);
      const [kernelShape, biasShape] = [layer.weights[0].shape as number[], layer.weights[1].shape as number[]];
      const tensors = [tf.tensor(kernel, kernelShape, 'float32'), tf.tensor(bias, biasShape, 'float32')];
      try {
        layer.setWeights(tensors);
      } finally {
        tf.dispose(tensors);
      }
    }
  } catch (err) {
    folded.dispose();
    throw err;
  }
  const metadata = model.getUserDefinedMetadata();
  if (metadata !== undefined) folded.setUserDefinedMetadata(structuredClone(metadata));
  summaries.set(folded, summary);
  return folded;
}
