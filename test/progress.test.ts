/**
 * The progress display: live bar and epoch lines laid out to fit the terminal (80 and 60 columns), what is left out
 * first, and the reporter driving a fake terminal of a given width.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import {
  countProgress,
  evaluateModel,
  formatBarLine,
  formatDuration,
  formatEpochLine,
  formatPlainLine,
  saveModel,
  streamColumns,
  streamReporter,
  trackProgress,
  type EpochRecord,
  type ProgressLine,
} from '../src/train/index.js';
import { fakeTerminal, runCaptured } from './cli-helpers.js';
import { SIGNS_TEST, TEST_BACKEND, TINY_INPUT, memoryDataset, tempDir, tinyResNet, trainReleased } from './train-fixtures.js';

const { dir: work, cleanup } = tempDir('resnet-progress-');
test.after(cleanup);

/** The printable text of a chunk: escape sequences (cursor moves, clears) taken out. */
function printable(chunk: string): string {
  // eslint-disable-next-line no-control-regex
  return chunk.replace(/\x1B(?:\[[0-9;?]*[A-Za-z]|[78])/g, '');
}

/** A training epoch of ResNet-50 on Fashion-MNIST, late in a long run: wide numbers everywhere. */
const WIDE: ProgressLine = { label: 'epoch 12/100', done: 1234, total: 1875, loss: 0.649, acc: 0.7562, rate: 36.6, eta: 250 };
/** The walkthrough's line: `epoch 2/12 [████░░…] 5/31 | loss 0.6490 | acc 0.7562 | 365.6 i` on 80 columns. */
const WALKTHROUGH: ProgressLine = { label: 'epoch 2/12', done: 5, total: 31, loss: 0.649, acc: 0.7562, rate: 365.6, eta: 12 };

test('formatDuration: seconds, minutes and seconds, minutes, hours and minutes', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(12.4), '12s');
  assert.equal(formatDuration(2.04, 1), '2.0s');
  assert.equal(formatDuration(59.96, 1), '1m00s', 'rounding up to a minute is a minute');
  assert.equal(formatDuration(192), '3m12s');
  assert.equal(formatDuration(599.4), '9m59s');
  assert.equal(formatDuration(3200), '53m');
  assert.equal(formatDuration(3900), '1h05m');
  assert.equal(formatDuration(NaN), '--');
  assert.equal(formatDuration(-1), '--');
});

test('the bar line fits 80 columns with everything the walkthrough lost: the images/s and the ETA', () => {
  const line = formatBarLine(WALKTHROUGH, 80);
  assert.ok(line.length <= 79, `${line.length} characters: ${line}`);
  assert.match(line, /^epoch 2\/12 \[\u2588+\u2591+\] {2}5\/31 loss 0\.6490 acc 0\.7562 366 img\/s ETA 12s$/);
  // The bar takes the room that is left, up to 30 cells.
  const wide = formatBarLine(WALKTHROUGH, 200);
  assert.match(wide, /\[[\u2588\u2591]{30}\]/);
  assert.ok(line.length < wide.length);
});

test('the bar line at 80 and 60 columns: the bar shrinks first, then the images/s go, then the bar; the ETA stays', () => {
  for (const columns of [80, 60]) {
    for (const l of [WIDE, WALKTHROUGH]) {
      const line = formatBarLine(l, columns);
      assert.ok(line.length <= columns - 1, `${columns} columns: ${line.length} characters: ${line}`);
      assert.ok(line.startsWith(`${l.label} `), line);
      assert.ok(line.includes(` ${l.done}/${l.total} `), line);
      assert.match(line, / ETA \S+$/, `the ETA ends the line: ${line}`);
    }
  }
  // 80 columns, wide numbers: everything, with a bar of 10 cells.
  assert.equal(formatBarLine(WIDE, 80), `epoch 12/100 [${'\u2588'.repeat(7)}${'\u2591'.repeat(3)}] 1234/1875 loss 0.6490 acc 0.7562 36.6 img/s ETA 4m10s`);
  // 75 columns: a bar of 6 cells would not leave room for the images/s: they go, and the bar takes the room.
  assert.match(formatBarLine(WIDE, 75), /^epoch 12\/100 \[[\u2588\u2591]{16}\] 1234\/1875 loss 0\.6490 acc 0\.7562 ETA 4m10s$/);
  // 60 columns: the bar has no room either; loss and accuracy stay.
  assert.equal(formatBarLine(WIDE, 60), 'epoch 12/100 1234/1875 loss 0.6490 acc 0.7562 ETA 4m10s');
  // The count keeps the total's width on a bar, so that the bar stays put.
  assert.match(formatBarLine({ ...WALKTHROUGH, done: 12 }, 80), /\] 12\/31 /);
  // The walkthrough's numbers at 60 columns: a bar fits once the images/s are out.
  assert.match(formatBarLine(WALKTHROUGH, 60), /^epoch 2\/12 \[[\u2588\u2591]{6,}\] {2}5\/31 loss 0\.6490 acc 0\.7562 ETA 12s$/);
  // Very narrow: the accuracy, then the loss go; the label, the count and the ETA stay.
  assert.equal(formatBarLine(WIDE, 48), 'epoch 12/100 1234/1875 loss 0.6490 ETA 4m10s');
  assert.equal(formatBarLine(WIDE, 40), 'epoch 12/100 1234/1875 ETA 4m10s');
});

