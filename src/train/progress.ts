/**
 * Progress display for training and evaluation: a live bar (cli-progress: loss, accuracy, images/s, the epoch's and
 * the run's ETA, validation) when the output is a terminal, and plain lines otherwise (logs, CI, pipes): one per
 * epoch, and one every 30 s within a long epoch or evaluation. Every line is laid out to fit the terminal's width
 * (80 columns where it is unknown): what matters least is left out first.
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
 * allows). `rank` orders what the line keeps when it is too short for all: 0 always appears, then 1, 2, … as long as
 * they fit. A piece with a `shorter` text always appears, in full where its rank finds room, else shortened.
 */
type Piece = TextPiece | { fraction: number; rank: number };
/** A piece of text of a line. */
type TextPiece = { text: string; rank: number; shorter?: string };

/** Narrowest and widest bar (between its brackets). */
const BAR_MIN = 6;
const BAR_MAX = 30;

/** A bar of `width` cells, `fraction` of them full: `[████░░░░]`. */
function drawBar(fraction: number, width: number): string {
  const full = Math.round(Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0)) * width);
  return `[${'\u2588'.repeat(full)}${'\u2591'.repeat(width - full)}]`;
}

/**
 * Joins `pieces` with single spaces into at most `width` characters. Pieces of rank 0 (and the shorter texts) come
 * first; then, by rank (ties in line order), each piece (or full text) that still fits, the bar counted at its
 * narrowest ({@link BAR_MIN}); the bar then takes the room left, up to {@link BAR_MAX}. So the bar shrinks before
 * anything is left out. Where the pieces that always appear do not fit, the line is cut at `width` (`overflow`
 * 'cut'), or all the pieces, in full, are wrapped between pieces onto lines indented by two spaces ('wrap': a line
 * that has to wrap may as well lose nothing).
 */
function fitPieces(pieces: readonly Piece[], width: number, overflow: 'cut' | 'wrap' = 'cut'): string {
  const present = pieces.filter((p) => !('text' in p) || p.text !== '');
  /** The pieces kept, and those kept in full (of those with a shorter text). */
  const kept = new Set(present.filter((p) => p.rank === 0 || ('text' in p && p.shorter !== undefined)));
  const whole = new Set(present.filter((p) => !('text' in p) || p.shorter === undefined));
  const textOf = (p: TextPiece): string => (whole.has(p) ? p.text : p.shorter ?? p.text);
  const length = (): number => [...kept].reduce((n, p) => n + ('text' in p ? textOf(p).length : BAR_MIN + 2), 0) + kept.size - 1;
  if (length() > width) {
    if (overflow === 'wrap') return wrapWords(present.flatMap((p) => ('text' in p ? [p.text] : [])), width);
    return present.flatMap((p) => (kept.has(p) && 'text' in p ? [textOf(p)] : [])).join(' ').slice(0, width);
  }
  const wanted = present.filter((p) => !kept.has(p) || !whole.has(p)).sort((a, b) => a.rank - b.rank);
  for (const p of wanted) {
    const set = kept.has(p) ? whole : kept;
    set.add(p);
    if (length() > width) set.delete(p);
  }
  const barWidth = Math.min(BAR_MAX, BAR_MIN + width - length());
  return present
    .filter((p) => kept.has(p))
    .map((p) => ('text' in p ? textOf(p) : drawBar(p.fraction, barWidth)))
    .join(' ');
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
  /** Said instead of the ETA once the count is complete and something else runs (`validating…`). */
  status?: string;
}

