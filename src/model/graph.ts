/**
 * A plain description of a functional model's layer graph, shared by the summary and the plot: each layer's name,
 * class, output shape, parameter count, the layers it receives inputs from, and the residual block it belongs to.
 */
import * as tf from '@tensorflow/tfjs';

/** The part of a ResNet that a layer belongs to, as read from the spec's layer names. */
export interface BlockGroup {
  /** A key unique to the group, usable as a Graphviz identifier: `stage1`, `stage2_a`, `stage4_b22`. */
  key: string;
  /** Stage number (1 is the stem: `conv1`, `bn_conv1`, its ReLU and the max pooling). */
  stage: number;
  /** Block name within the stage (`'a'`, `'b'`, `'b1'`…); undefined for stage 1. */
  block?: string;
  /** `'convolutional'` when the block has a `branch1` shortcut convolution, else `'identity'`; undefined for stage 1. */
  kind?: 'convolutional' | 'identity';
  /** A readable label: `stage 1`, `stage 2 block a (convolutional)`. */
  label: string;
}

/** One layer of a model, as the summary and the plot show it. */
export interface LayerInfo {
  /** The layer's name. */
  name: string;
  /** The layer's class, e.g. `Conv2D`. */
  className: string;
  /** Output shape, with `null` for the batch dimension (the first output's shape for multi-output layers). */
  outputShape: (number | null)[];
  /** Number of parameters (weights) of the layer. */
  params: number;
  /** Inputs, in Keras notation `layerName[nodeIndex][tensorIndex]`. */
  connectedTo: string[];
  /** Names of the layers the inputs come from, in order. */
  inboundLayers: string[];
  /** The residual block (or stage 1) the layer belongs to; undefined outside them (input, padding, top). */
  group?: BlockGroup;
}

/** Matches the spec's block layer names: `res2a_branch2b`, `bn4b22_branch1`. */
const BLOCK_LAYER = /^(?:res|bn)(\d+)([a-z][0-9]*)_branch(?:2[a-c]|1)$/;

/** The classes of the spec's unnamed layers inside stage 1 and the blocks. */
const INHERITING_CLASSES = new Set(['Activation', 'ReLU', 'Add', 'MaxPooling2D']);

function firstShape(layer: tf.layers.Layer): (number | null)[] {
  const shape = layer.outputShape as (number | null)[] | (number | null)[][];
  return Array.isArray(shape[0]) ? (shape[0] as (number | null)[]) : (shape as (number | null)[]);
}

/**
 * Describes every layer of a functional model in the model's order. Only the nodes that belong to this model count
 * as connections (a layer shared with another model keeps its other uses out).
 *
 * Layers are grouped by their names (`conv1`/`bn_conv1` for stage 1, `res{stage}{block}_branch…` and
 * `bn{stage}{block}_branch…` for the blocks). An unnamed layer of stage 1 or a block (an Activation, the shortcut's Add,
 * the max pooling) joins the group of its first input, which in the spec's blocks is the main path. The top
 * (`avg_pool`, Flatten, `fc…`), the input and the zero padding belong to no group.
 */
export function describeLayers(model: tf.LayersModel): LayerInfo[] {
  const modelNodes = new Set(Object.values(model.nodesByDepth).flat());
  const infos: LayerInfo[] = [];
  const byName = new Map<string, LayerInfo>();
  const groups = new Map<string, BlockGroup>();

  const groupFor = (stage: number, block?: string): BlockGroup => {
    const key = block === undefined ? `stage${stage}` : `stage${stage}_${block}`;
    let g = groups.get(key);
    if (g === undefined) {
      g = { key, stage, block, label: block === undefined ? `stage ${stage}` : `stage ${stage} block ${block}` };
      groups.set(key, g);
    }
    return g;
  };

  for (const layer of model.layers) {
    const connectedTo: string[] = [];
    const inboundLayers: string[] = [];
    for (const node of layer.inboundNodes) {
      if (!modelNodes.has(node)) continue;
      node.inboundLayers.forEach((inbound, i) => {
        connectedTo.push(`${inbound.name}[${node.nodeIndices[i]}][${node.tensorIndices[i]}]`);
        inboundLayers.push(inbound.name);
      });
    }
    const info: LayerInfo = {
      name: layer.name,
      className: layer.getClassName(),
      outputShape: firstShape(layer),
      params: layer.countParams(),
      connectedTo,
      inboundLayers,
    };
    const m = BLOCK_LAYER.exec(layer.name);
    if (m) info.group = groupFor(Number(m[1]), m[2]);
    else if (layer.name === 'conv1' || layer.name === 'bn_conv1') info.group = groupFor(1);
    else if (INHERITING_CLASSES.has(info.className) && inboundLayers.length > 0) {
      info.group = byName.get(inboundLayers[0])?.group;
    }
    infos.push(info);
    byName.set(info.name, info);
  }

  for (const g of groups.values()) {
    if (g.block === undefined) continue;
    const hasProjection = infos.some((l) => l.group === g && /_branch1$/.test(l.name));
    g.kind = hasProjection ? 'convolutional' : 'identity';
    g.label += ` (${g.kind})`;
  }
  return infos;
}

/** Formats a shape the way Keras prints it: `(None, 64, 64, 3)`. */
export function formatOutputShape(shape: (number | null)[]): string {
  const dims = shape.map((d) => (d === null ? 'None' : String(d)));
  return `(${dims.join(', ')}${dims.length === 1 ? ',' : ''})`;
}