test('the bar is drawn in proportion to the count', () => {
  const half = formatBarLine({ ...WALKTHROUGH, done: 15, total: 30 }, 200);
  assert.match(half, /\[\u2588{15}\u2591{15}\]/);
  assert.match(formatBarLine({ ...WALKTHROUGH, done: 0 }, 200), /\[\u2591{30}\]/);
  assert.match(formatBarLine({ ...WALKTHROUGH, done: 31 }, 200), /\[\u2588{30}\]/);
});

test('a plain progress line has no bar and fits 80 columns', () => {
  const line = formatPlainLine({ ...WIDE, label: '  epoch 12/100 step' }, 80);
  assert.equal(line, '  epoch 12/100 step 1234/1875 loss 0.6490 acc 0.7562 36.6 img/s ETA 4m10s');
});

/** An epoch record with validation. */
const RECORD: EpochRecord = { epoch: 12, loss: 0.64901, acc: 0.75623, val_loss: 0.61234, val_acc: 0.78, time: 302.4, images_per_s: 198.4, lr: 0.001 };

test('the epoch line: one line of at most 80 columns with epoch, loss, acc, val_loss, val_acc and time', () => {
  const line = formatEpochLine(RECORD, 100);
  assert.ok(line.length <= 80 && !line.includes('\n'), `${line.length}: ${line}`);
  assert.equal(line, 'epoch 12/100 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 5m02s');
  // Without validation there is room for the images/s.
  const train = formatEpochLine({ ...RECORD, epoch: 2, val_loss: undefined, val_acc: undefined, time: 2.04 }, 12);
  assert.equal(train, 'epoch 2/12 loss 0.6490 acc 0.7562 2.0s 198 img/s');
  // On a wide terminal everything fits.
  assert.equal(formatEpochLine(RECORD, 100, {}, 120), 'epoch 12/100 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 5m02s 198 img/s');
});

test('the epoch line at 60 columns wraps between fields onto an indented line, losing nothing that matters', () => {
  const text = formatEpochLine(RECORD, 100, {}, 60);
  const lines = text.split('\n');
  assert.equal(lines.length, 2, text);
  for (const l of lines) assert.ok(l.length <= 60, `${l.length}: ${l}`);
  assert.match(lines[1], /^ {2}\S/);
  assert.equal(text.replace(/\n {2}/, ' '), 'epoch 12/100 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 5m02s 198 img/s');
});

test('streamColumns: the stream\'s width, 80 when it does not tell', () => {
  assert.equal(streamColumns(fakeTerminal(132)), 132);
  assert.equal(streamColumns(fakeTerminal(undefined)), 80);
  assert.equal(streamColumns(fakeTerminal(undefined, false)), 80);
});