/** The pieces of a progress line; `bar` adds the bar after the label (a live line). */
function progressPieces(line: ProgressLine, bar: boolean): Piece[] {
  const pieces: Piece[] = [{ text: line.label, rank: 0 }];
  if (bar) pieces.push({ fraction: line.total > 0 ? line.done / line.total : 0, rank: 4 });
  // On a bar the count keeps its width (the total's), so that the bar does not jump as the count grows.
  const done = bar ? String(line.done).padStart(String(line.total).length) : String(line.done);
  pieces.push({ text: `${done}/${line.total}`, rank: 0 });
  if (line.loss !== undefined) pieces.push({ text: `loss ${line.loss.toFixed(4)}`, rank: 1 });
  if (line.acc !== undefined) pieces.push({ text: `acc ${line.acc.toFixed(4)}`, rank: 2 });
  if (line.rate !== undefined) pieces.push({ text: formatRate(line.rate), rank: 5 });
  pieces.push({ text: line.status ?? `ETA ${formatEta(line.eta)}`, rank: 0 });
  if (line.runEta !== undefined) pieces.push({ text: `(run ${formatEta(line.runEta)})`, rank: 3 });
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
  /** Seconds the epoch's validation took (the record's time covers the training steps only): `2.0s+val 1.7s`. */
  valSeconds?: number;
  /** Seconds left of the run after this epoch (shown as `ETA 3m12s`). */
  runEta?: number;
}

/**
 * The one-line summary of an epoch, as printed in plain mode and after each bar, at most `columns` characters
 * (at 80 columns one line; in a terminal too narrow for the fields that always appear, all the fields wrapped between
 * fields onto indented lines):
 * `epoch 2/12 loss 0.6490 acc 0.7562 val_loss 0.6123 val_acc 0.7800 2.0s+val 1.7s ETA 3m12s 366 img/s`. The epoch,
 * the losses, the accuracies and the training time always appear; where there is no room for the rest, the images/s
 * go first, then the accuracies lose their fourth decimal, then the validation time goes, then the run's ETA.
 */
export function formatEpochLine(r: EpochRecord, epochs: number, extras: EpochLineExtras = {}, columns = 80): string {
  const pieces: Piece[] = [
    { text: `epoch ${r.epoch}/${epochs}`, rank: 0 },
    { text: `loss ${r.loss.toFixed(4)}`, rank: 0 },
    { text: `acc ${r.acc.toFixed(4)}`, shorter: `acc ${r.acc.toFixed(3)}`, rank: 3 },
  ];
  if (r.val_loss !== undefined) pieces.push({ text: `val_loss ${r.val_loss.toFixed(4)}`, rank: 0 });
  if (r.val_acc !== undefined) pieces.push({ text: `val_acc ${r.val_acc.toFixed(4)}`, shorter: `val_acc ${r.val_acc.toFixed(3)}`, rank: 3 });
  const time = formatDuration(r.time, 1);
  const withVal = extras.valSeconds === undefined ? undefined : `${time}+val ${formatDuration(extras.valSeconds, 1)}`;
  pieces.push(withVal === undefined ? { text: time, rank: 0 } : { text: withVal, shorter: time, rank: 2 });
  if (extras.runEta !== undefined) pieces.push({ text: `ETA ${formatEta(extras.runEta)}`, rank: 1 });
  pieces.push({ text: formatRate(r.images_per_s), rank: 4 });
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

  /** Seconds for `remaining` more units at the window's rate; undefined before there is a rate. */
  eta(remaining: number): number | undefined {
    const rate = this.perSecond();
    return rate === undefined ? undefined : remaining / rate;
  }
}

/**
 * Times a run's epochs: the ETA of the epoch's steps (from the rate of the last 20 steps), of its validation, and of
 * the whole run (the epochs left at the mean wall time of the epochs ended so far, their validation and checkpoints
 * included; before one has ended, at the steps' rate).
 */
class RunTimer {
  epoch = 0;
  epochs = 0;
  steps = 0;
  done = 0;
  /** Validation images done and their total; `validating` once validation has reported. */
  valDone = 0;
  valTotal = 0;
  validating = false;
  private valStart = 0;
  private valEnd: number | undefined;
  private readonly valRate = new RateWindow();
  private epochStart = 0;
  private lastStep = 0;
  /** Wall seconds of each epoch ended, start to end. */
  private readonly walls: number[] = [];
  /** Seconds from the last step to the end of the last epoch ended (validation, checkpoint). */
  private tail = 0;
  private readonly stepRate = new RateWindow();

