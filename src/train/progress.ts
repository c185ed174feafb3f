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

/** Time left, in whole seconds rounded up (`ETA 0s` only once nothing is left); `--` where unknown. */
function formatEta(seconds: number | undefined): string {
  return formatDuration(seconds === undefined ? NaN : Math.ceil(seconds));
}

/** Images per second: one decimal below 100 (`36.6 img/s`), whole numbers from 100 on (`366 img/s`). */
export function formatRate(imagesPerSecond: number): string {
  return `${imagesPerSecond.toFixed(imagesPerSecond < 100 ? 1 : 0)} img/s`;
}

/**
 * One piece of a line laid out by {@link fitPieces}: a text, or the bar (`fraction` done, drawn as wide as the room
 * allows). `drop` ranks what goes when the line is too long: the highest first; 0 never goes. A piece with a
 * `shorter` text is replaced by it (never to go further) instead of going.
 */
type Piece = { text: string; drop: number; shorter?: string } | { fraction: number; drop: number };

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
 * then pieces go (or shorten) by rank. Where the pieces that never go still do not fit, the line is cut at `width`
 * (`overflow` 'cut'), or all the pieces, in full, are wrapped between pieces onto lines indented by two spaces
 * ('wrap': a line that has to wrap may as well lose nothing).
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
      if (overflow === 'wrap') return wrapWords(pieces.flatMap((p) => ('text' in p && p.text !== '' ? [p.text] : [])), width);
      return kept.map((p) => ('text' in p ? p.text : '')).join(' ').slice(0, width);
    }
    kept = 'text' in victim && victim.shorter !== undefined
      ? kept.map((p) => (p === victim ? { text: victim.shorter ?? '', drop: 0 } : p))
      : kept.filter((p) => p !== victim);
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
  /** Seconds left of the task; absent while there is no rate to tell (shown as `ETA --`). */
  eta?: number;
  /** Seconds left of the whole run (all epochs); absent where not known. */
  runEta?: number;
}

/** The pieces of a progress line; `bar` adds the bar after the label. */
function progressPieces(line: ProgressLine, bar: boolean): Piece[] {
  const pieces: Piece[] = [{ text: line.label, drop: 0 }];
  if (bar) pieces.push({ fraction: line.total > 0 ? line.done / line.total : 0, drop: 4 });
  pieces.push({ text: `${line.done}/${line.total}`, drop: 0 });
  if (line.loss !== undefined) pieces.push({ text: `loss ${line.loss.toFixed(4)}`, drop: 1 });
  if (line.acc !== undefined) pieces.push({ text: `acc ${line.acc.toFixed(4)}`, drop: 2 });
  if (line.rate !== undefined) pieces.push({ text: formatRate(line.rate), drop: 5 });
  pieces.push({ text: `ETA ${formatEta(line.eta)}`, drop: 0 });
  if (line.runEta !== undefined) pieces.push({ text: `(run ${formatEta(line.runEta)})`, drop: 3 });
  return pieces;
}

/**
 * The live bar's line, at most `columns - 1` characters (the last column stays free: with line wrapping off, a
 * character written there would be erased by the clear-to-end-of-line that follows it):
 * `epoch 2/12 [████░░░░] 5/31 loss 0.6490 acc 0.7562 366 img/s ETA 12s (run 3m12s)`. Where that is too long the bar
 * shrinks first, then the images/s go, then the bar, the run's ETA, the accuracy and the loss; the label, the count
 * and the ETA stay.
 */
export function formatBarLine(line: ProgressLine, columns: number): string {
  return fitPieces(progressPieces(line, true), columns - 1);
}

/** A progress line without a bar, for logs: at most `columns` characters, shortened as {@link formatBarLine} does. */
export function formatPlainLine(line: ProgressLine, columns = 80): string {
  return fitPieces(progressPieces(line, false), columns);
}

/** What the epoch summary line may add to the {@link EpochRecord}, as far as the reporter knows it. */
export interface EpochLineExtras {
  /** Seconds left of the run after this epoch (shown as `ETA 3m12s`). */
  runEta?: number;
}

/**
 * The one-line summary of an epoch, as printed in plain mode and after each bar, at most `columns` characters
 * (at 80 columns one line; in a terminal too narrow for the fields that always appear, all the fields wrapped between
 * fields onto indented lines):
 * `epoch 2/12 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 2.0s ETA 3m12s 366 img/s`. The epoch, the
 * losses, the accuracies and the training time always appear; where there is no room for the rest, the images/s go
 * first, then the accuracies lose their fourth decimal, then the run's ETA goes.
 */