test('a live bar on a terminal of 80 or 60 columns never writes a line wider than the terminal', () => {
  for (const columns of [80, 60]) {
    const term = fakeTerminal(columns);
    withReporter(streamReporter(term, true), (reporter) => {
      reporter.start(12, 100, 1875);
      for (let i = 0; i < 1234; i++) reporter.step(0.649, 0.7562, 36.6);
      reporter.end(RECORD);
    });
    const drawn = term.chunks.map(printable).filter((c) => c.startsWith('epoch '));
    assert.ok(drawn.length >= 2, `the bar was drawn: ${JSON.stringify(term.chunks)}`);
    for (const chunk of drawn) {
      for (const l of chunk.split('\n').filter((x) => x !== '')) assert.ok(l.length <= columns, `${columns} columns: ${l.length}: ${l}`);
    }
    const bars = drawn.filter((c) => c.includes(' ETA '));
    assert.ok(bars.length >= 2, 'bars with an ETA');
    for (const b of bars) assert.ok(b.length <= columns - 1, `${columns} columns: ${b.length}: ${b}`);
    assert.ok(printable(term.text()).replace(/\n {2}/g, ' ').includes('epoch 12/100 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 5m02s'), 'the epoch line');
  }
});

/**
 * Runs `body` with `reporter`, stopping it whatever happens: a live bar left running keeps its redraw timer, and the
 * test process, alive.
 */
function withReporter<R extends { stop(): void }>(reporter: R, body: (r: R) => void): void {
  try {
    body(reporter);
  } finally {
    reporter.stop();
  }
}

/** A clock that moves only when told to. */
function manualClock(): { now: () => number; advance: (seconds: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (seconds) => (t += seconds * 1000) };
}

/** The bar lines drawn on `term` (escape sequences taken out), in order. */
function barsDrawn(term: { chunks: string[] }): string[] {
  return term.chunks.map(printable).filter((c) => /^(?:epoch|evaluating) .*\d+\/\d+/.test(c) && !c.includes('\n'));
}

test('the bar line: `ETA --` while there is no rate; the run\'s ETA goes after the bar, before the accuracy', () => {
  assert.equal(formatBarLine({ ...WALKTHROUGH, done: 0, loss: undefined, acc: undefined, rate: undefined, eta: undefined }, 60), `epoch 2/12 [${'\u2591'.repeat(30)}]  0/31 ETA --`);
  // ETAs round up: a step left is never `ETA 0s`.
  assert.match(formatBarLine({ ...WALKTHROUGH, done: 30, eta: 0.2, runEta: 60.2 }, 80), / ETA 1s \(run 1m01s\)$/);
  const withRun: ProgressLine = { ...WALKTHROUGH, runEta: 192 };
  assert.match(formatBarLine(withRun, 80), /^epoch 2\/12 \[[\u2588\u2591]{6,}\] {2}5\/31 loss 0\.6490 acc 0\.7562 366 img\/s ETA 12s \(run 3m12s\)$/);
  assert.match(formatBarLine({ ...WIDE, runEta: 3200 }, 80), /^epoch 12\/100 \[[\u2588\u2591]{11}\] 1234\/1875 loss 0\.6490 acc 0\.7562 ETA 4m10s \(run 53m\)$/);
  assert.equal(formatBarLine({ ...WIDE, runEta: 3200 }, 70), 'epoch 12/100 1234/1875 loss 0.6490 acc 0.7562 ETA 4m10s (run 53m)');
  assert.equal(formatBarLine({ ...WIDE, runEta: 3200 }, 60), 'epoch 12/100 1234/1875 loss 0.6490 acc 0.7562 ETA 4m10s');
});

test('the epoch line carries the run\'s ETA before the images/s', () => {
  // 80 columns are too few for all: the images/s go, then the accuracies lose their fourth decimal.
  const line = formatEpochLine(RECORD, 100, { runEta: 88 * 302.4 });
  assert.equal(line, 'epoch 12/100 loss 0.6490 acc 0.756 val_loss 0.6123 val_acc 0.780 5m02s ETA 7h24m');
  assert.equal(formatEpochLine({ ...RECORD, epoch: 2 }, 12, { runEta: 192 }), 'epoch 2/12 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 5m02s ETA 3m12s');
  // Where not even that fits, the ETA goes, and the accuracies keep their decimals.
  assert.equal(formatEpochLine({ ...RECORD, epoch: 120 }, 1000, { runEta: 88 * 302.4 }), 'epoch 120/1000 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 5m02s');
  const train = { ...RECORD, epoch: 2, val_loss: undefined, val_acc: undefined, time: 2.04 };
  assert.equal(formatEpochLine(train, 12, { runEta: 192 }), 'epoch 2/12 loss 0.6490 acc 0.7562 2.0s ETA 3m12s 198 img/s');
});