  start(now: number, epoch: number, epochs: number, steps: number): void {
    Object.assign(this, { epoch, epochs, steps, done: 0, epochStart: now, lastStep: now });
    Object.assign(this, { valDone: 0, valTotal: 0, validating: false, valEnd: undefined });
    this.stepRate.reset(now);
  }

  validate(now: number, done: number, total: number): void {
    if (!this.validating) {
      this.validating = true;
      this.valStart = now;
      this.valRate.reset(now, done);
    } else {
      this.valRate.add(now, done);
    }
    this.valDone = done;
    this.valTotal = total;
    if (done >= total) this.valEnd = now;
  }

  /** Validation images per second; undefined before there is a rate. */
  valPerSecond(): number | undefined {
    return this.valRate.perSecond();
  }

  /** Seconds left of the validation; undefined before there is a rate. */
  valEta(): number | undefined {
    return this.valRate.eta(this.valTotal - this.valDone);
  }

  /** Seconds the epoch's validation took, once it has reported its end. */
  valSeconds(): number | undefined {
    return this.valEnd === undefined ? undefined : (this.valEnd - this.valStart) / 1000;
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
    return this.stepRate.eta(this.steps - this.done);
  }

  /** Seconds an epoch takes, start to end; undefined before anything was timed. */
  private epochSeconds(): number | undefined {
    if (this.walls.length > 0) return this.walls.reduce((a, b) => a + b, 0) / this.walls.length;
    const steps = this.stepRate.eta(this.steps);
    return steps === undefined ? undefined : steps + this.tail;
  }

