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
import {
  type BenchReport,
  ONEDNN_FLOOR_MS,
  type RoundResults,
  combineRounds,
  formatRatio,
  medianRound,
  parseFloor,
  parseOptions,
  ratios,
  roundOrder,
  roundRatio,
  skipNote,
  summary,
  table,
} from '../bench/resnet50.js';

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
      mode: 'train', batch: 32, steps: 10, warmup: 3, classes: 6, size: 64, allowCpu: false, trainStep: 'compiled',
    });
    const o = parseChildArgs(['--mode', 'infer', '--batch', '8', '--steps', '2', '--warmup', '0', '--classes', '3',
      '--size', '32', '--allow-cpu', '--onnx', 'm.onnx', '--threads', '4', '--train-step', 'layers']);
    assert.deepEqual(o, {
      mode: 'infer', batch: 8, steps: 2, warmup: 0, classes: 3, size: 32, allowCpu: true, onnx: 'm.onnx', threads: 4,
      trainStep: 'layers',
    });
  });

  it('rejects bad values, naming the option', () => {
    assert.throws(() => parseChildArgs(['--mode', 'fit']), /--mode must be train or infer, not 'fit'/);
    assert.throws(() => parseChildArgs(['--batch', '0']), /--batch must be a positive integer, not '0'/);
    assert.throws(() => parseChildArgs(['--steps', '2.5']), /--steps must be a positive integer/);
    assert.throws(() => parseChildArgs(['--warmup', '-1']), /--warmup must be a non-negative integer/);
    assert.throws(() => parseChildArgs(['--batch']), /--batch needs a value/);
    assert.throws(() => parseChildArgs(['--fast']), /unknown argument '--fast'/);
    assert.throws(() => parseChildArgs(['--train-step', 'eager']), /--train-step must be compiled or layers, not 'eager'/);
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
    assert.equal(o.rounds, 3, '--rounds defaults to 3');
    assert.equal(parseOptions(['--rounds', '5']).rounds, 5);
    assert.equal(parseOptions(['--rounds', '1', '--only', 'ours']).rounds, 1);
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
      assert.throws(() => parseOptions(['--rounds', '0']), /--rounds must be a positive integer, not '0'/);
      assert.throws(() => parseOptions(['--rounds', '2.5']), /--rounds must be a positive integer, not '2\.5'/);
      assert.throws(() => parseOptions(['--rounds']), /argument missing/);
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
      'ours.train': result('ours', 'train', 201.4, { backend: 'onednn', trainStep: 'compiled' }),
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
    assert.match(text, /\nours onednn +201 ms +- +100 MiB +- +train step compiled; failed: exited with 1\n/);
    assert.match(text, /\nPyTorch 1\.13 +403 ms +- +100 MiB +-\n/);
    assert.match(text, /\nONNX Runtime +- +- +- +- +onnxruntime-node is not installed\n/);
    assert.match(text, /\nours train step \/ PyTorch train step +0\.50 +<= 0\.5 +met\n/);
  });
});

/** A report around the given rounds, as main() assembles it. */
function roundsReport(rounds: RoundResults[], skipped: BenchReport['skipped'] = {}): BenchReport {
  const results = combineRounds(rounds);
  return {
    date: '2026-01-01T00:00:00.000Z',
    machine: { cpu: 'Test CPU', cores: 2, loadAvgStart: [0.5, 0, 0], loadAvgEnd: [1.5, 0, 0] },
    config: {
      model: 'ResNet50', input: [64, 64, 3], batch: 32, classes: 6, dtype: 'float32', steps: 2, warmup: 3,
      floorMs: { ...ONEDNN_FLOOR_MS }, rounds: rounds.length,
    },
    results,
    skipped,
    rounds,
    ratios: ratios(results, ONEDNN_FLOOR_MS, rounds),
  };
}

