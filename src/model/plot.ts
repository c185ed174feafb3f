/**
 * Drawing a model's layer graph, like Keras's `plot_model`: a Graphviz DOT graph with one node per layer (name,
 * class and output shape), the layers of each residual block grouped in a labelled cluster, rendered to SVG with
 * Graphviz compiled to WebAssembly (`@hpcc-js/wasm-graphviz`), or to PNG through `sharp`.
 */
import * as tf from '@tensorflow/tfjs';
import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { describeLayers, formatOutputShape, type BlockGroup, type LayerInfo } from './graph.js';

/** Options of the drawing {@link renderModel} makes. */
export interface DotOptions {
  /** Direction of the graph: `'TB'` top to bottom (default, as Keras) or `'LR'` left to right. */
  rankdir?: 'TB' | 'LR';
  /** Whether to show each layer's output shape (default true, as Keras's `show_shapes=True`). */
  showShapes?: boolean;
  /** Whether to group the layers of stage 1 and of each residual block in a labelled cluster (default true). */
  groupBlocks?: boolean;
}

/** Fill colours by layer class, so that the kinds of layers stand out. */
const FILL: Record<string, string> = {
  InputLayer: '#e0e0e0',
  ZeroPadding2D: '#e0e0e0',
  Conv2D: '#bbdefb',
  BatchNormalization: '#fff9c4',
  Activation: '#c8e6c9',
  Add: '#ffcc80',
  MaxPooling2D: '#e1bee7',
  AveragePooling2D: '#e1bee7',
  GlobalAveragePooling2D: '#e1bee7',
  GlobalMaxPooling2D: '#e1bee7',
  Flatten: '#e0e0e0',
  Dense: '#ffab91',
};

/** Escapes text for a Graphviz HTML-like label. */
function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Quotes a Graphviz identifier. */
function quoteId(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function nodeStatement(l: LayerInfo, showShapes: boolean, indent: string): string {
  const fill = FILL[l.className] ?? '#ffffff';
  const title = `<b>${escapeHtml(l.name)}</b>: ${escapeHtml(l.className)}`;
  const shape = showShapes ? `<tr><td>${escapeHtml(formatOutputShape(l.outputShape))}</td></tr>` : '';
  const label = `<<table border="0" cellborder="1" cellspacing="0" cellpadding="4"><tr><td bgcolor="${fill}">${title}</td></tr>${shape}</table>>`;
  return `${indent}${quoteId(l.name)} [label=${label}];`;
}

/**
 * Builds the Graphviz DOT source of a functional model's layer graph: one node per layer showing its name, class and
 * output shape, one edge per connection, and (by default) a `subgraph cluster_…` per residual block, labelled e.g.
 * `stage 2 block a (convolutional)`, and one for stage 1.
 */
export function modelToDot(model: tf.LayersModel, options: DotOptions = {}): string {
  const { rankdir = 'TB', showShapes = true, groupBlocks = true } = options;
  if (rankdir !== 'TB' && rankdir !== 'LR') throw new Error(`rankdir must be 'TB' or 'LR', got '${rankdir}'`);
  const layers = describeLayers(model);
  const out = [
    `digraph ${quoteId(model.name)} {`,
    `  graph [rankdir=${rankdir}, label=${quoteId(model.name)}, labelloc=t, fontname="Helvetica", fontsize=20, ` +
      'nodesep=0.3, ranksep=0.3];',
    // A monospaced font: Graphviz sizes boxes with its own metrics, and every monospaced font (Courier, DejaVu Sans
    // Mono, bold or not) has the same advance width, so the text fits its box whichever font renders the SVG.
    '  node [shape=plaintext, fontname="Courier", fontsize=11];',
    '  edge [arrowsize=0.6];',
  ];

  // Nodes, in the model's order; the layers of one group are written together inside its cluster.
  const clusters = new Map<BlockGroup, LayerInfo[]>();
  const order: (LayerInfo | BlockGroup)[] = [];
  for (const l of layers) {
    if (groupBlocks && l.group) {
      let members = clusters.get(l.group);
      if (members === undefined) {
        members = [];
        clusters.set(l.group, members);
        order.push(l.group);
      }
      members.push(l);
    } else {
      order.push(l);
    }
  }
  for (const item of order) {
    if ('key' in item) {
      const fill = item.kind === 'convolutional' ? '#fff3e0' : item.kind === 'identity' ? '#f1f8e9' : '#f5f5f5';
      out.push(`  subgraph ${quoteId(`cluster_${item.key}`)} {`);
      out.push(`    graph [label=${quoteId(item.label)}, style="rounded,filled", fillcolor="${fill}", color="#9e9e9e", fontsize=14];`);
      for (const l of clusters.get(item) ?? []) out.push(nodeStatement(l, showShapes, '    '));
      out.push('  }');
    } else {
      out.push(nodeStatement(item, showShapes, '  '));
    }
  }

  // Edges. The main path (each layer's first input) weighs more than the shortcuts, so that it is drawn straight.
  for (const l of layers) {
    l.inboundLayers.forEach((from, i) => {
      out.push(`  ${quoteId(from)} -> ${quoteId(l.name)}${i === 0 ? ' [weight=10]' : ''};`);
    });
  }
  out.push('}');
  return out.join('\n') + '\n';
}

let graphvizPromise: Promise<Graphviz> | undefined;

/** Renders DOT source to SVG text with Graphviz's `dot` layout engine (WebAssembly, loaded once). */
export async function dotToSvg(dot: string): Promise<string> {
  graphvizPromise ??= Graphviz.load();
  const graphviz = await graphvizPromise;
  return graphviz.dot(dot, 'svg');
}

/** The longest side of a PNG drawing, in pixels: a little under librsvg's limit of 32,767. */
const MAX_PNG_SIDE = 32_000;

/** The image formats {@link renderModel} produces. */
export type PlotFormat = 'svg' | 'png';

/**
 * Draws a functional model's layer graph, like Keras's `plot_model`: one node per layer (its name, class and output
 * shape), one edge per connection, and (by default) the layers of stage 1 and of each residual block grouped in a
 * labelled cluster (`stage 2 block a (convolutional)`). Laid out by Graphviz (WebAssembly) into SVG, or converted to
 * PNG with `sharp` (one pixel per point, scaled down so that no side passes 32,000 pixels).
 *
 * @returns the image file's bytes
 */
export async function renderModel(
  model: tf.LayersModel,
  format: PlotFormat = 'svg',
  options: DotOptions = {},
): Promise<Buffer> {
  const svg = await dotToSvg(modelToDot(model, options));
  if (format === 'svg') return Buffer.from(svg, 'utf8');
  if (format === 'png') {
    const { default: sharp } = await import('sharp');
    // The SVG's size is in points, which sharp rasterises one pixel each. Where a side would pass librsvg's limit of
    // 32,767 pixels (a top-to-bottom ResNet-152 is about 40,000 points tall), scale the declared size down: the
    // viewBox maps the drawing onto it.
    const fitted = svg.replace(/<svg width="([\d.]+)pt" height="([\d.]+)pt"/, (whole, w: string, h: string) => {
      const scale = Math.min(1, MAX_PNG_SIDE / Math.max(Number(w), Number(h)));
      return scale === 1 ? whole : `<svg width="${(Number(w) * scale).toFixed(2)}pt" height="${(Number(h) * scale).toFixed(2)}pt"`;
    });
    return sharp(Buffer.from(fitted, 'utf8'), { limitInputPixels: false }).png().toBuffer();
  }
  throw new Error(`unknown plot format '${String(format)}' (expected svg or png)`);
}