  /**
   * Seconds left of the run during the current epoch: its steps, then what followed the steps last epoch (or, while
   * validating, the validation's ETA), then the epochs left. Undefined in the last epoch and before there is a rate.
   */
  runEta(): number | undefined {
    const eta = this.validating ? this.valEta() ?? this.tail : this.epochEta();
    const perEpoch = this.epochSeconds();
    if (this.epoch >= this.epochs || eta === undefined || perEpoch === undefined) return undefined;
    return eta + (this.validating ? 0 : this.tail) + perEpoch * (this.epochs - this.epoch);
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

/**
 * Without a live bar, whether a plain progress line is due: at most one every `plainEvery` seconds (default 30)
 * from {@link restart}.
 */
class PlainLines {
  private last = 0;
  private readonly everyMs: number;

  constructor(private readonly now: Clock, plainEvery = 30) {
    this.everyMs = plainEvery * 1000;
  }

  /** Counts the time from now (an epoch's or a count's start). */
  restart(): void {
    this.last = this.now();
  }

  /** Whether a line is due now; if so, the next is counted from now. */
  due(): boolean {
    if (this.now() - this.last < this.everyMs) return false;
    this.last = this.now();
    return true;
  }
}

/** Least time between two redraws of a live bar that an update asks for, in ms. */
const REDRAW_MS = 100;

/**
 * Receives training progress (`TrainOptions.reporter`). Per epoch the methods are called in order: start, step*,
 * validate*, end; message lines may come at any time, and stop when training ends. `silentReporter` is one that prints
 * nothing.
 */
export interface ProgressReporter {
  /** A message line (backend in use, resume point, …). */
  message(line: string): void;
  /** An epoch begins with `steps` batches. */
  start(epoch: number, epochs: number, steps: number): void;
  /** A batch finished: running mean loss and accuracy over the epoch so far, and images per second. */
  step(loss: number, acc: number, imagesPerSecond: number): void;
  /**
   * Optional: the epoch's validation has evaluated `done` of its `total` images; called with 0 as it starts and with
   * `total` as it ends, and after each batch in between.
   */
  validate?(done: number, total: number): void;
  /** The epoch ended (validation included). */
  end(record: EpochRecord): void;
  /**
   * Optional: an evaluation outside the epochs (after the last one: the report's evaluation of the best epoch or of
   * the training set) has evaluated `done` of its `total` images: 0 as it starts, `total` as it ends, and after each
   * batch in between; `what` names it (`the validation set`). May come after {@link stop}.
   */
  evaluate?(what: string, done: number, total: number): void;
  /** Training stopped (normally or not): release the terminal. */
  stop(): void;
}

/**
 * A cli-progress bar on `stream` showing the line `draw` makes, laid out to the stream's width: cli-progress keeps the
 * terminal (cursor hidden, line wrapping off, the line cleared at the end) and redraws on its own timer while the
 * event loop is free.
 */
class LiveBar {
  private readonly bar: cliProgress.SingleBar;
  private lastDrawn: number;

  constructor(
    stream: NodeJS.WriteStream,
    draw: () => ProgressLine,
    private readonly now: Clock,
  ) {
    this.bar = new cliProgress.SingleBar({
      stream,
      format: () => formatBarLine(draw(), streamColumns(stream)),
      hideCursor: true,
      clearOnComplete: true,
      synchronousUpdate: false,
    });
    this.bar.start(1, 0);
    this.lastDrawn = now();
  }

  /** Redraws the bar now, or (unless `force`) once {@link REDRAW_MS} have passed since the last time. */
  redraw(force = false): void {
    if (!force && this.now() - this.lastDrawn < REDRAW_MS) return;
    this.lastDrawn = this.now();
    this.bar.render();
  }

  /** Clears the bar and gives the terminal back. */
  stop(): void {
    this.bar.stop();
  }
}

/**
 * A reporter writing to `stream`: a cli-progress bar per epoch when `live` (default: when the stream is a TTY), with
 * the epoch's ETA (`ETA --` until the first step is timed) and the run's, and during validation (where the trainer
 * reports it) `epoch 2/12 validating [███░░░] 1234/10000 …`; otherwise one line per epoch, with the run's ETA, and
 * within a long epoch an indented progress line every {@link StreamReporterOptions.plainEvery} seconds
 * (`  epoch 2/12 step 620/1875 loss 0.6490 acc 0.7562 36.6 img/s ETA 9m42s (run 53m)`, `  epoch 2/12 validating …`).
 * Epoch lines add the validation's time to the training's where it was reported. Lines fit the terminal's width
 * ({@link streamColumns}; 80 columns without a terminal).
 */
export function streamReporter(
  stream: NodeJS.WriteStream = process.stderr,
  live = stream.isTTY === true,
  options: StreamReporterOptions = {},
): ProgressReporter {
  const now = options.now ?? (() => performance.now());
  const plainLines = new PlainLines(now, options.plainEvery);
  const timer = new RunTimer();
  let bar: LiveBar | undefined;
  /** Whether the last epoch ended had validation; undefined before one has ended. */
  let hadValidation: boolean | undefined;
  /** The evaluation after the epochs that is showing, if any. */
  let evaluation: { what: string; display: CountProgress } | undefined;
  /** The epoch's label and the last step's figures. */
  let shown: Pick<ProgressLine, 'label' | 'loss' | 'acc' | 'rate'> = { label: '' };
  /** The line as it stands: the steps, what follows them, or the validation. */
  const line = (): ProgressLine => {
    if (timer.validating) {
      const { valDone: done, valTotal: total } = timer;
      return { label: `${shown.label} validating`, done, total, rate: timer.valPerSecond(), eta: timer.valEta(), runEta: timer.runEta() };
    }
    const steps: ProgressLine = { ...shown, done: timer.done, total: timer.steps, eta: timer.epochEta(), runEta: timer.runEta() };
    // After the last step: validation (as the last epoch had; its progress shows once the trainer reports it),
    // BatchNorm recalibration, the checkpoint.
    if (timer.done >= timer.steps) steps.status = hadValidation === true ? 'validating\u2026' : 'finishing\u2026';
    return steps;
  };
  /** Without a live bar: a progress line when plainEvery has passed since the last one (or the epoch's start). */
  const plain = (label: string): void => {
    if (live || !plainLines.due()) return;
    // Indented, so that it reads (and greps) apart from the epoch lines.
    stream.write(`${formatPlainLine({ ...line(), label: `  ${label}` })}\n`);
  };
  return {
    message: (text) => {
      stream.write(`${text}\n`);
    },
    start(epoch, epochs, steps) {
      timer.start(now(), epoch, epochs, steps);
      plainLines.restart();
      shown = { label: `epoch ${epoch}/${epochs}` };
      if (live) bar = new LiveBar(stream, line, now);
    },
    step(loss, acc, ips) {
      timer.step(now());
      shown = { ...shown, loss, acc, rate: ips };
      bar?.redraw(timer.done === timer.steps);
      if (timer.done < timer.steps) plain(`${shown.label} step`);
    },
    validate(done, total) {
      const first = !timer.validating;
      timer.validate(now(), done, total);
      bar?.redraw(first);
      if (done < total) plain(`${shown.label} validating`);
    },
    end(record) {
      timer.end(now());
      hadValidation = record.val_loss !== undefined;
      bar?.stop();
      bar = undefined;
      // A live bar shows the run's ETA; a log gets it on the epoch line.
      const extras: EpochLineExtras = { valSeconds: timer.valSeconds(), ...(live ? {} : { runEta: timer.runEtaAfter() }) };
      stream.write(`${formatEpochLine(record, timer.epochs, extras, live ? streamColumns(stream) : 80)}\n`);
    },
    evaluate(what, done, total) {
      if (evaluation?.what !== what) {
        evaluation?.display.stop();
        evaluation = { what, display: countProgress(`evaluating ${what}`, stream, live, options) };
      }
      evaluation.display.update(done, total);
      if (done >= total) {
        evaluation.display.stop();
        evaluation = undefined;
      }
    },
    stop() {
      bar?.stop();
      bar = undefined;
      // An evaluation that is showing ends too (Ctrl-C during it); a later one starts its own display.
      evaluation?.display.stop();
      evaluation = undefined;
    },
  };
}

/** A display of a count of images (an evaluation): {@link countProgress}. */
export interface CountProgress {
  /** `done` of `total` images are done; the first call starts the display. */
  update(done: number, total: number): void;
  /** Ends the display (a live bar is cleared and gives the terminal back); later updates are ignored. */
  stop(): void;
}

/**
 * Shows a count of images advancing on `stream`: a live bar when `live` (default: when the stream is a TTY),
 * `evaluating [███░░░] 1234/10000 366 img/s ETA 24s`; otherwise a plain line every
 * {@link StreamReporterOptions.plainEvery} seconds from the first update (none for a shorter count). Meant for
 * stderr, so that what a command prints on stdout stays clean.
 */
export function countProgress(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
  live = stream.isTTY === true,
  options: StreamReporterOptions = {},
): CountProgress {
  const now = options.now ?? (() => performance.now());
  const plainLines = new PlainLines(now, options.plainEvery);
  const rate = new RateWindow();
  let done = 0;
  let total = 0;
  let started = false;
  let stopped = false;
  let bar: LiveBar | undefined;
  const line = (): ProgressLine => ({ label, done, total, rate: rate.perSecond(), eta: rate.eta(total - done) });
  return {
    update(d, t) {
      if (stopped) return;
      [done, total] = [d, t];
      if (!started) {
        started = true;
        rate.reset(now(), d);
        plainLines.restart();
        if (live) bar = new LiveBar(stream, line, now);
        return;
      }
      rate.add(now(), d);
      bar?.redraw();
      if (!live && d < t && plainLines.due()) {
        stream.write(`${formatPlainLine(line())}\n`);
      }
    },
    stop() {
      stopped = true;
      bar?.stop();
      bar = undefined;
    },
  };
}

/** A reporter that prints nothing: `train({ ..., reporter: silentReporter })` trains quietly. */
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
    validate(done, total) {
      if (!closed) inner.validate?.(done, total);
    },
    evaluate(what, done, total) {
      if (!closed) inner.evaluate?.(what, done, total);
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