/**
 * Four rounds. Training, ours/torch per round: 150/300 = 0.5, 176/320 = 0.55, 140/350 = 0.4, and round 4 has no
 * PyTorch result: per-round median 0.5, min 0.4, max 0.55 over 3 rounds, while the ratio of the median rounds would
 * be 150/320 (ours: 140 150 165 200 -> lower-middle 150; torch: 300 320 350 -> 320). Inference, ours/ort: 80/64 =
 * 1.25, 74/64 = 1.15625; round 3 has no ours.infer (failed) and round 4 no ort: median (1.25 + 1.15625) / 2 =
 * 1.203125 over 2 rounds.
 */
function fourRounds(): RoundResults[] {
  return [
    {
      'ours.train': result('ours', 'train', 150, { peakRssMiB: 1200, backend: 'onednn' }),
      'ours.infer': result('ours', 'infer', 80, { peakRssMiB: 400 }),
      'torch.train': result('torch', 'train', 300, { peakRssMiB: 900 }),
      'ort.infer': result('ort', 'infer', 64, { peakRssMiB: 330 }),
    },
    {
      'ort.infer': result('ort', 'infer', 64, { peakRssMiB: 335 }),
      'torch.train': result('torch', 'train', 320, { peakRssMiB: 880 }),
      'ours.train': result('ours', 'train', 176, { peakRssMiB: 1250, backend: 'onednn' }),
      'ours.infer': result('ours', 'infer', 74, { peakRssMiB: 410 }),
    },
    {
      'ours.train': result('ours', 'train', 140, { peakRssMiB: 1190, backend: 'onednn' }),
      'torch.train': result('torch', 'train', 350, { peakRssMiB: 905 }),
      'ort.infer': result('ort', 'infer', 70, { peakRssMiB: 331 }),
    },
    {
      'ours.train': result('ours', 'train', 200, { peakRssMiB: 1210, backend: 'onednn' }),
      'ours.infer': result('ours', 'infer', 90, { peakRssMiB: 405 }),
    },
  ];
}

function close(actual: number | null | undefined, expected: number, what: string): void {
  assert.ok(actual !== null && actual !== undefined && Math.abs(actual - expected) < 1e-12, `${what}: ${actual} vs ${expected}`);
}