test('live bar: `ETA --` before the first step, then the epoch\'s ETA and the run\'s, from the steps\' rate and the epochs\' times', () => {
  const clock = manualClock();
  const term = fakeTerminal(100);
  const record = (epoch: number): EpochRecord => ({ ...RECORD, epoch, time: 10 });
  withReporter(streamReporter(term, true, { now: clock.now }), (reporter) => {
    reporter.start(1, 3, 10);
    assert.match(barsDrawn(term).at(-1) ?? '', /^epoch 1\/3 \[\u2591+\] {2}0\/10 ETA --$/, 'before the first step: no ETA, no run ETA');
    for (let i = 0; i < 5; i++) {
      clock.advance(1);
      reporter.step(0.5, 0.5, 8);
    }
    // 1 s a step: 5 steps left of this epoch, and 2 epochs of 10 s after it.
    assert.match(barsDrawn(term).at(-1) ?? '', / 5\/10 .* ETA 5s \(run 25s\)$/);
    for (let i = 0; i < 5; i++) {
      clock.advance(1);
      reporter.step(0.5, 0.5, 8);
    }
    clock.advance(0.5); // validation and checkpoint
    reporter.end(record(1));

    reporter.start(2, 3, 10);
    assert.match(barsDrawn(term).at(-1) ?? '', /^epoch 2\/3 .* 0\/10 ETA --$/);
    for (let i = 0; i < 2; i++) {
      clock.advance(2);
      reporter.step(0.5, 0.5, 4);
    }
    // Now 2 s a step: 16 s of steps, the last epoch's 0.5 s after its steps, and one more epoch of 10.5 s (the mean of
    // the epochs ended).
    assert.match(barsDrawn(term).at(-1) ?? '', / 2\/10 .* ETA 16s \(run 27s\)$/);
    for (let i = 0; i < 8; i++) {
      clock.advance(2);
      reporter.step(0.5, 0.5, 4);
    }
    reporter.end(record(2));

    reporter.start(3, 3, 10);
    clock.advance(1);
    reporter.step(0.5, 0.5, 8);
    assert.match(barsDrawn(term).at(-1) ?? '', / 1\/10 .* ETA 9s$/, 'the last epoch: its own ETA is the run\'s');
    reporter.end(record(3));
  });
  // The live bar shows the run's ETA: the epoch lines do not repeat it.
  const epochLines = term.chunks.filter((c) => c.startsWith('epoch ') && c.endsWith('\n'));
  assert.equal(epochLines.length, 3);
  for (const l of epochLines) assert.doesNotMatch(l, / ETA /);
});

test('plain mode: each epoch line ends with the run\'s ETA from the mean epoch time so far, none after the last', () => {
  const clock = manualClock();
  const term = fakeTerminal(undefined, false);
  const walls = [12, 8, 10];
  withReporter(streamReporter(term, false, { now: clock.now }), (reporter) => {
    for (let e = 1; e <= 3; e++) {
      reporter.start(e, 3, 4);
      for (let i = 0; i < 4; i++) {
        clock.advance(walls[e - 1] / 4);
        reporter.step(1, 0.5, 10);
      }
      reporter.end({ ...RECORD, epoch: e, val_loss: undefined, val_acc: undefined, time: walls[e - 1] });
    }
  });
  assert.deepEqual(term.text().split('\n'), [
    'epoch 1/3 loss 0.6490 acc 0.7562 12.0s ETA 24s 198 img/s',
    'epoch 2/3 loss 0.6490 acc 0.7562 8.0s ETA 10s 198 img/s',
    'epoch 3/3 loss 0.6490 acc 0.7562 10.0s 198 img/s',
    '',
  ]);
  assert.ok(!term.text().includes('\x1B'), 'no escape sequences in a log');
});

