/**
 * A Keras-style model summary: one row per layer with its name and class, output shape, parameter count and the
 * layers it is connected to, then the parameter totals with thousands separators.
 *
 * tfjs's own `model.summary()` prints totals without separators (`Total params: 23600006`) and cuts names to fixed
 * column widths (`res2a_branch2a (Conv2D` loses its parenthesis); this formatter sizes its columns to fit.
 */
import * as tf from '@tensorflow/tfjs';
import { describeLayers, formatOutputShape } from './graph.js';

/** A model's parameter counts. */
export interface ParamCounts {
  /** All parameters: trainable plus non-trainable. */
  total: number;
  /** Parameters updated by training (kernels, biases, BatchNorm gamma and beta). */
  trainable: number;
  /** Parameters not updated by gradients (BatchNorm moving mean and variance). */
  nonTrainable: number;
}

function countWeights(weights: tf.LayerVariable[]): number {
  return weights.reduce((sum, w) => sum + w.shape.reduce<number>((p, d) => p * (d ?? 0), 1), 0);
}

/** Counts a model's parameters, as the summary's last lines show them. */
export function countParams(model: tf.LayersModel): ParamCounts {
  const trainable = countWeights(model.trainableWeights);
  const nonTrainable = countWeights(model.nonTrainableWeights);
  return { total: trainable + nonTrainable, trainable, nonTrainable };
}

/** Formats an integer with thousands separators, as Keras does: `23,600,006`. */
export function formatCount(n: number): string {
  return Math.trunc(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * Formats the summary of a functional model, as Keras's `model.summary()` does: a header with the model's name, a
 * table of `Layer (type)`, `Output Shape`, `Param #` and `Connected to` (one input per line), then
 * `Total params`, `Trainable params` and `Non-trainable params`.
 *
 * @returns the summary, lines separated by `\n`, with a final newline
 */
export function formatSummary(model: tf.LayersModel): string {
  const headers = ['Layer (type)', 'Output Shape', 'Param #', 'Connected to'];
  const rows = describeLayers(model).map((l) => ({
    cells: [`${l.name} (${l.className})`, formatOutputShape(l.outputShape), formatCount(l.params)],
    connectedTo: l.connectedTo,
  }));
  const gap = 2;
  const widths = headers.slice(0, 3).map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i].length)) + gap);
  const lastWidth = Math.max(headers[3].length, ...rows.flatMap((r) => r.connectedTo.map((c) => c.length)));
  const lineLength = 1 + widths.reduce((a, b) => a + b, 0) + lastWidth;
  const row = (cells: string[]): string =>
    (' ' + cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c)).join('')).trimEnd();

  const counts = countParams(model);
  const lines = [`Model: "${model.name}"`, '_'.repeat(lineLength), row(headers), '='.repeat(lineLength)];
  rows.forEach((r, i) => {
    lines.push(row([...r.cells, r.connectedTo[0] ?? '']));
    for (const c of r.connectedTo.slice(1)) lines.push(row(['', '', '', c]));
    lines.push((i === rows.length - 1 ? '=' : '_').repeat(lineLength));
  });
  lines.push(
    `Total params: ${formatCount(counts.total)}`,
    `Trainable params: ${formatCount(counts.trainable)}`,
    `Non-trainable params: ${formatCount(counts.nonTrainable)}`,
    '_'.repeat(lineLength),
  );
  return lines.join('\n') + '\n';
}