export function formatEpochLine(r: EpochRecord, epochs: number, extras: EpochLineExtras = {}, columns = 80): string {
  const pieces: Piece[] = [
    { text: `epoch ${r.epoch}/${epochs}`, drop: 0 },
    { text: `loss ${r.loss.toFixed(4)}`, drop: 0 },
    { text: `acc ${r.acc.toFixed(4)}`, shorter: `acc ${r.acc.toFixed(3)}`, drop: 3 },
  ];
  if (r.val_loss !== undefined) pieces.push({ text: `val_loss ${r.val_loss.toFixed(4)}`, drop: 0 });
  if (r.val_acc !== undefined) pieces.push({ text: `val_acc ${r.val_acc.toFixed(4)}`, shorter: `val_acc ${r.val_acc.toFixed(3)}`, drop: 3 });
  pieces.push({ text: formatDuration(r.time, 1), drop: 0 });
  if (extras.runEta !== undefined) pieces.push({ text: `ETA ${formatEta(extras.runEta)}`, drop: 1 });
  pieces.push({ text: formatRate(r.images_per_s), drop: 4 });
  return fitPieces(pieces, columns, 'wrap');
}

/** A clock in milliseconds. */
export type Clock = () => number;

/** How fast a count goes, over its last few updates. */
class RateWindow {
  private readonly times: number[] = [];
  private readonly counts: number[] = [];

  /** @param size Updates the rate is taken over. */
  constructor(private readonly size = 20) {}

  /** Starts over at `count` at time `now` (ms). */
  reset(now: number, count = 0): void {
    this.times.length = 0;
    this.counts.length = 0;
    this.add(now, count);
  }

  /** The count is `count` at time `now` (ms). */
  add(now: number, count: number): void {
    this.times.push(now);
    this.counts.push(count);
    if (this.times.length > this.size + 1) {
      this.times.shift();
      this.counts.shift();
    }
  }

  /** Units per second over the window; undefined until the count has moved since the reset. */
  perSecond(): number | undefined {
    const n = this.times.length;
    const seconds = (this.times[n - 1] - this.times[0]) / 1000;
    const units = this.counts[n - 1] - this.counts[0];
    return n >= 2 && seconds > 0 && units > 0 ? units / seconds : undefined;
  }
}

/**
 * Times a run's epochs: the ETA of the epoch's steps (from the rate of the last 20 steps) and of the whole run (the
 * epochs left at the mean wall time of the epochs ended so far, their validation and checkpoints included; before
 * one has ended, at the steps' rate).
 */
class RunTimer {
  epoch = 0;
  epochs = 0;
  steps = 0;
  done = 0;
  private epochStart = 0;
  private lastStep = 0;
  /** Wall seconds of each epoch ended, start to end. */
  private readonly walls: number[] = [];
  /** Seconds from the last step to the end of the last epoch ended (validation, checkpoint). */
  private tail = 0;
  private readonly stepRate = new RateWindow();

  start(now: number, epoch: number, epochs: number, steps: number): void {
    Object.assign(this, { epoch, epochs, steps, done: 0, epochStart: now, lastStep: now });
    this.stepRate.reset(now);
  }

  step(now: number): void {
    this.done++;
    this.lastStep = now;
    this.stepRate.add(now, this.done);
  }

  end(now: number): void {
    this.walls.push((now - this.epochStart) / 1000);
    this.tail = (now - this.lastStep) / 1000;
  }

  /** Seconds left of the epoch's steps; undefined before there is a rate. */
  epochEta(): number | undefined {
    const rate = this.stepRate.perSecond();
    return rate === undefined ? undefined : (this.steps - this.done) / rate;
  }

  /** Seconds an epoch takes, start to end; undefined before anything was timed. */
  private epochSeconds(): number | undefined {
    if (this.walls.length > 0) return this.walls.reduce((a, b) => a + b, 0) / this.walls.length;
    const rate = this.stepRate.perSecond();
    return rate === undefined ? undefined : this.steps / rate + this.tail;
  }