test('plain mode: a long epoch prints a progress line every 30 s of wall time, a short one none', () => {
  const clock = manualClock();
  const term = fakeTerminal(undefined, false);
  withReporter(streamReporter(term, false, { now: clock.now }), (reporter) => {
    // Epoch 1: 100 steps of 1 s. Epoch 2: 20 steps of 1 s, shorter than 30 s.
    for (const [epoch, steps] of [[1, 100], [2, 20]]) {
      reporter.start(epoch, 3, steps);
      for (let i = 0; i < steps; i++) {
        clock.advance(1);
        reporter.step(0.5, 0.25, 8);
      }
      clock.advance(2);
      reporter.end({ ...RECORD, epoch, val_loss: undefined, val_acc: undefined, time: steps });
    }
  });
  const lines = term.text().split('\n');
  assert.deepEqual(lines, [
    // 70 steps left at 1 s, then 2 epochs of 100 s (from the steps' rate: no epoch has ended yet).
    '  epoch 1/3 step 30/100 loss 0.5000 acc 0.2500 8.0 img/s ETA 1m10s (run 4m30s)',
    '  epoch 1/3 step 60/100 loss 0.5000 acc 0.2500 8.0 img/s ETA 40s (run 4m00s)',
    '  epoch 1/3 step 90/100 loss 0.5000 acc 0.2500 8.0 img/s ETA 10s (run 3m30s)',
    // Epochs of 102 s and 22 s: 2 epochs of 102 s left, then 1 of 62 s.
    'epoch 1/3 loss 0.6490 acc 0.7562 1m40s ETA 3m24s 198 img/s',
    'epoch 2/3 loss 0.6490 acc 0.7562 20.0s ETA 1m02s 198 img/s',
    '',
  ]);
  for (const l of lines) assert.ok(l.length <= 80);
  // The epoch lines are what starts with `epoch e/n ` (tests and scripts wait for them).
  assert.deepEqual(lines.filter((l) => /^epoch \d+\/3 /.test(l)).length, 2);
});

test('plain mode: the interval counts from the last progress line, and a test can shorten it', () => {
  const clock = manualClock();
  const term = fakeTerminal(undefined, false);
  withReporter(streamReporter(term, false, { now: clock.now, plainEvery: 5 }), (reporter) => {
    reporter.start(1, 1, 12);
    // Steps of 3, 1, 1, 4, 2, 2, ... seconds: a line at the first step 5 s or more after the last line.
    for (const seconds of [3, 1, 1, 4, 2, 2, 1, 6, 1, 1, 1, 9]) {
      clock.advance(seconds);
      reporter.step(1, 0.5, 10);
    }
    reporter.end({ ...RECORD, epoch: 1, val_loss: undefined, val_acc: undefined, time: 31 });
  });
  const steps = term.text().split('\n').filter((l) => l.startsWith('  ')).map((l) => / step (\d+)\/12 /.exec(l)?.[1]);
  // Times 3, 4, 5 (line), 9 (line is 4 later: no), 11 (line: 6 later), 13, 14, 20 (line), 21, 22, 23, 32 (last step: no).
  assert.deepEqual(steps, ['3', '5', '8']);
});

const HIDE_CURSOR = '\x1B[?25l';
const SHOW_CURSOR = '\x1B[?25h';
const NO_WRAP = '\x1B[?7l';
const WRAP = '\x1B[?7h';

test('the epoch line adds the validation time to the training time; it goes before the run\'s ETA', () => {
  const short = { ...RECORD, epoch: 2, time: 2.04 };
  assert.equal(formatEpochLine(short, 12, { valSeconds: 1.72 }), 'epoch 2/12 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 2.0s+val 1.7s');
  assert.equal(formatEpochLine(short, 12, { valSeconds: 1.72 }, 100), 'epoch 2/12 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 2.0s+val 1.7s 198 img/s');
  // Both do not fit 80 columns: the accuracies lose a decimal, then the validation time goes, the ETA stays.
  assert.equal(formatEpochLine(short, 12, { valSeconds: 1.72, runEta: 192 }), 'epoch 2/12 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 2.0s ETA 3m12s');
  assert.equal(formatEpochLine(short, 12, { valSeconds: 1.72, runEta: 192 }, 120), 'epoch 2/12 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 2.0s+val 1.7s ETA 3m12s 198 img/s');
});

