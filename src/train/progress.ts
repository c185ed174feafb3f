/**
 * Progress display for training: a live bar per epoch (cli-progress: loss, accuracy, images/s, ETA) when the output is
 * a terminal, and one plain line per epoch otherwise (logs, CI, pipes). Every line is laid out to fit the terminal's
 * width (80 columns where it is unknown): what matters least is left out first.
 */
import cliProgress from 'cli-progress';
import type { EpochRecord } from './checkpoint.js';

/** Columns of the terminal `stream` writes to; 80 where it does not say (not a terminal, or one of unknown size). */
export function streamColumns(stream: { columns?: number }): number {
  const c = stream.columns;
  return typeof c === 'number' && Number.isFinite(c) && c > 0 ? Math.floor(c) : 80;
}

/**
 * A duration for people: `42s`, `3m12s`, `53m`, `1h05m` (whole seconds, rounded; whole minutes from 10 minutes on),
 * or with `decimals` below a minute (`2.0s`); `--` for a value that is not a finite non-negative number.
 */
export function formatDuration(seconds: number, decimals = 0): string {
  if (!(Number.isFinite(seconds) && seconds >= 0)) return '--';
  if (seconds < 60 && Number(seconds.toFixed(decimals)) < 60) return `${seconds.toFixed(decimals)}s`;
  const s = Math.round(seconds);
  if (s < 600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(seconds / 60);
  if (m < 60) return `${m}m`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Images per second: one decimal below 100 (`36.6 img/s`), whole numbers from 100 on (`366 img/s`). */
export function formatRate(imagesPerSecond: number): string {
  return `${imagesPerSecond.toFixed(imagesPerSecond < 100 ? 1 : 0)} img/s`;
}

/**
 * One piece of a line laid out by {@link fitPieces}: a text, or the bar (`fraction` done, drawn as wide as the room
 * allows). `drop` ranks what goes when the line is too long: the highest first; 0 never goes.
 */
type Piece = { text: string; drop: number } | { fraction: number; drop: number };

/** Narrowest and widest bar (between its brackets). */
const BAR_MIN = 6;
const BAR_MAX = 30;

/** A bar of `width` cells, `fraction` of them full: `[████░░░░]`. */
function drawBar(fraction: number, width: number): string {
  const full = Math.round(Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0)) * width);
  return `[${'\u2588'.repeat(full)}${'\u2591'.repeat(width - full)}]`;
}

/**
 * Joins `pieces` with single spaces into at most `width` characters: the bar shrinks first (down to {@link BAR_MIN}),
 * then pieces are left out by rank. Pieces that never go and still do not fit are cut at `width` (`overflow` 'cut'),
 * or wrapped between pieces onto lines indented by two spaces ('wrap').
 */
function fitPieces(pieces: readonly Piece[], width: number, overflow: 'cut' | 'wrap' = 'cut'): string {
  let kept = pieces.filter((p) => !('text' in p) || p.text !== '');
  for (;;) {
    const texts = kept.reduce((n, p) => n + ('text' in p ? p.text.length : 2), 0) + kept.length - 1;
    const hasBar = kept.some((p) => !('text' in p));
    const room = width - texts;
    if (hasBar ? room >= BAR_MIN : room >= 0) {
      const barWidth = Math.min(BAR_MAX, room);
      return kept.map((p) => ('text' in p ? p.text : drawBar(p.fraction, barWidth))).join(' ');
    }
    const victim = kept.reduce<Piece | undefined>((worst, p) => (p.drop > 0 && (worst === undefined || p.drop >= worst.drop) ? p : worst), undefined);
    if (victim === undefined) {
      const texts = kept.map((p) => ('text' in p ? p.text : ''));
      return overflow === 'cut' ? texts.join(' ').slice(0, width) : wrapWords(texts, width);
    }
    kept = kept.filter((p) => p !== victim);
  }
}

/** `words` joined by spaces into lines of at most `width` characters, the lines after the first indented by two. */
function wrapWords(words: readonly string[], width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = `  ${word}`;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.map((l) => l.slice(0, width)).join('\n');
}

/** What a progress line shows: where a task is, how fast it goes and how long it still takes. */
export interface ProgressLine {
  /** The leading words: `epoch 2/12`, `epoch 2/12 validating`, `evaluating`. */
  label: string;
  /** Units done (steps, images) and their total. */
  done: number;
  total: number;
  /** Running mean training loss and accuracy. */
  loss?: number;
  acc?: number;
  /** Images per second. */
  rate?: number;
  /** Seconds left of the task. */
  eta: number;
}

/** The pieces of a progress line; `bar` adds the bar after the label. */
function progressPieces(line: ProgressLine, bar: boolean): Piece[] {
  const pieces: Piece[] = [{ text: line.label, drop: 0 }];
  if (bar) pieces.push({ fraction: line.total > 0 ? line.done / line.total : 0, drop: 3 });
  pieces.push({ text: `${line.done}/${line.total}`, drop: 0 });
  if (line.loss !== undefined) pieces.push({ text: `loss ${line.loss.toFixed(4)}`, drop: 1 });
  if (line.acc !== undefined) pieces.push({ text: `acc ${line.acc.toFixed(4)}`, drop: 2 });
  if (line.rate !== undefined) pieces.push({ text: formatRate(line.rate), drop: 5 });
  pieces.push({ text: `ETA ${formatDuration(line.eta)}`, drop: 0 });
  return pieces;
}

/**
 * The live bar's line, at most `columns - 1` characters (the last column stays free: with line wrapping off, a
 * character written there would be erased by the clear-to-end-of-line that follows it):
 * `epoch 2/12 [████░░░░] 5/31 loss 0.6490 acc 0.7562 366 img/s ETA 12s`. Where that is too long the bar shrinks
 * first, then the images/s go, then the bar, the accuracy and the loss; the label, the count and the ETA stay.
 */
