/**
 * The report's curves chart: epoch means of the training metrics at the middle of their epoch, validation at its end,
 * per-step losses across it, one x axis for both panels from the first epoch's beginning; report.md explains it. A run
 * that ends before its last epoch (interrupted, crashed) has the report of the epochs it finished.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import {
  CURVES_CAPTION,
  STEP_SERIES,
  TRAIN_SERIES,
  VALIDATION_SERIES,
  curvesSpec,
  train,
  writeReport,
  type EpochRecord,
} from '../src/train/index.js';
import { TEST_BACKEND, TINY_INPUT, memoryDataset, recordingReporter, tempDir, tinyResNet } from './train-fixtures.js';

/** Three epochs of four steps each, losses falling step by step; validation after each epoch. */
const HISTORY: EpochRecord[] = [1, 2, 3].map((epoch) => {
  const step_loss = [0, 1, 2, 3].map((s) => 2 - 0.15 * ((epoch - 1) * 4 + s));
  return {
    epoch,
    loss: step_loss.reduce((a, b) => a + b) / 4,
    acc: 0.2 * epoch,
    val_loss: 1.5 - 0.1 * epoch,
    val_acc: 0.25 * epoch,
    time: 1,
    images_per_s: 10,
    lr: 0.001,
    step_loss,
  };
});

type Row = { epoch: number; metric: string; split: string; value: number };

/** The chart's x scale, as Vega builds it: one named `x` when the panels share it. */
async function xDomain(history: EpochRecord[]): Promise<number[]> {
  const view = new vega.View(vega.parse(compile(curvesSpec(history)).spec), { renderer: 'none' });
  try {
    await view.runAsync();
    return (view.scale('x') as { domain(): number[] }).domain();
  } finally {
    view.finalize();
  }
}

test('curves: epoch means at mid-epoch, validation at the epoch end, steps across the epoch; both panels on one x axis from 0', async () => {
  const rows = (curvesSpec(HISTORY) as unknown as { data: { values: Row[] } }).data.values;
  const at = (split: string, metric: string) => rows.filter((r) => r.split === split && r.metric === metric).map((r) => [r.epoch, r.value]);
  assert.deepEqual(at(TRAIN_SERIES, 'loss'), HISTORY.map((h) => [h.epoch - 0.5, h.loss]));
  assert.deepEqual(at(TRAIN_SERIES, 'accuracy'), HISTORY.map((h) => [h.epoch - 0.5, h.acc]));
  assert.deepEqual(at(VALIDATION_SERIES, 'loss'), HISTORY.map((h) => [h.epoch, h.val_loss]));
  assert.deepEqual(at(VALIDATION_SERIES, 'accuracy'), HISTORY.map((h) => [h.epoch, h.val_acc]));
  // Step s (0-based) of epoch e at e - 1 + (s + 1) / 4: the epoch mean lies within its own steps' span of x.
  const steps = at(STEP_SERIES, 'loss');
  assert.deepEqual(steps.map(([x]) => x), [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3]);
  for (const h of HISTORY) {
    const own = steps.filter(([x]) => x > h.epoch - 1 && x <= h.epoch);
    assert.equal(own.length, 4);
    assert.ok(own[0][0] < h.epoch - 0.5 && h.epoch - 0.5 < own[3][0]);
    // With steadily falling losses the mean is between the first and last step's, as drawn.
    assert.ok(own[0][1] > h.loss && h.loss > own[3][1]);
  }
  assert.deepEqual(at(STEP_SERIES, 'accuracy'), []);

  // One x scale for both panels, from the beginning of epoch 1 to the end of epoch 3; the same without step losses.
  assert.deepEqual(await xDomain(HISTORY), [0, 3]);
  assert.deepEqual(await xDomain(HISTORY.map(({ step_loss: _s, ...rest }) => rest)), [0, 3]);
});

test('report.md explains where the curves are drawn; the legend names the epoch means', async () => {
  const { dir, cleanup } = tempDir('resnet-report-');
  try {
    await writeReport(join(dir, 'report'), { title: 'curves', classes: ['a', 'b'], history: HISTORY });
    const md = readFileSync(join(dir, 'report', 'report.md'), 'utf8').split('\n');
    const image = md.indexOf('![Loss and accuracy curves](curves.png)');
    assert.ok(image >= 0);
    assert.equal(md[image + 2], CURVES_CAPTION, 'the caption follows the chart');
    assert.match(CURVES_CAPTION, /means over each epoch, drawn at its middle \(x = epoch - 0\.5\)/);
    assert.match(CURVES_CAPTION, /validation is measured after each epoch, at its end \(x = epoch\)/);
    const svg = readFileSync(join(dir, 'report', 'curves.svg'), 'utf8');
    for (const name of ['train (epoch mean)', 'validation', 'train (per step)']) assert.ok(svg.includes(`>${name}<`), name);
  } finally {
    cleanup();
  }
});

