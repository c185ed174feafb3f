/**
 * The benchmark's own logic (not its timings): statistics, option parsing, the hand-over of results from the
 * measuring children, and the ratios and tables of the summary.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  RESULT_PREFIX,
  type SideResult,
  median,
  measure,
  parseChildArgs,
  parseResult,
  peakRssMiB,
  warmUp,
} from '../bench/common.js';
import { type BenchReport, ONEDNN_FLOOR_MS, parseFloor, parseOptions, ratios, summary, table } from '../bench/resnet50.js';

function result(side: string, mode: string, medianMs: number, extra: Record<string, unknown> = {}): SideResult {
  return { side, mode, medianMs, timesMs: [medianMs], peakRssMiB: 100, ...extra };
}

describe('bench statistics', () => {
  it('median of odd and even lengths, unsorted input left alone', () => {
    const values = [5, 1, 4];
    assert.equal(median(values), 4);
    assert.deepEqual(values, [5, 1, 4]);
    assert.equal(median([10, 2, 8, 4]), 6);
    assert.equal(median([7]), 7);
    assert.throws(() => median([]), /empty/);
  });

  it('warmUp and measure call the step the right number of times and time each call', async () => {
    let calls = 0;
    const step = async (): Promise<void> => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
    };
    const lines: string[] = [];
    await warmUp('s', step, 2, (m) => lines.push(m));
    assert.equal(calls, 2);
    const { medianMs, timesMs } = await measure('s', step, 3, (m) => lines.push(m));
    assert.equal(calls, 5);
    assert.equal(timesMs.length, 3);
    for (const t of timesMs) assert.ok(t >= 4, `each timed call awaited the 5 ms step, got ${t}`);
    assert.equal(medianMs, median(timesMs));
    assert.equal(lines.length, 5);
    assert.match(lines[0], /^s warm-up 1\/2: \d+ ms$/);
    assert.match(lines[4], /^s 3\/3: \d+ ms$/);
  });

  it('peak RSS is at least the current RSS', () => {
    const current = process.memoryUsage().rss / 2 ** 20;
    assert.ok(peakRssMiB() >= current - 1, `peak ${peakRssMiB()} MiB vs current ${current} MiB`);
  });
});

describe('bench child arguments and results', () => {
  it('parses every option and keeps the defaults', () => {
    assert.deepEqual(parseChildArgs([]), {
      mode: 'train', batch: 32, steps: 10, warmup: 3, classes: 6, size: 64, allowCpu: false,
    });
    const o = parseChildArgs(['--mode', 'infer', '--batch', '8', '--steps', '2', '--warmup', '0', '--classes', '3',
      '--size', '32', '--allow-cpu', '--onnx', 'm.onnx', '--threads', '4']);
    assert.deepEqual(o, {
      mode: 'infer', batch: 8, steps: 2, warmup: 0, classes: 3, size: 32, allowCpu: true, onnx: 'm.onnx', threads: 4,
    });
  });

  it('rejects bad values, naming the option', () => {
    assert.throws(() => parseChildArgs(['--mode', 'fit']), /--mode must be train or infer, not 'fit'/);
    assert.throws(() => parseChildArgs(['--batch', '0']), /--batch must be a positive integer, not '0'/);
    assert.throws(() => parseChildArgs(['--steps', '2.5']), /--steps must be a positive integer/);
    assert.throws(() => parseChildArgs(['--warmup', '-1']), /--warmup must be a non-negative integer/);
    assert.throws(() => parseChildArgs(['--batch']), /--batch needs a value/);
    assert.throws(() => parseChildArgs(['--fast']), /unknown argument '--fast'/);
  });

  it('finds the result line among other output, and reports its absence', () => {
    const r = result('torch', 'train', 12.5);
    const stdout = `some banner\n${RESULT_PREFIX}${JSON.stringify(r)}\ntrailing line\n`;
    assert.deepEqual(parseResult(stdout), r);
    assert.equal(parseResult('no result here\n'), undefined);
  });
});

describe('bench options and summary', () => {
  it('parses the command line', () => {
    const o = parseOptions(['--steps', '2', '--batch', '16', '--only', 'torch', '--allow-cpu', '--no-setup',
      '--out', 'x/y.json', '--floor-train-ms', '170', '--spin', '--measure-floor']);
    assert.equal(o.steps, 2);
    assert.equal(o.warmup, 3);
    assert.equal(o.batch, 16);
    assert.equal(o.only, 'torch');
    assert.equal(o.allowCpu, true);
    assert.equal(o.setup, false);
    assert.equal(o.out, `${process.cwd()}/x/y.json`);
    assert.equal(o.floorTrainMs, 170);
    assert.equal(o.floorInferMs, ONEDNN_FLOOR_MS.infer);
    assert.equal(o.spin, true);
    assert.equal(o.measureFloor, true);
    const d = parseOptions([]);
    assert.equal(d.spin, false);
    assert.equal(d.measureFloor, false);
    assert.equal(d.steps, 10);
    assert.equal(d.setup, true);
    assert.equal(d.skipTorch, false);
    assert.match(d.out, /bench\/\.cache\/latest\.json$/);
  });

  it("reads the floor tool's NHWC summary line: training with weight reorders, inference with cached weights", () => {
    const output = [
      '#STEP any  train: prim-only=151.1 ms  with-reorders=195.3 ms | inference: prim-only=45.0 ms with-reorders=59.6 ms (with act-reorders only, weights pre-reordered: 54.1 ms)',
      '#STEP nhwc train: prim-only=160.6 ms  with-reorders=178.6 ms | inference: prim-only=50.1 ms with-reorders=58.6 ms (with act-reorders only, weights pre-reordered: 50.1 ms)',
    ].join('\n');
    assert.deepEqual(parseFloor(output), { train: 178.6, infer: 50.1 });
    assert.equal(parseFloor('#STEP any  train: prim-only=1 ms'), null);
  });

  it('rejects bad command lines', () => {
    const stderr = process.stderr.write;
    process.stderr.write = () => true; // commander prints its own message
    try {
      assert.throws(() => parseOptions(['--steps', '0']), /--steps must be a positive integer/);
      assert.throws(() => parseOptions(['--only', 'tf']), /Allowed choices are ours, torch, ort/);
      assert.throws(() => parseOptions(['--bogus']), /unknown option '--bogus'/);
    } finally {
      process.stderr.write = stderr;
    }
  });

  it('computes the ratios against the targets and the floor, and leaves out what is missing', () => {
    const rs = ratios({
      'ours.train': result('ours', 'train', 150),
      'torch.train': result('torch', 'train', 400),
      'ours.infer': result('ours', 'infer', 60),
      'ort.infer': result('ort', 'infer', 50),
    });
    const byName = new Map(rs.map((r) => [r.name, r]));
    const step = byName.get('ours train step / PyTorch train step');
    assert.deepEqual(step, { name: 'ours train step / PyTorch train step', value: 150 / 400, target: 0.5, met: true });
    const infer = byName.get('ours inference / ONNX Runtime inference');
    assert.equal(infer?.value, 1.2);
    assert.equal(infer?.met, false);
    const floor = rs.find((r) => r.name.startsWith('ours train step / oneDNN'));
    assert.equal(floor?.value, 150 / ONEDNN_FLOOR_MS.train);
    assert.equal(floor?.met, null);
    const own = ratios({ 'ours.infer': result('ours', 'infer', 60) }, { train: 200, infer: 40 });
    assert.deepEqual(own.find((r) => r.name.startsWith('ours inference / oneDNN')),
      { name: 'ours inference / oneDNN conv floor (40 ms)', value: 1.5, target: null, met: null });
    const torchInfer = byName.get('PyTorch inference / ONNX Runtime inference');
    assert.equal(torchInfer?.value, null);
    assert.equal(torchInfer?.met, null);
  });

  it('lays out tables with aligned columns', () => {
    assert.equal(
      table(['side', 'ms', 'note'], [['ours', '5', 'x'], ['pytorch', '120', '']]),
      ['side      ms  note', '-------  ---  ----', 'ours       5  x', 'pytorch  120'].join('\n'),
    );
  });

  it('summarizes a report: names, times, memory, skipped sides and ratios', () => {
    const results: BenchReport['results'] = {
      'ours.train': result('ours', 'train', 201.4, { backend: 'onednn' }),
      'torch.train': result('torch', 'train', 402.8, { torch: '1.13' }),
    };
    const report: BenchReport = {
      date: '2026-01-01T00:00:00.000Z',
      machine: { cpu: 'Test CPU', cores: 2, loadAvgStart: [0.5, 0, 0], loadAvgEnd: [1.5, 0, 0] },
      config: {
        model: 'ResNet50', input: [64, 64, 3], batch: 32, classes: 6, dtype: 'float32', steps: 2, warmup: 3,
        floorMs: { ...ONEDNN_FLOOR_MS },
      },
      results,
      skipped: { 'ours.infer': 'failed: exited with 1', 'ort.infer': 'onnxruntime-node is not installed' },
      ratios: ratios(results),
    };
    const text = summary(report);
    assert.match(text, /^ResNet-50 64x64x3, batch 32, float32, 6 classes; medians of 2 steps after 3 warm-up; 2 cores \(Test CPU\)/);
    assert.match(text, /\nours onednn +201 ms +- +100 MiB +- +failed: exited with 1\n/);
    assert.match(text, /\nPyTorch 1\.13 +403 ms +- +100 MiB +-\n/);
    assert.match(text, /\nONNX Runtime +- +- +- +- +onnxruntime-node is not installed\n/);
    assert.match(text, /\nours train step \/ PyTorch train step +0\.50 +<= 0\.5 +met\n/);
  });
});
