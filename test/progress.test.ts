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
  assert.equal(formatEpochLine(RECORD, 100, 120), 'epoch 12/100 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 5m02s 198 img/s');
});

test('the epoch line at 60 columns wraps between fields onto an indented line, losing nothing that matters', () => {
  const text = formatEpochLine(RECORD, 100, 60);
  const lines = text.split('\n');
  assert.equal(lines.length, 2, text);
  for (const l of lines) assert.ok(l.length <= 60, `${l.length}: ${l}`);
  assert.match(lines[1], /^ {2}\S/);
  // The images/s went first; what is left did not fit on one line.
  assert.equal(text.replace(/\n {2}/, ' '), 'epoch 12/100 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 5m02s');
});

test('streamColumns: the stream\'s width, 80 when it does not tell', () => {
  assert.equal(streamColumns(fakeTerminal(132)), 132);
  assert.equal(streamColumns(fakeTerminal(undefined)), 80);
  assert.equal(streamColumns(fakeTerminal(undefined, false)), 80);
});

test('a live bar on a terminal of 80 or 60 columns never writes a line wider than the terminal', () => {
  for (const columns of [80, 60]) {
    const term = fakeTerminal(columns);
    const reporter = streamReporter(term, true);
    reporter.start(12, 100, 1875);
    for (let i = 0; i < 1234; i++) reporter.step(0.649, 0.7562, 36.6);
    reporter.end(RECORD);
    reporter.stop();
    const drawn = term.chunks.map(printable).filter((c) => c.startsWith('epoch '));
    assert.ok(drawn.length >= 2, `the bar was drawn: ${JSON.stringify(term.chunks)}`);
    for (const chunk of drawn) {
      for (const l of chunk.split('\n').filter((x) => x !== '')) assert.ok(l.length <= columns, `${columns} columns: ${l.length}: ${l}`);
    }
    const bars = drawn.filter((c) => c.includes(' ETA '));
    assert.ok(bars.length >= 2, 'bars with an ETA');
    for (const b of bars) assert.ok(b.length <= columns - 1, `${columns} columns: ${b.length}: ${b}`);
    assert.ok(printable(term.text()).replace(/\n {2}/g, ' ').includes('epoch 12/100 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 5m02s\n'), 'the epoch line');
  }
});