export function formatBarLine(line: ProgressLine, columns: number): string {
  return fitPieces(progressPieces(line, true), columns - 1);
}

/** A progress line without a bar, for logs: at most `columns` characters, shortened as {@link formatBarLine} does. */
export function formatPlainLine(line: ProgressLine, columns = 80): string {
  return fitPieces(progressPieces(line, false), columns);
}

/**
 * The one-line summary of an epoch, as printed in plain mode and after each bar, at most `columns` characters
 * (at 80 columns always one line; in a narrower terminal, wrapped between fields onto indented lines where needed):
 * `epoch 2/12 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 2.0s 366 img/s`. The epoch, the losses, the
 * accuracies and the training time always appear; the images/s where there is room.
 */
export function formatEpochLine(r: EpochRecord, epochs: number, columns = 80): string {
  const pieces: Piece[] = [
    { text: `epoch ${r.epoch}/${epochs}`, drop: 0 },
    { text: `loss ${r.loss.toFixed(4)}`, drop: 0 },
    { text: `acc ${r.acc.toFixed(4)}`, drop: 0 },
  ];
  if (r.val_loss !== undefined) pieces.push({ text: `val_loss ${r.val_loss.toFixed(4)}`, drop: 0 });
  if (r.val_acc !== undefined) pieces.push({ text: `val_acc ${r.val_acc.toFixed(4)}`, drop: 0 });
  pieces.push({ text: formatDuration(r.time, 1), drop: 0 }, { text: formatRate(r.images_per_s), drop: 3 });
  return fitPieces(pieces, columns, 'wrap');
}

/** Receives training progress. All methods are called in order: start, step*, end, per epoch. */
export interface ProgressReporter {
  /** A message line (backend in use, resume point, …). */
  message(line: string): void;
  /** An epoch begins with `steps` batches. */
  start(epoch: number, epochs: number, steps: number): void;
  /** A batch finished: running mean loss and accuracy over the epoch so far, and images per second. */
  step(loss: number, acc: number, imagesPerSecond: number): void;
  /** The epoch ended (validation included). */
  end(record: EpochRecord): void;
  /** Training stopped (normally or not): release the terminal. */
  stop(): void;
}

/**
 * A reporter writing to `stream`: a cli-progress bar per epoch when `live` (default: when the stream is a TTY),
 * otherwise one line per epoch. Lines fit the terminal's width ({@link streamColumns}).
 */
export function streamReporter(stream: NodeJS.WriteStream = process.stderr, live = stream.isTTY === true): ProgressReporter {
  let bar: cliProgress.SingleBar | undefined;
  let epochs = 0;
  /** What the bar shows, but the ETA (cli-progress's own). */
  let shown: Omit<ProgressLine, 'eta'> = { label: '', done: 0, total: 0 };
  return {
    message: (line) => {
      stream.write(`${line}\n`);
    },
    start(epoch, total, steps) {
      epochs = total;
      if (!live) return;
      shown = { label: `epoch ${epoch}/${total}`, done: 0, total: steps };
      bar = new cliProgress.SingleBar({
        stream,
        format: (_options, params) => formatBarLine({ ...shown, eta: Number(params.eta) }, streamColumns(stream)),
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
      });
      bar.start(steps, 0);
    },
    step(loss, acc, ips) {
      if (bar === undefined) return;
      shown = { ...shown, done: shown.done + 1, loss, acc, rate: ips };
      bar.increment(1);
    },
    end(record) {
      bar?.stop();
      bar = undefined;
      stream.write(`${formatEpochLine(record, epochs, live ? streamColumns(stream) : 80)}\n`);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
/** A reporter that prints nothing. */
export const silentReporter: ProgressReporter = { message() {}, start() {}, step() {}, end() {}, stop() {} };

/** Where training is, as a {@link trackProgress} reporter has seen it. */
export interface ProgressPosition {
  /** The epoch running now (started, not ended). */
  running?: number;
  /** The last epoch that ended. */
  ended?: number;
  /** The run's total number of epochs, once an epoch has started. */
  epochs?: number;
  /** True once the trainer stopped reporting (its epochs are done; what follows is evaluation and the report). */
  finished: boolean;
}

/** A reporter that knows where training is and that can be closed early (on Ctrl-C). */
export interface TrackedReporter extends ProgressReporter {
  /** Where training is now. */
  readonly position: Readonly<ProgressPosition>;
  /** Stops the inner reporter (a live bar gives the terminal its cursor and line wrapping back) and ignores all later calls. */
  close(): void;
}

/** Wraps `inner`, passing every call on until {@link TrackedReporter.close} and keeping track of the epoch. */
export function trackProgress(inner: ProgressReporter): TrackedReporter {
  const position: ProgressPosition = { finished: false };
  let closed = false;
  return {
    position,
    message(line) {
      if (!closed) inner.message(line);
    },
    start(epoch, epochs, steps) {
      if (closed) return;
      position.running = epoch;
      position.epochs = epochs;
      inner.start(epoch, epochs, steps);
    },
    step(loss, acc, ips) {
      if (!closed) inner.step(loss, acc, ips);
    },
    end(record) {
      if (closed) return;
      position.running = undefined;
      position.ended = record.epoch;
      inner.end(record);
    },
    stop() {
      if (closed) return;
      position.running = undefined;
      position.finished = true;
      inner.stop();
    },
    close() {
      if (closed) return;
      closed = true;
      inner.stop();
    },
  };
}