test('live bar: after the last step it says what runs; validation shows its own count, rate and ETA; the epoch line its time', () => {
  const clock = manualClock();
  const term = fakeTerminal(100);
  const record = (epoch: number): EpochRecord => ({ ...RECORD, epoch, time: 10 });
  withReporter(streamReporter(term, true, { now: clock.now }), (reporter) => {
    // Epoch 1 without validation progress (a trainer that does not report it): nothing known yet after the steps.
    reporter.start(1, 3, 10);
    for (let i = 0; i < 10; i++) {
      clock.advance(1);
      reporter.step(0.5, 0.5, 8);
    }
    assert.match(barsDrawn(term).at(-1) ?? '', /^epoch 1\/3 \[\u2588+\] 10\/10 .* finishing\u2026 \(run 20s\)$/);
    clock.advance(5);
    reporter.end(record(1));
    assert.equal(term.chunks.at(-1), 'epoch 1/3 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 10.0s 198 img/s\n', 'no validation time: none reported');

    // Epoch 2: the last epoch had validation; this time the trainer reports it.
    reporter.start(2, 3, 10);
    for (let i = 0; i < 10; i++) {
      clock.advance(1);
      reporter.step(0.5, 0.5, 8);
    }
    assert.match(barsDrawn(term).at(-1) ?? '', / 10\/10 .* validating\u2026 \(run 20s\)$/, 'the 5 s after last epoch\'s steps, and an epoch of 15 s');
    clock.advance(0.5);
    reporter.validate?.(0, 400);
    assert.match(barsDrawn(term).at(-1) ?? '', /^epoch 2\/3 validating \[\u2591+\] {3}0\/400 ETA -- \(run 20s\)$/);
    for (let done = 100; done <= 400; done += 100) {
      clock.advance(1);
      reporter.validate?.(done, 400);
      // 100 images a second: the validation's ETA, then an epoch of 15 s.
      if (done === 100) assert.match(barsDrawn(term).at(-1) ?? '', /^epoch 2\/3 validating \[\u2588+\u2591+\] 100\/400 100 img\/s ETA 3s \(run 18s\)$/);
    }
    clock.advance(0.5);
    reporter.end(record(2));
    assert.equal(term.chunks.at(-1), 'epoch 2/3 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 10.0s+val 4.0s 198 img/s\n');

    reporter.start(3, 3, 10);
    for (let i = 0; i < 10; i++) {
      clock.advance(1);
      reporter.step(0.5, 0.5, 8);
    }
    assert.match(barsDrawn(term).at(-1) ?? '', / 10\/10 .* validating\u2026$/);
    reporter.end({ ...record(3), val_loss: undefined, val_acc: undefined });
  });
});

test('plain mode: a long validation prints a progress line every 30 s too, counted on from the steps\' last', () => {
  const clock = manualClock();
  const term = fakeTerminal(undefined, false);
  withReporter(streamReporter(term, false, { now: clock.now }), (reporter) => {
    reporter.start(1, 2, 40);
    for (let i = 0; i < 40; i++) {
      clock.advance(1);
      reporter.step(0.5, 0.25, 8);
    }
    // Steps at 1..40 s: a line at 30 s. Validation of 10,000 images at 200 a second from 40 to 90 s: a line at 60 s
    // (at 90 s it has ended).
    reporter.validate?.(0, 10_000);
    for (let done = 200; done <= 10_000; done += 200) {
      clock.advance(1);
      reporter.validate?.(done, 10_000);
    }
    reporter.end({ ...RECORD, epoch: 1, time: 40 });
  });
  assert.deepEqual(term.text().split('\n'), [
    '  epoch 1/2 step 30/40 loss 0.5000 acc 0.2500 8.0 img/s ETA 10s (run 50s)',
    // 30 s of validation left, then an epoch of 40 s (the steps' time: no epoch has ended yet).
    '  epoch 1/2 validating 4000/10000 200 img/s ETA 30s (run 1m10s)',
    // The run's ETA comes before the validation time where 80 columns do not hold both.
    'epoch 1/2 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 40.0s ETA 1m30s',
    '',
  ]);
});

