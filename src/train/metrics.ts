/**
 * Classification metrics computed with plain loops: confusion matrix, per-class precision and recall, and the text
 * tables `evaluate` prints.
 */

/** Precision, recall and support of one class. */
export interface ClassMetrics {
  /** Class name. */
  name: string;
  /** Of the images predicted as this class, the fraction that are this class (null when none is predicted as it). */
  precision: number | null;
  /** Of the images of this class, the fraction predicted as it (null when the class has no images). */
  recall: number | null;
  /** Number of images of this class. */
  support: number;
}

/**
 * The confusion matrix: `m[t][p]` counts the images of true class `t` predicted as class `p`.
 * Labels and predictions outside `[0, classes)` are an error.
 */
export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes: number): number[][] {
  if (labels.length !== predictions.length) {
    throw new Error(`confusionMatrix: ${labels.length} labels but ${predictions.length} predictions`);
  }
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    const p = predictions[i];
    if (!(t >= 0 && t < classes && p >= 0 && p < classes)) throw new Error(`confusionMatrix: class index out of range at ${i}`);
    m[t][p]++;
  }
  return m;
}

/** Adds confusion matrix `b` into `a` (same size), returning `a`. */
export function addConfusion(a: number[][], b: number[][]): number[][] {
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a.length; j++) a[i][j] += b[i][j];
  return a;
}

/** Per-class precision, recall and support from a confusion matrix. */
export function classMetrics(confusion: number[][], names: string[]): ClassMetrics[] {
  return confusion.map((row, c) => {
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, r) => a + r[c], 0);
    return {
      name: names[c] ?? String(c),
      precision: predicted === 0 ? null : row[c] / predicted,
      recall: support === 0 ? null : row[c] / support,
      support,
    };
  });
}

/** Overall accuracy from a confusion matrix (0 for an empty one). */
export function accuracyOf(confusion: number[][]): number {
  let right = 0;
  let total = 0;
  confusion.forEach((row, i) => row.forEach((n, j) => {
    total += n;
    if (i === j) right += n;
  }));
  return total === 0 ? 0 : right / total;
}

/** Formats rows of cells as a text table: first column left-aligned, the others right-aligned. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd()).join('\n');
}

/** The per-class table: class, precision, recall, support. */
export function formatClassMetrics(metrics: ClassMetrics[]): string {
  return formatTable([
    ['class', 'precision', 'recall', 'support'],
    ...metrics.map((m) => [m.name, ratio(m.precision), ratio(m.recall), String(m.support)]),
  ]);
}

/** The confusion matrix as an aligned table: one row per true class, one column per predicted class. */
export function formatConfusion(confusion: number[][], names: string[]): string {
  return formatTable([
    ['true \\ predicted', ...names],
    ...confusion.map((row, i) => [names[i], ...row.map(String)]),
  ]);
}

/** A precision or recall for the tables: three decimals, or `n/a` where it is undefined (nothing to divide by). */
function ratio(x: number | null): string {
  return x === null ? 'n/a' : x.toFixed(3);
}