  /** Seconds left of the run during the current epoch; undefined in the last epoch and before there is a rate. */
  runEta(): number | undefined {
    const eta = this.epochEta();
    const perEpoch = this.epochSeconds();
    if (this.epoch >= this.epochs || eta === undefined || perEpoch === undefined) return undefined;
    return eta + this.tail + perEpoch * (this.epochs - this.epoch);
  }

  /** Seconds left of the run once the current epoch has ended; undefined after the last. */
  runEtaAfter(): number | undefined {
    const perEpoch = this.epochSeconds();
    return this.epoch >= this.epochs || perEpoch === undefined ? undefined : perEpoch * (this.epochs - this.epoch);
  }
}

/** Options of {@link streamReporter}. */
export interface StreamReporterOptions {
  /** The clock the ETAs are timed with (default `performance.now`); tests give their own. */
  now?: Clock;
  /**
   * Without a live bar: the least time between two progress lines within an epoch, in seconds (default 30). The
   * first comes that long after the epoch's start, so a shorter epoch prints its summary line only.
   */
  plainEvery?: number;
}

/** Least time between two redraws of a live bar that a step asks for, in ms. */
const REDRAW_MS = 100;

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
 * A reporter writing to `stream`: a cli-progress bar per epoch when `live` (default: when the stream is a TTY), with
 * the epoch's ETA (`ETA --` until the first step is timed) and the run's; otherwise one line per epoch, with the
 * run's ETA, and within a long epoch an indented progress line every {@link StreamReporterOptions.plainEvery}
 * seconds (`  epoch 2/12 step 620/1875 loss 0.6490 acc 0.7562 36.6 img/s ETA 9m42s (run 53m)`). Lines fit the
 * terminal's width ({@link streamColumns}; 80 columns without a terminal).
 */
export function streamReporter(
  stream: NodeJS.WriteStream = process.stderr,
  live = stream.isTTY === true,
  options: StreamReporterOptions = {},
): ProgressReporter {
  const now = options.now ?? (() => performance.now());
  const plainEveryMs = (options.plainEvery ?? 30) * 1000;
  const timer = new RunTimer();
  let bar: cliProgress.SingleBar | undefined;
  let lastDrawn = 0;
  /** When the last plain progress line (or the epoch's start) was. */
  let lastPlain = 0;
  /** The bar's label and the last step's figures. */
  let shown: Pick<ProgressLine, 'label' | 'loss' | 'acc' | 'rate'> = { label: '' };
  const line = (): ProgressLine => ({ ...shown, done: timer.done, total: timer.steps, eta: timer.epochEta(), runEta: timer.runEta() });
  /** Redraws the bar now, or (unless `force`) once REDRAW_MS have passed since the last time. */
  const redraw = (force = false): void => {
    if (bar === undefined || (!force && now() - lastDrawn < REDRAW_MS)) return;
    lastDrawn = now();
    bar.render();
  };
  return {
    message: (text) => {
      stream.write(`${text}\n`);
    },
    start(epoch, epochs, steps) {
      timer.start(now(), epoch, epochs, steps);
      lastPlain = now();
      shown = { label: `epoch ${epoch}/${epochs}` };
      if (!live) return;
      // cli-progress keeps the terminal (cursor hidden, line wrapping off, the line cleared at the end) and redraws
      // on its own timer while the event loop is free; the line itself is ours.
      bar = new cliProgress.SingleBar({
        stream,
        format: () => formatBarLine(line(), streamColumns(stream)),
        hideCursor: true,
        clearOnComplete: true,
        synchronousUpdate: false,
      });
      bar.start(steps, 0);
      lastDrawn = now();
    },
    step(loss, acc, ips) {
      timer.step(now());
      shown = { ...shown, loss, acc, rate: ips };
      if (live) {
        redraw();
      } else if (timer.done < timer.steps && now() - lastPlain >= plainEveryMs) {
        // A log of a long epoch shows it advancing; indented, so that it reads (and greps) apart from epoch lines.
        lastPlain = now();
        stream.write(`${formatPlainLine({ ...line(), label: `  ${shown.label} step` })}\n`);
      }
    },
    end(record) {
      timer.end(now());
      bar?.stop();
      bar = undefined;
      // A live bar shows the run's ETA; a log gets it on the epoch line.
      const extras: EpochLineExtras = live ? {} : { runEta: timer.runEtaAfter() };
      stream.write(`${formatEpochLine(record, timer.epochs, extras, live ? streamColumns(stream) : 80)}\n`);
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