test('trackProgress passes validation progress on, until closed', () => {
  const calls: string[] = [];
  const reporter = trackProgress({ message() {}, start() {}, step() {}, validate: (d, t) => calls.push(`${d}/${t}`), end() {}, stop() {} });
  reporter.validate?.(0, 10);
  reporter.validate?.(10, 10);
  reporter.close();
  reporter.validate?.(5, 10);
  assert.deepEqual(calls, ['0/10', '10/10']);
  // A reporter without validate() is fine.
  trackProgress({ message() {}, start() {}, step() {}, end() {}, stop() {} }).validate?.(0, 10);
});

test('countProgress on a terminal: a bar from the first update, its rate and ETA, cleared by stop(), quiet after it', () => {
  const clock = manualClock();
  const term = fakeTerminal(80);
  const progress = countProgress('evaluating', term, true, { now: clock.now });
  try {
    assert.equal(term.chunks.length, 0, 'nothing before the first update');
    progress.update(0, 1000);
    assert.ok(term.text().includes(HIDE_CURSOR) && term.text().includes(NO_WRAP));
    assert.match(barsDrawn(term).at(-1) ?? '', /^evaluating \[\u2591+\] {4}0\/1000 ETA --$/);
    for (let done = 100; done <= 500; done += 100) {
      clock.advance(1);
      progress.update(done, 1000);
    }
    assert.match(barsDrawn(term).at(-1) ?? '', /^evaluating \[\u2588+\u2591+\] {2}500\/1000 100 img\/s ETA 5s$/);
    for (const b of barsDrawn(term)) assert.ok(b.length <= 79, b);
  } finally {
    progress.stop();
  }
  assert.ok(term.text().lastIndexOf(SHOW_CURSOR) > term.text().lastIndexOf(HIDE_CURSOR), 'cursor shown again');
  assert.ok(term.text().lastIndexOf(WRAP) > term.text().lastIndexOf(NO_WRAP), 'line wrapping on again');
  const after = term.chunks.length;
  progress.update(600, 1000);
  progress.stop();
  assert.equal(term.chunks.length, after);
});

test('countProgress without a terminal: a plain line every 30 s of a long count, none for a short one', () => {
  const clock = manualClock();
  const log = fakeTerminal(undefined, false);
  const progress = countProgress('evaluating', log, false, { now: clock.now });
  progress.update(0, 10_000);
  for (let done = 100; done <= 10_000; done += 100) {
    clock.advance(1);
    progress.update(done, 10_000);
  }
  progress.stop();
  assert.deepEqual(log.text().split('\n'), ['evaluating 3000/10000 100 img/s ETA 1m10s', 'evaluating 6000/10000 100 img/s ETA 40s', 'evaluating 9000/10000 100 img/s ETA 10s', '']);
  const short = fakeTerminal(undefined, false);
  const quick = countProgress('evaluating', short, false, { now: clock.now });
  quick.update(0, 100);
  clock.advance(20);
  quick.update(100, 100);
  quick.stop();
  assert.equal(short.text(), '');
});

test('evaluateModel tells its progress: 0 first, then the images done after each batch', async () => {
  await initBackend(TEST_BACKEND);
  const model = tinyResNet();
  try {
    const calls: [number, number][] = [];
    const result = await evaluateModel(model, memoryDataset(10, TINY_INPUT, 6), 4, undefined, (done, total) => calls.push([done, total]));
    assert.deepEqual(calls, [[0, 10], [4, 10], [8, 10], [10, 10]]);
    assert.equal(result.count, 10);
  } finally {
    model.dispose();
  }
});

/**
 * Runs `resnet <argv>` in this process with stderr posing as a terminal of 80 columns (or as a pipe); everything
 * written to stderr while it runs is kept, cli-progress's timed redraws included.
 */
async function runOnTerminal(argv: string[], tty: boolean): Promise<{ code: number; out: string; err: string }> {
  const stderr = process.stderr as NodeJS.WriteStream & { isTTY: boolean; columns?: number };
  const saved = { isTTY: stderr.isTTY, columns: stderr.columns, write: stderr.write };
  let stray = '';
  Object.assign(stderr, {
    isTTY: tty,
    columns: tty ? 80 : undefined,
    write: (chunk: string | Uint8Array) => {
      stray += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    },
  });
  try {
    const r = await runCaptured(argv);
    return { ...r, err: r.err + stray };
  } finally {
    Object.assign(stderr, saved);
  }
}

