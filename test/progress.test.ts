/**
 * The progress display: live bar and epoch lines laid out to fit the terminal (80 and 60 columns), what is left out
 * first, and the reporter driving a fake terminal of a given width.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatBarLine,
  formatDuration,
  formatEpochLine,
  formatPlainLine,
  streamColumns,
  streamReporter,
  type EpochRecord,
  type ProgressLine,
} from '../src/train/index.js';

/** A fake terminal of `columns` columns (none: a size it does not tell) that keeps every chunk written to it. */
function fakeTerminal(columns: number | undefined, isTTY = true): NodeJS.WriteStream & { chunks: string[]; text: () => string } {
  const t = {
    chunks: [] as string[],
    text: () => t.chunks.join(''),
    isTTY,
    columns,
    write(chunk: string | Uint8Array) {
      t.chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return true;
    },
    cursorTo() {
      return true;
    },
    moveCursor() {
      return true;
    },
    clearLine() {
      return true;
    },
    on() {
      return t;
    },
    removeListener() {
      return t;
    },
  };
  return t as unknown as NodeJS.WriteStream & { chunks: string[]; text: () => string };
}

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
  assert.match(line, /^epoch 2\/12 \[\u2588+\u2591+\] 5\/31 loss 0\.6490 acc 0\.7562 366 img\/s ETA 12s$/);
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
  // The walkthrough's numbers at 60 columns: a bar fits once the images/s are out.
  assert.match(formatBarLine(WALKTHROUGH, 60), /^epoch 2\/12 \[[\u2588\u2591]{6,}\] 5\/31 loss 0\.6490 acc 0\.7562 ETA 12s$/);
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
  return term.chunks.map(printable).filter((c) => / ETA /.test(c) && !c.includes('\n'));
}

test('the bar line: `ETA --` while there is no rate; the run\'s ETA goes after the bar, before the accuracy', () => {
  assert.equal(formatBarLine({ ...WALKTHROUGH, done: 0, loss: undefined, acc: undefined, rate: undefined, eta: undefined }, 60), `epoch 2/12 [${'\u2591'.repeat(30)}] 0/31 ETA --`);
  // ETAs round up: a step left is never `ETA 0s`.
  assert.match(formatBarLine({ ...WALKTHROUGH, done: 30, eta: 0.2, runEta: 60.2 }, 80), / ETA 1s \(run 1m01s\)$/);
  const withRun: ProgressLine = { ...WALKTHROUGH, runEta: 192 };
  assert.match(formatBarLine(withRun, 80), /^epoch 2\/12 \[[\u2588\u2591]{6,}\] 5\/31 loss 0\.6490 acc 0\.7562 366 img\/s ETA 12s \(run 3m12s\)$/);
  assert.match(formatBarLine({ ...WIDE, runEta: 3200 }, 80), /^epoch 12\/100 \[[\u2588\u2591]{11}\] 1234\/1875 loss 0\.6490 acc 0\.7562 ETA 4m10s \(run 53m\)$/);
  assert.equal(formatBarLine({ ...WIDE, runEta: 3200 }, 70), 'epoch 12/100 1234/1875 loss 0.6490 acc 0.7562 ETA 4m10s (run 53m)');
  assert.equal(formatBarLine({ ...WIDE, runEta: 3200 }, 60), 'epoch 12/100 1234/1875 loss 0.6490 acc 0.7562 ETA 4m10s');
});

test('the epoch line carries the run\'s ETA before the images/s', () => {
  // 80 columns are too few for all: the images/s go, then the accuracies lose their fourth decimal.
  const line = formatEpochLine(RECORD, 100, { runEta: 88 * 302.4 });
  assert.equal(line, 'epoch 12/100 loss 0.6490 acc 0.756 val_loss 0.6123 val_acc 0.780 5m02s ETA 7h24m');
  assert.equal(formatEpochLine({ ...RECORD, epoch: 2 }, 12, { runEta: 192 }), 'epoch 2/12 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 5m02s ETA 3m12s');
  // Where not even that fits, the ETA goes.
  assert.equal(formatEpochLine({ ...RECORD, epoch: 120 }, 1000, { runEta: 88 * 302.4 }), 'epoch 120/1000 loss 0.6490 acc 0.756 val_loss 0.6123 val_acc 0.780 5m02s');
  const train = { ...RECORD, epoch: 2, val_loss: undefined, val_acc: undefined, time: 2.04 };
  assert.equal(formatEpochLine(train, 12, { runEta: 192 }), 'epoch 2/12 loss 0.6490 acc 0.7562 2.0s ETA 3m12s 198 img/s');
});

test('live bar: `ETA --` before the first step, then the epoch\'s ETA and the run\'s, from the steps\' rate and the epochs\' times', () => {
  const clock = manualClock();
  const term = fakeTerminal(100);
  const record = (epoch: number): EpochRecord => ({ ...RECORD, epoch, time: 10 });
  withReporter(streamReporter(term, true, { now: clock.now }), (reporter) => {
    reporter.start(1, 3, 10);
    assert.match(barsDrawn(term).at(-1) ?? '', /^epoch 1\/3 \[\u2591+\] 0\/10 ETA --$/, 'before the first step: no ETA, no run ETA');
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