describe('bench rounds', () => {
  it('alternates the order of the sides from round to round', () => {
    assert.deepEqual(roundOrder(1), ['ours', 'torch', 'ort']);
    assert.deepEqual(roundOrder(2), ['ort', 'torch', 'ours']);
    assert.deepEqual(roundOrder(3), ['ours', 'torch', 'ort']);
    assert.deepEqual(roundOrder(4), ['ort', 'torch', 'ours']);
  });

  it('takes the median round for an odd count, with the largest peak RSS', () => {
    const perRound = [
      result('ours', 'train', 300, { peakRssMiB: 100, timesMs: [299, 300, 301] }),
      result('ours', 'train', 250, { peakRssMiB: 120, timesMs: [250, 250, 250] }),
      result('ours', 'train', 280, { peakRssMiB: 90, timesMs: [279, 280, 290] }),
    ];
    const chosen = medianRound(perRound);
    // sorted 250 (round 2), 280 (round 3), 300 (round 1): the middle one is round 3
    assert.equal(chosen?.medianMs, 280);
    assert.deepEqual(chosen?.timesMs, [279, 280, 290]);
    assert.equal(chosen?.round, 3);
    assert.equal(chosen?.peakRssMiB, 120);
    assert.equal(perRound[2].peakRssMiB, 90, "the round's own result is left alone");
    assert.equal(perRound[2].round, undefined);
  });

  it('takes the lower-middle round for an even count, earlier round on ties', () => {
    // sorted 250 (round 2), 260 (round 4), 280 (round 3), 300 (round 1): lower-middle is round 4
    const four = medianRound([300, 250, 280, 260].map((ms) => result('torch', 'train', ms)));
    assert.equal(four?.medianMs, 260);
    assert.equal(four?.round, 4);
    const two = medianRound([result('ort', 'infer', 200), result('ort', 'infer', 100, { peakRssMiB: 50 })]);
    assert.equal(two?.medianMs, 100);
    assert.equal(two?.round, 2);
    assert.equal(two?.peakRssMiB, 100, 'peak RSS is the largest over the rounds, not the chosen round');
    const tie = medianRound([result('ort', 'infer', 70, { x: 'a' }), result('ort', 'infer', 70, { x: 'b' })]);
    assert.equal(tie?.x, 'a');
    assert.equal(tie?.round, 1);
  });

  it('ignores rounds without a result when choosing the median round', () => {
    const chosen = medianRound([undefined, result('ours', 'infer', 210), undefined, result('ours', 'infer', 190), result('ours', 'infer', 230)]);
    // present: 210 (round 2), 190 (round 4), 230 (round 5): median 210
    assert.equal(chosen?.medianMs, 210);
    assert.equal(chosen?.round, 2);
    assert.equal(medianRound([undefined, undefined]), undefined);
    assert.equal(medianRound([]), undefined);
  });

  it('combines the rounds key by key, keeping keys present in only some rounds', () => {
    const combined = combineRounds(fourRounds());
    assert.deepEqual(Object.keys(combined).sort(), ['ort.infer', 'ours.infer', 'ours.train', 'torch.train']);
    assert.equal(combined['ours.train']?.medianMs, 150); // 140 150 176 200: lower-middle
    assert.equal(combined['ours.train']?.round, 1);
    assert.equal(combined['ours.train']?.peakRssMiB, 1250);
    assert.equal(combined['torch.train']?.medianMs, 320); // 300 320 350
    assert.equal(combined['torch.train']?.round, 2);
    assert.equal(combined['ours.infer']?.medianMs, 80); // 74 80 90 (no round 3)
    assert.equal(combined['ours.infer']?.round, 1);
    assert.equal(combined['ort.infer']?.medianMs, 64); // 64 (round 1), 64 (round 2), 70: the middle is round 2's
    assert.equal(combined['ort.infer']?.round, 2);
    assert.equal(combined['ort.infer']?.peakRssMiB, 335);
    assert.equal(combined['torch.infer'], undefined);
  });

  it('takes the target ratios within each round: median, min and max of same-round pairs', () => {
    const rounds = fourRounds();
    const train = roundRatio(rounds, 'ours.train', 'torch.train');
    close(train?.value, 0.5, 'train median');
    close(train?.min, 0.4, 'train min');
    close(train?.max, 0.55, 'train max');
    assert.equal(train?.rounds, 3);
    const infer = roundRatio(rounds, 'ours.infer', 'ort.infer');
    close(infer?.value, 1.203125, 'infer median');
    close(infer?.min, 1.15625, 'infer min');
    close(infer?.max, 1.25, 'infer max');
    assert.equal(infer?.rounds, 2);
    assert.equal(roundRatio(rounds, 'ours.infer', 'torch.infer'), null);
    assert.equal(roundRatio([], 'ours.train', 'torch.train'), null);
    // a side present in different rounds only never pairs up
    assert.equal(roundRatio([{ 'ours.train': result('ours', 'train', 1) }, { 'torch.train': result('torch', 'train', 2) }],
      'ours.train', 'torch.train'), null);
  });

  it('reports the per-round target ratios and the others from the median rounds', () => {
    const rounds = fourRounds();
    const rs = ratios(combineRounds(rounds), ONEDNN_FLOOR_MS, rounds);
    const byName = new Map(rs.map((r) => [r.name, r]));
    const train = byName.get('ours train step / PyTorch train step');
    close(train?.value, 0.5, 'train value');
    assert.equal(train?.met, true); // 0.5 <= 0.5
    assert.notEqual(train?.value, 150 / 320, 'not the ratio of the median rounds');
    assert.equal(train?.rounds, 3);
    const infer = byName.get('ours inference / ONNX Runtime inference');
    close(infer?.value, 1.203125, 'infer value');
    assert.equal(infer?.met, false);
    assert.equal(infer?.rounds, 2);
    const floor = rs.find((r) => r.name.startsWith('ours train step / oneDNN'));
    assert.equal(floor?.value, 150 / ONEDNN_FLOOR_MS.train);
    assert.equal(floor?.rounds, undefined);
    assert.equal(floor?.min, undefined);
    const torchFloor = byName.get('PyTorch train step / oneDNN conv floor');
    assert.equal(torchFloor?.value, 320 / ONEDNN_FLOOR_MS.train);
    // no round with both sides: no value, no spread
    const lonely: RoundResults[] = [{ 'ours.train': result('ours', 'train', 150) }, {}];
    const none = ratios(combineRounds(lonely), ONEDNN_FLOOR_MS, lonely)[0];
    assert.deepEqual(none, { name: 'ours train step / PyTorch train step', value: null, target: 0.5, met: null });
  });

  it('notes the rounds a side failed in, and only the reason when it failed in all', () => {
    assert.equal(skipNote([{ round: 2, why: 'failed: exited with 1' }], 3), 'failed: exited with 1 (round 2 of 3)');
    assert.equal(
      skipNote([{ round: 1, why: 'failed: a' }, { round: 2, why: 'failed: b' }, { round: 3, why: 'failed: a' }], 4),
      'failed: a (rounds 1, 3 of 4); failed: b (round 2 of 4)',
    );
    assert.equal(skipNote([{ round: 1, why: 'failed: x' }, { round: 2, why: 'failed: x' }], 2), 'failed: x');
    assert.equal(skipNote([{ round: 1, why: 'failed: x' }], 1), 'failed: x');
  });

  it('prints the spread of a per-round ratio', () => {
    const base = { name: 'r', target: 0.5, met: true };
    assert.equal(formatRatio({ ...base, value: 0.94, min: 0.89, max: 0.97, rounds: 3 }), '0.94 (0.89-0.97, 3 rounds)');
    assert.equal(formatRatio({ ...base, value: 0.94, min: 0.94, max: 0.94, rounds: 1 }), '0.94 (1 round)');
    assert.equal(formatRatio({ ...base, value: 0.94 }), '0.94');
    assert.equal(formatRatio({ ...base, value: null, met: null }), '-');
  });

  it('summarizes a report of several rounds: median rounds, largest peak RSS, spreads and failed rounds', () => {
    const text = summary(roundsReport(fourRounds(), { 'ours.infer': skipNote([{ round: 3, why: 'failed: exited with 1' }], 4) }));
    assert.match(text, /; medians of 2 steps after 3 warm-up; median of 4 interleaved rounds \(peak RSS: the largest\); 2 cores/);
    assert.match(text, /\nours onednn +150 ms +80 ms +1250 MiB +410 MiB +failed: exited with 1 \(round 3 of 4\)\n/);
    assert.match(text, /\nPyTorch +320 ms +- +905 MiB +-\n/);
    assert.match(text, /\nours train step \/ PyTorch train step +0\.50 \(0\.40-0\.55, 3 rounds\) +<= 0\.5 +met\n/);
    assert.match(text, /\nours inference \/ ONNX Runtime inference +1\.20 \(1\.16-1\.25, 2 rounds\) +<= 1\.0 +NOT met\n/);
    assert.match(text, /\nours train step \/ oneDNN conv floor \(300 ms\) +0\.50\n/);
  });

  it('summarizes a single round with its one pair', () => {
    const one = fourRounds().slice(0, 1);
    const text = summary(roundsReport(one));
    assert.match(text, /median of 1 interleaved round \(peak RSS: the largest\)/);
    assert.match(text, /\nours train step \/ PyTorch train step +0\.50 \(1 round\) +<= 0\.5 +met\n/);
    assert.match(text, /\nours inference \/ ONNX Runtime inference +1\.25 \(1 round\) +<= 1\.0 +NOT met\n/);
  });
});