test('a run that stops before its last epoch has the report of the epochs it finished: curves, table, settings, no evaluation', async () => {
  const { dir, cleanup } = tempDir('resnet-report-');
  try {
    const out = join(dir, 'run');
    // A reporter that fails as epoch 3 starts stands for Ctrl-C or a crash there.
    const reporter = recordingReporter();
    const failing = { ...reporter, start: (epoch: number) => {
      if (epoch === 3) throw new Error('stopped at epoch 3');
    } };
    await assert.rejects(
      train({
        data: memoryDataset(12, TINY_INPUT, 3, 'train'),
        valData: memoryDataset(6, TINY_INPUT, 3, 'val'),
        buildModel: (shape, classes) => tinyResNet(shape, classes),
        epochs: 4,
        batchSize: 6,
        preciseBn: 0,
        out,
        backend: TEST_BACKEND,
        reporter: failing,
      }),
      /^Error: stopped at epoch 3$/,
    );
    const report = join(out, 'report');
    assert.deepEqual(readdirSync(report).sort(), ['curves.png', 'curves.svg', 'metrics.json', 'report.md']);
    assert.deepEqual(readdirSync(out).sort(), ['checkpoints', 'log.csv', 'log.json', 'report', 'steps.csv'], 'no temporary left');
    const md = readFileSync(join(report, 'report.md'), 'utf8').split('\n');
    assert.ok(
      md.includes(`Written after epoch 2 of 4 planned, before the run ended: the report written when it ends adds the evaluation. If it was interrupted, \`resnet train --out ${out} --resume\` continues it.`),
      md.join('\n'),
    );
    assert.equal(md.filter((l) => /^\| \d/.test(l)).length, 2, 'one table row per finished epoch');
    assert.ok(md.includes(`- latest checkpoint: ${join(out, 'checkpoints', 'epoch-0002')}`));
    assert.ok(md.includes('- BatchNorm recalibration: off'));
    assert.ok(!md.some((l) => l.startsWith('## Evaluation')));
    const metrics = JSON.parse(readFileSync(join(report, 'metrics.json'), 'utf8'));
    assert.deepEqual(metrics.history.map((h: EpochRecord) => h.epoch), [1, 2]);
    assert.equal(metrics.run.inProgress, true);
    assert.equal(metrics.evaluation, undefined);
    assert.equal(existsSync(join(report, 'confusion.png')), false);
  } finally {
    cleanup();
  }
});

/** The cells of a Markdown table row as GFM reads them: `\` escapes the next character, an unescaped `|` ends a cell. */
function markdownCells(row: string): string[] {
  const cells: string[] = [];
  let cell = '';
  for (let i = 0; i < row.length; i++) {
    if (row[i] === '\\' && i + 1 < row.length) cell += row[++i];
    else if (row[i] === '|') {
      cells.push(cell.trim());
      cell = '';
    } else cell += row[i];
  }
  cells.push(cell.trim());
  return cells.slice(1, -1); // the row's leading and trailing pipes
}

test('report.md: class names with | or \\ stay in their own cell of the per-class table', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const classes = ['cats|dogs', 'back\\slash', 'ends\\|odd', 'two\nlines'];
    const confusion = [[3, 1, 0, 0], [0, 2, 0, 0], [0, 0, 4, 0], [0, 0, 1, 1]];
    await writeReport(join(dir, 'report'), {
      title: 'classes',
      classes,
      history: [],
      evaluation: { split: 'test', loss: 0.5, accuracy: 10 / 12, count: 12, confusion },
    });
    const lines = readFileSync(join(dir, 'report', 'report.md'), 'utf8').split('\n');
    const header = lines.indexOf('| class | precision | recall | support |');
    assert.ok(header >= 0);
    const rows = lines.slice(header + 2, header + 2 + classes.length).map(markdownCells);
    assert.deepEqual(rows.map((r) => r.length), [4, 4, 4, 4], 'four cells a row');
    assert.deepEqual(rows.map((r) => r[0]), ['cats|dogs', 'back\\slash', 'ends\\|odd', 'two lines']);
    assert.deepEqual(rows.map((r) => r[3]), ['4', '2', '4', '2'], 'support: the row sums');
  } finally {
    cleanup();
  }
});
