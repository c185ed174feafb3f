/**
 * formatJson, the writer of `state.json` and `log.json`: the same value as JSON.stringify after parsing, number arrays
 * on one line, everything else indented as `JSON.stringify(v, null, 2)` does (expected text written by hand).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatJson } from '../src/train/index.js';

test('formatJson: number arrays on one line, the rest indented by two spaces', () => {
  const value = { epoch: 2, step_loss: [1.5, 0.25, 0.125], args: { lr: 0.001, augment: undefined, tags: ['a', 'b'] }, empty: [], none: {} };
  const expected = [
    '{',
    '  "epoch": 2,',
    '  "step_loss": [1.5, 0.25, 0.125],',
    '  "args": {',
    '    "lr": 0.001,',
    '    "tags": [',
    '      "a",',
    '      "b"',
    '    ]',
    '  },',
    '  "empty": [],',
    '  "none": {}',
    '}',
  ].join('\n');
  assert.equal(formatJson(value), expected);
});

test('formatJson: parses back to what JSON.stringify gives, for awkward values', () => {
  const values: unknown[] = [
    [{ epoch: 1, step_acc: [0, 1, NaN, Infinity, null] }, { epoch: 2, step_acc: [] }],
    { when: new Date(Date.UTC(2026, 10, 27)), f: () => 1, nested: [[1, 2], [3], [undefined, 'x']] },
    'text "with quotes"\n',
    42,
    null,
    [],
  ];
  for (const v of values) assert.deepEqual(JSON.parse(formatJson(v)), JSON.parse(JSON.stringify(v)));
  // A per-step array of 500 values stays one line.
  const long = formatJson({ step_loss: Array.from({ length: 500 }, (_, i) => i / 7) });
  assert.equal(long.split('\n').length, 3);
});
