/**
 * Progress display for training: a live bar per epoch (cli-progress: loss, accuracy, images/s, ETA) when the output is
 * a terminal, and one plain line per epoch otherwise (logs, CI, pipes).
 */
import cliProgress from 'cli-progress';
import type { EpochRecord } from './checkpoint.js';

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

/** The one-line summary of an epoch, as printed in plain mode and after each bar. */
export function formatEpochLine(r: EpochRecord, epochs: number): string {
  const parts = [`epoch ${r.epoch}/${epochs}`, `loss ${r.loss.toFixed(4)}`, `acc ${r.acc.toFixed(4)}`];
  if (r.val_loss !== undefined) parts.push(`val_loss ${r.val_loss.toFixed(4)}`);
  if (r.val_acc !== undefined) parts.push(`val_acc ${r.val_acc.toFixed(4)}`);
  parts.push(`${r.images_per_s.toFixed(1)} img/s`, `${r.time.toFixed(1)}s`);
  return parts.join('  ');
}

/**
 * A reporter writing to `stream`: a cli-progress bar per epoch when `live` (default: when the stream is a TTY),
 * otherwise one line per epoch.
 */
export function streamReporter(stream: NodeJS.WriteStream = process.stderr, live = stream.isTTY === true): ProgressReporter {
  let bar: cliProgress.SingleBar | undefined;
  let epochs = 0;
  return {
    message: (line) => {
      stream.write(`${line}\n`);
    },
    start(epoch, total, steps) {
      epochs = total;
      if (!live) return;
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: `epoch ${epoch}/${total} [{bar}] {value}/{total} | loss {loss} | acc {acc} | {ips} img/s | ETA {eta_formatted}`,
          barsize: 24,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(steps, 0, { loss: '-', acc: '-', ips: '-' });
    },
    step(loss, acc, ips) {
      bar?.increment(1, { loss: loss.toFixed(4), acc: acc.toFixed(4), ips: ips.toFixed(1) });
    },
    end(record) {
      bar?.stop();
      bar = undefined;
      stream.write(`${formatEpochLine(record, epochs)}\n`);
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