test('resnet evaluate: a bar on a terminal\'s stderr, the terminal given back, stdout clean; no bar in a log', async () => {
  const model = tinyResNet();
  const dir = join(work, 'model');
  await saveModel(model, dir);
  model.dispose();
  const args = ['evaluate', '--model', dir, '--data', SIGNS_TEST, '--limit', '24', '--batch-size', '4', '--backend', TEST_BACKEND];
  const json = await runOnTerminal([...args, '--json'], true);
  assert.equal(json.code, 0, json.err);
  assert.equal(JSON.parse(json.out).count, 24, 'stdout is the JSON alone');
  assert.ok(!json.out.includes('\x1B'));
  assert.match(printable(json.err), /evaluating \[[\u2588\u2591]+\] \d+\/24 /, 'a bar on stderr');
  assert.ok(json.err.lastIndexOf(SHOW_CURSOR) > json.err.lastIndexOf(HIDE_CURSOR), 'cursor shown again');
  assert.ok(json.err.lastIndexOf(WRAP) > json.err.lastIndexOf(NO_WRAP), 'line wrapping on again');

  const text = await runOnTerminal(args, false);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /^accuracy: /m);
  assert.ok(!text.err.includes('\x1B'), 'no escape sequences in a log');
  assert.deepEqual(text.err.split('\n').filter((l) => l !== '' && !l.startsWith('backend: ')), [], 'a short evaluation prints no progress lines');
});

test("streamReporter.evaluate: an evaluation after the epochs gets its own bar, cleared at its end; trackProgress passes it on", () => {
  const clock = manualClock();
  const term = fakeTerminal(80);
  const reporter = streamReporter(term, true, { now: clock.now });
  reporter.stop(); // the epochs are over
  reporter.evaluate?.('the test set', 0, 1000);
  for (let done = 250; done <= 750; done += 250) {
    clock.advance(1);
    reporter.evaluate?.('the test set', done, 1000);
  }
  assert.match(barsDrawn(term).at(-1) ?? '', /^evaluating the test set \[\u2588+\u2591+\] {2}750\/1000 250 img\/s ETA 1s$/);
  clock.advance(1);
  reporter.evaluate?.('the test set', 1000, 1000);
  assert.ok(term.text().lastIndexOf(SHOW_CURSOR) > term.text().lastIndexOf(HIDE_CURSOR), 'the bar gave the terminal back');
  // Stopped midway (Ctrl-C closes the reporter): the bar goes too.
  reporter.evaluate?.('the test set', 0, 1000);
  clock.advance(1);
  reporter.evaluate?.('the test set', 100, 1000);
  assert.ok(term.text().lastIndexOf(HIDE_CURSOR) > term.text().lastIndexOf(SHOW_CURSOR), 'a second bar is showing');
  reporter.stop();
  assert.ok(term.text().lastIndexOf(SHOW_CURSOR) > term.text().lastIndexOf(HIDE_CURSOR), 'stop() ended it');

  const calls: string[] = [];
  const tracked = trackProgress({ message() {}, start() {}, step() {}, end() {}, stop() {}, evaluate: (w, d, t) => calls.push(`${w} ${d}/${t}`) });
  tracked.stop();
  tracked.evaluate?.('the training set', 0, 8);
  tracked.close();
  tracked.evaluate?.('the training set', 8, 8);
  assert.deepEqual(calls, ['the training set 0/8']);
});

test('train without validation data: the report evaluates the training set and tells its progress', async () => {
  const { dir, cleanup: done } = tempDir();
  try {
    const evaluations: string[] = [];
    const r = await trainReleased({
      data: memoryDataset(12, TINY_INPUT, 3, 'train'),
      buildModel: (shape, classes) => tinyResNet(shape, classes),
      batchSize: 8,
      epochs: 1,
      preciseBn: 0,
      out: join(dir, 'run'),
      backend: TEST_BACKEND,
      reporter: { message() {}, start() {}, step() {}, end() {}, stop() {}, evaluate: (w, d, t) => evaluations.push(`${w} ${d}/${t}`) },
    });
    assert.deepEqual(evaluations, ['the training set 0/12', 'the training set 8/12', 'the training set 12/12']);
    assert.equal(r.evaluation?.count, 12);
  } finally {
    done();
  }
});
