/**
 * Per-class precision and recall from a confusion matrix, worked out by hand: a class that is never predicted has no
 * precision and a class without images has no recall (null, printed `n/a`), rather than a misleading 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classMetrics, confusionMatrix, formatClassMetrics } from '../src/train/metrics.js';

test('classMetrics: precision and recall by hand; null where there is nothing to divide by; the table says n/a', () => {
  // Labels / predictions over 3 classes: class 2 has no images and is never predicted.
  const confusion = confusionMatrix([0, 0, 0, 1, 1], [0, 0, 1, 1, 0], 3);
  assert.deepEqual(confusion, [[2, 1, 0], [1, 1, 0], [0, 0, 0]]);
  const m = classMetrics(confusion, ['a', 'b', 'c']);
  assert.deepEqual(m, [
    { name: 'a', precision: 2 / 3, recall: 2 / 3, support: 3 },
    { name: 'b', precision: 1 / 2, recall: 1 / 2, support: 2 },
    { name: 'c', precision: null, recall: null, support: 0 },
  ]);
  const rows = formatClassMetrics(m).trim().split('\n').map((line) => line.trim().split(/\s+/));
  assert.deepEqual(rows, [
    ['class', 'precision', 'recall', 'support'],
    ['a', '0.667', '0.667', '3'],
    ['b', '0.500', '0.500', '2'],
    ['c', 'n/a', 'n/a', '0'],
  ]);
});
